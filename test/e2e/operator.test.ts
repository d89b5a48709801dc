import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, screenshots } from '../support/browser.ts';
import { payLastCheckout, startFakeStripe } from '../support/fake-stripe.ts';
import { freePort } from '../support/ports.ts';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * The operator console in real Chromium against the whole worker, driven by accessible
 * names: sign in with the admin token → find an account → adjust its credit (the ledger
 * shows it) → suspend it (its key answers 403) and resume → edit a price (the next request
 * is charged at it) → test a channel against the fake upstream → create redemption codes
 * and redeem one through the API → the overview's figures match what the test did → filter
 * usage → sign out. Screenshots of every page go to test-results/operator/.
 */
const ADMIN = 'e2e-operator-admin-token';
const WEBHOOK_SECRET = 'whsec_e2e_operator';
const UPSTREAM_KEY = 'sk-upstream-e2e-operator-0123456789';
// Recorded usage of this fixture: 16 input and 363 output tokens.
const FIXTURE = 'openai/chat-nonstream-gpt-4.1-nano.json';
const shoot = screenshots('operator');

let worker: RunningWorker;
let stripe: { close: (cb: () => void) => void };
let stripeUrl: string;
let browser: Browser;

const admin = (method: string, path: string, body?: unknown) => worker.admin(method, path, body);

