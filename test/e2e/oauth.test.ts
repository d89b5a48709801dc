import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, screenshots } from '../support/browser.ts';
import { FAKE_CLIENT, startFakeIdentity } from '../support/fake-identity.ts';
import { freePort } from '../support/ports.ts';
import { startWorker } from '../support/worker-process.ts';

/**
 * Sign-in with GitHub and an OpenID Connect provider, in Chromium against a fake of each
 * (test/support/fake-identity.ts), by accessible names: a first sign-in makes a verified
 * account with the trial credit once; an existing account is linked only through the same
 * verified address (and an address never verified loses the password whoever signed up
 * with it chose); a state that does not match and a replayed code are refused; Settings
 * links and unlinks, never the last way in; two-factor applies to provider sign-ins too.
 * Screenshots go to test-results/oauth/.
 */
const ADMIN = 'e2e-oauth-admin';
const shoot = screenshots('oauth');

let worker: Awaited<ReturnType<typeof startWorker>>;
let idp: Awaited<ReturnType<typeof startFakeIdentity>>;
let browser: Browser;
/** Every secret the tests see (passwords, cookies, codes, keys, link tokens): none may be in D1 or the log in clear. */
const secrets = new Set<string>([FAKE_CLIENT.secret]);
const log: string[] = [];

beforeAll(async () => {
  idp = await startFakeIdentity();
  const port = await freePort();
  worker = await startWorker({
    ADMIN_TOKEN: ADMIN, SIGNUP_CREDIT: '3', SITE_NAME: 'Acme AI', PUBLIC_URL: `http://127.0.0.1:${port}`,
    PROVIDER_KEYS_KEK: `k1:${randomBytes(32).toString('base64')}`,
    RESEND_API_KEY: 're_e2e_oauth', EMAIL_API_BASE: inject('mailUrl'), EMAIL_FROM: 'Acme AI <hello@shop.example.com>',
    GITHUB_CLIENT_ID: FAKE_CLIENT.id, GITHUB_CLIENT_SECRET: FAKE_CLIENT.secret, GITHUB_URL: idp.url,
    OIDC_ISSUER: `${idp.url}/oidc`, OIDC_CLIENT_ID: FAKE_CLIENT.id, OIDC_CLIENT_SECRET: FAKE_CLIENT.secret, OIDC_NAME: 'Acme SSO',
  }, { port, onLog: (text) => log.push(text) });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await worker?.dispose();
  await new Promise<void>((r) => idp?.server.close(() => r()));
});

const contexts: Array<Awaited<ReturnType<Browser['newContext']>>> = [];
const newPage = async (locale = 'en-US') => {
  const context = await browser.newContext({ locale });
  contexts.push(context);
  return context.newPage();
};
const balance = async (page: Page) => (await page.getByLabel(/Balance|余额/).textContent())?.trim();
const accountOf = async (email: string) => (await worker.admin('GET', `/accounts?email=${encodeURIComponent(email)}`)).data[0];
const ledger = async (id: string) => ((await worker.admin('GET', `/accounts/${id}/ledger`)).data as Array<{ kind: string }>).map((r) => r.kind);

/** Through the provider's consent page and back: the callback URL the browser was sent to. */
async function viaProvider(page: Page, button: string): Promise<string> {
  let callback = '';
  page.on('request', (r) => { if (r.url().includes('/callback?')) callback = r.url(); });
  await page.getByRole('link', { name: button }).click();
  await page.getByRole('button', { name: 'Authorize' }).click();
  await page.waitForURL((u) => u.origin === worker.url);
  return callback;
}

