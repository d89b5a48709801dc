import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, screenshots } from '../support/browser.ts';
import { payLastCheckout, startFakeStripe } from '../support/fake-stripe.ts';
import { freePort } from '../support/ports.ts';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * The customer console in real Chromium (Debian's chromium, driven by playwright-core)
 * against the whole worker, driven only by the accessible names DESIGN.md fixes: sign up →
 * trial credit → create a key → call the API → the call in the logs and the chart → top
 * up through the fake Stripe and its webhook → redeem a code → revoke the key → log out.
 * Screenshots of every page, at phone and desktop widths, go to test-results/console/.
 */
const ADMIN = 'e2e-console-admin';
const WEBHOOK_SECRET = 'whsec_e2e_console';
const shoot = screenshots('console');

let worker: RunningWorker;
let stripe: { close: (cb: () => void) => void };
let stripeUrl: string;
let browser: Browser;

const admin = (method: string, path: string, body?: unknown) => worker.admin(method, path, body);

const balanceText = async (page: Page) => (await page.getByLabel('Balance').first().textContent())?.trim();

beforeAll(async () => {
  const stripePort = await freePort();
  stripeUrl = `http://127.0.0.1:${stripePort}`;
  stripe = await startFakeStripe(stripePort);
  worker = await startWorker({
    ADMIN_TOKEN: ADMIN, STRIPE_SECRET_KEY: 'sk_test_e2e_console', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: stripeUrl,
    SIGNUP_CREDIT: '1', FLUSH_DELAY_SECONDS: '1', SITE_NAME: 'Acme AI', CONTACT: 'support@acme.example',
    RESEND_API_KEY: 're_e2e_console', EMAIL_API_BASE: inject('mailUrl'),
  });
  await admin('PUT', '/models/echo', { input_price: 1, output_price: 2 });
  await admin('PUT', '/channels/echo', { kind: 'echo', base_url: 'http://echo.invalid', api_key_secret: 'NONE', models: { echo: 'echo' } });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await worker?.dispose();
  await new Promise<void>((r) => (stripe ? stripe.close(() => r()) : r()));
});

describe('the customer console in Chromium', () => {
  it('sign up → key → API call → logs and chart → top-up → redemption → revoke → log out', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: worker.url });
    // Stripe's hosted checkout page is not reachable offline: the redirect to it is the end of our part.
    await context.route('https://checkout.stripe.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Stripe Checkout</h1>' }));
    const page = await context.newPage();
    const email = `shopper-${Date.now()}@example.com`;

    await page.goto(`${worker.url}/`);
    await expect.poll(() => page.title()).toContain('Acme AI');
    await shoot(page, 'home');
    await page.getByRole('link', { name: 'Pricing' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'echo' }).count()).toBe(1);
    await shoot(page, 'pricing');
    await page.getByRole('link', { name: 'Docs' }).click();
    // PUBLIC_URL is not set for this worker, so the docs show its default.
    await expect.poll(async () => (await page.content()).includes("http://localhost:8787/v1")).toBe(true);
    await shoot(page, 'docs');

    await page.goto(`${worker.url}/signup`);
    await shoot(page, 'signup');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('a good long password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText(`A link to verify ${email} is on its way`).waitFor();
    await shoot(page, 'signup-check-mail');
    // Signed up, not signed in (the answer is the same for an address that has an account): log in.
    await page.getByRole('link', { name: 'Log in' }).first().click();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('a good long password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/console$/);
    expect(await balanceText(page)).toBe('$0.00'); // the trial credit waits for the address
    await page.getByText(`we sent a link to ${email}`).waitFor();
    await shoot(page, 'unverified');
    // The verification link, from the fake e-mail provider (PUBLIC_URL is unset: it names the default origin).
    const mails = await (await fetch(`${inject('mailUrl')}/__mails?to=${encodeURIComponent(email)}`)).json() as Array<{ subject: string; text: string }>;
    expect(mails.map((m) => m.subject)).toEqual(['Verify your email for Acme AI']);
    await page.goto(`${worker.url}${/http:\/\/localhost:8787(\/verify\?token=[\w-]+)/.exec(mails[0]!.text)![1]}`);
    await page.getByText('your trial credit of $1 is on your balance').waitFor();
    await page.getByRole('link', { name: 'Dashboard' }).first().click();
    expect(await balanceText(page)).toBe('$1.00');

    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name').fill('laptop');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.locator('#new-key').textContent())!.trim();
    expect(key).toMatch(/^sk-[A-Za-z0-9_-]{43}$/);
    await page.getByRole('button', { name: 'Copy' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
    await shoot(page, 'keys-created');

    const chat = () => fetch(`${worker.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'Hello from the browser test' }] }),
    });
    const res = await chat();
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    const usage = (await (await fetch(`${worker.url}/v1/usage?limit=1`, { headers: { authorization: `Bearer ${key}` } })).json()) as any;
    expect(usage.data[0].request_id).toBe(requestId);

    await page.getByRole('link', { name: 'Logs' }).click();
    const table = page.getByRole('table');
    for (const header of ['Time', 'Model', 'Key', 'Input tokens', 'Output tokens', 'Cost', 'Status']) {
      expect(await table.getByRole('columnheader', { name: header, exact: true }).count(), header).toBe(1);
    }
    const row = table.getByRole('row').nth(1);
    expect(await row.getByRole('cell').nth(1).textContent()).toBe('echo');
    expect(await row.getByRole('cell').nth(2).textContent()).toBe('laptop');
    expect(await row.getByRole('cell').nth(6).textContent()).toBe('success');
    await shoot(page, 'logs');

    // The flush (FLUSH_DELAY_SECONDS=1) brings the call into the daily totals the chart reads.
    await page.getByRole('link', { name: 'Dashboard' }).click();
    const chart = page.getByRole('img', { name: 'Usage by day' });
    await expect.poll(async () => { await page.reload(); return chart.locator('rect').count(); }, { timeout: 10_000 }).toBeGreaterThan(0);
    const cost = Number(usage.data[0].cost);
    expect(await balanceText(page)).toBe(`$${(1 - cost).toFixed(6).replace(/0{1,4}$/, '')}`);
    await shoot(page, 'dashboard');

    await page.getByRole('link', { name: 'Wallet' }).click();
    await page.getByLabel('Amount').fill('10');
    await page.getByRole('button', { name: 'Top up' }).click();
    await page.waitForURL(/^https:\/\/checkout\.stripe\.com\//);
    expect((await payLastCheckout(stripeUrl, worker.url, WEBHOOK_SECRET)).status).toBe(200);
    await page.goto(`${worker.url}/console/wallet`);
    expect(await balanceText(page)).toBe(`$${(11 - cost).toFixed(6).replace(/0{1,4}$/, '')}`);

    const [code] = (await admin('POST', '/redemption-codes', { count: 1, amount: 5 })).data;
    await page.getByLabel('Redemption code').fill(code.code);
    await page.getByRole('button', { name: 'Redeem' }).click();
    expect(await page.getByRole('status').filter({ hasText: 'Redeemed' }).textContent()).toContain('$5.00');
    expect(await balanceText(page)).toBe(`$${(16 - cost).toFixed(6).replace(/0{1,4}$/, '')}`);
    const kinds = await page.getByRole('table').getByRole('row').allTextContents();
    for (const kind of ['redemption', 'topup', 'settlement', 'signup']) expect(kinds.join('\n')).toContain(kind);
    await shoot(page, 'wallet');

    await page.getByRole('link', { name: 'API keys' }).click();
    expect(await page.content()).not.toContain(key);
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.waitForURL(/\/console\/keys$/);
    expect((await chat()).status).toBe(401);
    await shoot(page, 'keys-revoked');

    await page.getByRole('link', { name: 'Settings' }).click();
    await shoot(page, 'settings');
    await page.getByRole('link', { name: '中文' }).click();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('设置');
    await shoot(page, 'settings-zh');
    await page.getByRole('link', { name: 'English' }).click();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${worker.url}/`);
    await page.goto(`${worker.url}/console`);
    await page.waitForURL(/\/login/);
    await shoot(page, 'login');
    await context.close();
  });
});