beforeAll(async () => {
  const stripePort = await freePort();
  stripeUrl = `http://127.0.0.1:${stripePort}`;
  stripe = await startFakeStripe(stripePort);
  worker = await startWorker({
    ADMIN_TOKEN: ADMIN, STRIPE_SECRET_KEY: 'sk_test_e2e_operator', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: stripeUrl,
    FLUSH_DELAY_SECONDS: '1', FAKE_UPSTREAM_KEY: UPSTREAM_KEY,
  });
  const upstream = inject('upstreamUrl');
  await admin('PUT', '/models/nano', { input_price: 1, output_price: 2 });
  await admin('PUT', '/models/flaky', { input_price: 1, output_price: 2 });
  await admin('PUT', '/channels/fake-openai', {
    kind: 'openai', base_url: `${upstream}/o:id=operator/${FIXTURE}`, api_key_secret: 'FAKE_UPSTREAM_KEY', models: { nano: 'gpt-4.1-nano' },
  });
  await admin('PUT', '/channels/failing', {
    kind: 'openai', base_url: `${upstream}/o:status=500/${FIXTURE}`, api_key_secret: 'FAKE_UPSTREAM_KEY', models: { flaky: 'gpt-4.1-nano' },
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await worker?.dispose();
  await new Promise<void>((r) => (stripe ? stripe.close(() => r()) : r()));
});

const stat = async (page: Page, name: string) => (await page.getByRole('region', { name }).locator('.value').textContent())?.trim();
const balance = async (page: Page) => (await page.getByLabel('Balance').textContent())?.trim();
const dollars = (micros: number) => `$${(micros / 1e6).toFixed(6).replace(/0{1,4}$/, '')}`;

describe('the operator console in Chromium', () => {
  it('sign in → account → credit → suspend → price → channel test → codes → overview → usage → sign out', async () => {
    const email = `reseller-customer-${Date.now()}@example.com`;
    const account = await admin('POST', '/accounts', { email, credit: 1 });
    const { key } = await admin('POST', `/accounts/${account.id}/keys`, { name: 'prod' });
    const call = (model: string) => fetch(`${worker.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Invent a holiday' }] }),
    });
    const lastUsage = async () => ((await (await fetch(`${worker.url}/v1/usage?limit=1`, { headers: { authorization: `Bearer ${key}` } })).json()) as any).data[0];

    const context = await browser.newContext({ locale: 'en-US' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: worker.url });
    const page = await context.newPage();

    // Sign-in: a wrong token is refused; the right one becomes a session cookie, never stored itself.
    await page.goto(`${worker.url}/operator/accounts`);
    await page.waitForURL(/\/operator\/login\?next=/);
    await shoot(page, 'signin');
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.getByRole('alert').textContent()).toContain('That is not the admin token.');
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/operator\/accounts$/);
    const cookies = await context.cookies();
    expect(cookies.map((k) => k.name)).toEqual(['tg_operator']);
    expect(cookies[0]!.httpOnly).toBe(true);
    expect(JSON.stringify(cookies)).not.toContain(ADMIN);
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)).not.toContain(ADMIN);

    // Find the account and adjust its credit: the ledger shows the adjustment with its reason.
    await page.getByRole('link', { name: 'Accounts' }).click();
    await page.getByLabel('Search').fill(email.slice(0, 20));
    await page.getByRole('button', { name: 'Search' }).click();
    await shoot(page, 'accounts');
    await page.getByRole('link', { name: email }).click();
    expect(await balance(page)).toBe('$1.00');
    await page.getByLabel('Amount').fill('2.5');
    await page.getByLabel('Reason').fill('goodwill for an outage');
    await page.getByRole('button', { name: 'Adjust credit' }).click();
    expect(await page.getByRole('status').filter({ hasText: 'Credit adjusted.' }).count()).toBe(1);
    expect(await balance(page)).toBe('$3.50');
    const adjustment = page.getByRole('table', { name: 'Ledger' }).getByRole('row').filter({ hasText: 'goodwill for an outage' });
    expect(await adjustment.textContent()).toMatch(/adjustment\s*\$2\.50\s*\$3\.50/);
    await shoot(page, 'account');

    // Suspended, its key answers 403 account_suspended; resumed, it works again (at the old price).
    await page.getByRole('button', { name: 'Suspend' }).click();
    expect(await page.getByRole('status').filter({ hasText: 'Account suspended' }).count()).toBe(1);
    const refused = await call('nano');
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as any).error.code).toBe('account_suspended');
    await shoot(page, 'account-suspended');
    await page.getByRole('button', { name: 'Resume' }).click();
    expect(await page.getByRole('status').filter({ hasText: 'Account resumed.' }).count()).toBe(1);
    expect((await call('nano')).status).toBe(200);
    const first = await lastUsage();
    expect(first.cost).toBe((16 * 1 + 363 * 2) / 1e6);

    // A new price: the very next request is charged at it.
    await page.getByRole('link', { name: 'Models' }).click();
    await page.getByRole('link', { name: 'Edit nano' }).click();
    await page.getByLabel('Input price', { exact: true }).fill('3');
    await page.getByLabel('Output price', { exact: true }).fill('12.5');
    await page.getByRole('button', { name: 'Save prices' }).click();
    expect(await page.getByRole('status').textContent()).toContain('nano');
    await shoot(page, 'models');
    expect((await call('nano')).status).toBe(200);
    const second = await lastUsage();
    expect(second.cost).toBe(Math.ceil(16 * 3 + 363 * 12.5) / 1e6); // whole µ$, rounded up
    expect((await call('flaky')).status).toBe(502);

    // Test the channel: one tiny request to the fake upstream, its status, latency and usage shown.
    await page.getByRole('link', { name: 'Channels' }).click();
    await page.getByRole('button', { name: 'Test fake-openai' }).click();
    const result = (await page.getByRole('status').filter({ hasText: 'Test of fake-openai' }).textContent())!;
    expect(result).toMatch(/answered · status 200 · \d+ ms · 16 input tokens, 363 output tokens/);
    const received = (await (await fetch(`${inject('upstreamUrl')}/__requests?id=operator`)).json()) as Array<{ headers: Record<string, string>; body: any }>;
    // The cap in the field gpt-4.1's family takes (proxy/output-cap.ts), as for customer traffic.
    expect(received.at(-1)!.body).toMatchObject({ model: 'gpt-4.1-nano', max_tokens: 16, messages: [{ role: 'user', content: 'Say OK.' }] });
    expect(received.at(-1)!.body.max_completion_tokens).toBeUndefined();
    expect(received.at(-1)!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(await page.content()).not.toContain(UPSTREAM_KEY);
    await shoot(page, 'channels');

    // A batch of codes, shown once with a CSV; one is redeemed through the API.
    await page.getByRole('link', { name: 'Redemption codes' }).click();
    await page.getByLabel('Count').fill('3');
    await page.getByLabel('Amount').fill('5');
    await page.getByLabel('Note').fill('e2e batch');
    await page.getByRole('button', { name: 'Create codes' }).click();
    const codes = (await page.getByLabel('New codes').textContent())!.trim().split('\n');
    expect(codes).toHaveLength(3);
    const csv = decodeURIComponent((await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href'))!.split(',').slice(1).join(','));
    for (const code of codes) expect(csv).toContain(code);
    await page.getByRole('button', { name: 'Copy' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(codes.join('\n'));
    await shoot(page, 'codes-created');
    const redeemed = await fetch(`${worker.url}/v1/billing/redeem`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ code: codes[0] }),
    });
    expect(((await redeemed.json()) as any).credited).toBe(5);
    await page.getByRole('link', { name: 'Redemption codes' }).click();
    expect(await page.content()).not.toContain(codes[1]!);
    const states = await page.getByRole('row').filter({ hasText: 'e2e batch' }).allTextContents();
    expect(states.filter((s) => s.includes('redeemed'))).toHaveLength(1);
    expect(states.filter((s) => s.includes('unused'))).toHaveLength(2);

    // A $10 Stripe top-up: revenue.
    const checkout = await fetch(`${worker.url}/v1/billing/checkout`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ amount: 10 }),
    });
    expect(checkout.status).toBe(200);
    expect((await payLastCheckout(stripeUrl, worker.url, WEBHOOK_SECRET)).status).toBe(200);

    // The overview, once the account's object has flushed: three requests (one failed), their
    // tokens and spend, the top-up as revenue, and the operator's changes.
    const spend = Math.round(first.cost * 1e6) + Math.round(second.cost * 1e6);
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('link', { name: '24 hours' }).click();
    await expect.poll(async () => { await page.reload(); return stat(page, 'Requests'); }, { timeout: 15_000 }).toBe('3');
    expect(await stat(page, 'Spend')).toBe(dollars(spend));
    expect(await stat(page, 'Tokens')).toBe((2 * (16 + 363)).toLocaleString('en-US'));
    expect(await stat(page, 'Error rate')).toBe('33.3%');
    expect(await stat(page, 'Revenue')).toBe('$10.00');
    const byModel = page.getByRole('table', { name: 'By model' });
    expect(await byModel.getByRole('row').filter({ hasText: 'nano' }).textContent()).toContain(dollars(spend));
    expect(await byModel.getByRole('row').filter({ hasText: 'flaky' }).textContent()).toContain('100.0%');
    const byChannel = page.getByRole('table', { name: 'By channel' });
    expect(await byChannel.getByRole('row').filter({ hasText: 'fake-openai' }).textContent()).toContain('2');
    expect(await page.getByRole('img', { name: 'Spend by hour' }).locator('rect').count()).toBeGreaterThan(0);
    const changes = (await page.getByRole('table').filter({ hasText: 'Who' }).textContent())!;
    for (const action of ['account.credit', 'account.update', 'model.put', 'channel.test', 'codes.create', 'account.create', 'key.create']) expect(changes).toContain(action);
    expect(changes).toMatch(/console:[0-9a-f]{12}/);
    expect(changes).toContain('admin-api');
    await shoot(page, 'overview');

    // Usage across accounts, filtered, and its CSV.
    await page.getByRole('link', { name: 'Usage' }).click();
    await page.getByLabel('Account').fill(email);
    await page.getByLabel('Model').fill('nano');
    await page.getByRole('button', { name: 'Filter' }).click();
    const rows = page.getByRole('table').getByRole('row');
    await expect.poll(() => rows.count()).toBe(3); // the header and two requests
    expect(await page.content()).not.toContain('flaky');
    const exported = await (await context.request.get(new URL((await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href'))!, worker.url).toString())).text();
    expect(exported.trim().split('\r\n')).toHaveLength(3);
    await shoot(page, 'usage');

    // Signed out, the console is closed again.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.goto(`${worker.url}/operator`);
    await page.waitForURL(/\/operator\/login/);
    await context.close();
  });
});