describe('sign-in with a provider, in Chromium', () => {
  it('GitHub: a first sign-in makes a verified account with the trial credit once; a replayed callback or code is refused', async () => {
    const email = `gh-${Date.now()}@example.com`;
    await idp.setUser({ sub: String(Date.now()), email, email_verified: true });
    const page = await newPage();
    await page.goto(`${worker.url}/login`);
    await shoot(page, 'login-buttons');
    const callback = await viaProvider(page, 'Continue with GitHub');
    await page.waitForURL(/\/console$/);
    expect(await balance(page)).toBe('$3.00');
    expect(await page.getByText('Verify your email address').count()).toBe(0);
    const account = await accountOf(email);
    expect(account.email_verified).toBe(true);

    // The same callback again: its state cookie is gone, so nothing happens.
    await page.goto(callback);
    await page.getByText('The sign-in could not be completed').waitFor();
    // A fresh flow (a good state) carrying the spent code: the provider refuses it, and so do we.
    await page.goto(`${worker.url}/auth/github/start`);
    const state = new URL(page.url()).searchParams.get('state')!;
    const replay = new URL(callback);
    replay.searchParams.set('state', state);
    await page.goto(replay.toString());
    await page.getByText('The sign-in could not be completed').waitFor();
    await shoot(page, 'replay-refused');
    // A second sign-in finds the same account: no second grant.
    const again = await newPage();
    await again.goto(`${worker.url}/login`);
    await viaProvider(again, 'Continue with GitHub');
    await again.waitForURL(/\/console$/);
    expect(await ledger(account.id)).toEqual(['signup']);
  });

  it('OIDC: a state that does not match is refused; a provider that vouches for no verified address opens nothing', async () => {
    const page = await newPage();
    await idp.setUser({ sub: `u-${Date.now()}`, email: `unverified-${Date.now()}@example.com`, email_verified: false });
    await page.goto(`${worker.url}/login`);
    await viaProvider(page, 'Continue with Acme SSO');
    await page.getByText('Acme SSO did not confirm a verified email address').waitFor();

    await page.goto(`${worker.url}/auth/oidc/start`);
    await page.goto(`${worker.url}/auth/oidc/callback?code=forged&state=not-the-state`);
    await page.getByText('The sign-in could not be completed').waitFor();
  });

  it('中文: an account signed up with a password is linked by the same verified address; an address never verified loses the password chosen for it', async () => {
    const email = `zh-${Date.now()}@example.com`;
    // Someone signs up with the address and never verifies it.
    const squatter = await newPage('zh-CN');
    await squatter.goto(`${worker.url}/signup`);
    await squatter.getByLabel('邮箱').fill(email);
    await squatter.getByLabel('密码').fill('squatter password long');
    secrets.add('squatter password long');
    await squatter.getByRole('button', { name: '创建账户' }).click();
    await squatter.getByText('链接已发出').waitFor();
    await expect.poll(async () => {
      const [mail] = await (await fetch(`${inject('mailUrl')}/__mails?to=${encodeURIComponent(email)}`)).json() as Array<{ text: string }>;
      const token = /token=([\w-]+)/.exec(mail?.text ?? '')?.[1];
      if (token) secrets.add(token);
      return token;
    }).toBeTruthy();

    await idp.setUser({ sub: `zh-${Date.now()}`, email, email_verified: true });
    const owner = await newPage('zh-CN');
    await owner.goto(`${worker.url}/login`);
    await viaProvider(owner, '使用 Acme SSO 继续');
    await owner.waitForURL(/\/console$/);
    expect(await balance(owner)).toBe('$3.00');
    await shoot(owner, 'zh-linked');
    const login = await fetch(`${worker.url}/login`, {
      method: 'POST', redirect: 'manual', headers: { origin: worker.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email, password: 'squatter password long' }),
    });
    expect(login.status).toBe(401);
    // Settings: the provider is listed; unlinking the only way in is refused.
    await owner.getByRole('link', { name: '设置' }).click();
    await owner.getByText('您没有设置密码').waitFor();
    await shoot(owner, 'zh-settings');
    await owner.getByRole('button', { name: '取消关联 Acme SSO' }).click();
    await owner.getByText('这是您唯一的登录方式').waitFor();
  });

  it('Settings links GitHub to a password account and unlinks it; two-factor applies to provider sign-ins', async () => {
    const email = `link-${Date.now()}@example.com`;
    await worker.admin('POST', '/accounts', { email });
    await worker.admin('PATCH', `/accounts/${(await accountOf(email)).id}`, { password: 'a password for linking' });
    const page = await newPage();
    await page.goto(`${worker.url}/login`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('a password for linking');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'Settings' }).click();
    await idp.setUser({ sub: String(Date.now() + 7), email: `other-${Date.now()}@example.com`, email_verified: true });
    await viaProvider(page, 'Link GitHub');
    await page.getByText('GitHub is linked').waitFor();
    await shoot(page, 'linked');

    // Two-factor on; a GitHub sign-in then asks for the code.
    await page.getByRole('button', { name: 'Turn on two-factor' }).click();
    const secret = (await page.locator('#totp-key').textContent())!.trim();
    secrets.add(secret);
    const { Secret, TOTP } = await import('otpauth');
    const code = (steps: number) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + steps * 30_000 });
    await page.getByLabel('Authentication code').fill(code(0));
    await page.getByRole('button', { name: 'Confirm' }).click();
    const recovery = (await page.getByRole('list', { name: 'Recovery codes' }).locator('code').allTextContents()).map((c) => c.trim());
    for (const c of recovery) secrets.add(c);
    await shoot(page, 'two-factor-on');

    const other = await newPage();
    await other.goto(`${worker.url}/login`);
    await viaProvider(other, 'Continue with GitHub');
    await other.waitForURL(/\/login\/code$/);
    await other.getByLabel('Authentication code').fill(code(1));
    await other.getByRole('button', { name: 'Verify' }).click();
    await other.waitForURL(/\/console$/);

    // The password and a recovery code, in place of the authenticator.
    const third = await newPage();
    await third.goto(`${worker.url}/login`);
    await third.getByLabel('Email').fill(email);
    await third.getByLabel('Password').fill('a password for linking');
    await third.getByRole('button', { name: 'Log in' }).click();
    await third.getByLabel('Authentication code').fill(recovery[0]!);
    await shoot(third, 'recovery-code');
    await third.getByRole('button', { name: 'Verify' }).click();
    await third.waitForURL(/\/console$/);

    await page.goto(`${worker.url}/console/settings`);
    await page.getByRole('button', { name: 'Unlink GitHub' }).click();
    await page.getByText('Unlinked.').waitFor();
  });

  it('says the same whatever accounts exist: a provider with no verified address, for a taken address and a free one', async () => {
    const taken = `taken-${Date.now()}@example.com`;
    await worker.admin('POST', '/accounts', { email: taken });
    const answers: string[] = [];
    for (const email of [taken, `free-${Date.now()}@example.com`]) {
      await idp.setUser({ sub: `n-${email}`, email, email_verified: false });
      const page = await newPage();
      await page.goto(`${worker.url}/login`);
      await viaProvider(page, 'Continue with Acme SSO');
      answers.push(await page.locator('main').innerText());
    }
    expect(answers[0]).toContain('did not confirm a verified email address');
    expect(answers[0]).toBe(answers[1]);
  });

  it('keeps no secret in clear: a scan of every D1 table, and of the log', async () => {
    secrets.add('a password for linking');
    for (const context of contexts) for (const cookie of await context.cookies()) if (cookie.value.length >= 20) secrets.add(cookie.value);
    expect(secrets.size).toBeGreaterThan(12);
    const db = await worker.mf.getD1Database('DB');
    const tables = (await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all<{ name: string }>()).results;
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['sessions', 'login_challenges', 'second_factors', 'recovery_codes', 'oauth_identities', 'email_links', 'accounts']));
    const dump = JSON.stringify(await Promise.all(tables.map(async ({ name }) => (await db.prepare(`SELECT * FROM "${name}"`).all()).results)));
    const logged = log.join('');
    for (const s of secrets) {
      expect(dump.includes(s), `D1 holds a secret in clear: ${s.slice(0, 6)}…`).toBe(false);
      expect(logged.includes(s), `the log holds a secret: ${s.slice(0, 6)}…`).toBe(false);
    }
  });

  it('throttles failed callbacks per source: after 10 (with the ones above), even a good one waits', async () => {
    const forged = () => fetch(`${worker.url}/auth/oidc/callback?code=forged&state=forged`, { redirect: 'manual' });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await forged()).status);
    const first = statuses.indexOf(429);
    expect(first).toBeGreaterThan(0);
    expect(statuses.slice(0, first).every((s) => s === 400)).toBe(true);
    expect(statuses.slice(first).every((s) => s === 429)).toBe(true);
    const page = await newPage();
    await page.goto(`${worker.url}/login`);
    await viaProvider(page, 'Continue with GitHub');
    await page.getByText('Too many').waitFor();
  });
});