describe('Turnstile on sign-up', () => {
  it('is required when configured, and verified server-side at TURNSTILE_VERIFY_URL', async () => {
    const { createServer: createHttpServer } = await import('node:http');
    const seen: string[] = [];
    const verifier = createHttpServer(async (req, res) => {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      seen.push(raw);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ success: raw.includes('good-token') && raw.includes('turnstile-secret') }));
    });
    await new Promise<void>((r) => verifier.listen(0, '127.0.0.1', r));
    const verifyUrl = `http://127.0.0.1:${(verifier.address() as { port: number }).port}/siteverify`;
    const gated = await startWorker({ TURNSTILE_SITE_KEY: 'site-key-1', TURNSTILE_SECRET_KEY: 'turnstile-secret', TURNSTILE_VERIFY_URL: verifyUrl });
    try {
      const signup = (fields: Record<string, string>) => fetch(`${gated.url}/signup`, {
        method: 'POST', redirect: 'manual', body: new URLSearchParams(fields),
        headers: { origin: gated.url, 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(await (await fetch(`${gated.url}/signup`)).text()).toContain('data-sitekey="site-key-1"');
      const email = `gated-${Date.now()}@example.com`;
      expect((await signup({ email, password: 'long enough password' })).status).toBe(403);
      expect((await signup({ email, password: 'long enough password', 'cf-turnstile-response': 'bad-token' })).status).toBe(403);
      expect((await signup({ email, password: 'long enough password', 'cf-turnstile-response': 'good-token' })).status).toBe(200);
      expect(seen).toHaveLength(2);
    } finally {
      await gated.dispose();
      await new Promise<void>((r) => verifier.close(() => r()));
    }
  });
});
