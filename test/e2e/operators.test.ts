import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshots } from '../support/browser.ts';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * Named operators in Chromium: the admin token's first sign-in adds the first operator,
 * which ends the token's console session; that operator signs in with e-mail and password,
 * sets up TOTP before the console opens (QR code and key, a first code, recovery codes
 * shown once), and is named in the audit log; later sign-ins take a code or a recovery
 * code, each once; the admin token opens the admin API only. Screenshots go to
 * test-results/operators/.
 */
const ADMIN = 'e2e-operators-admin-token';
const EMAIL = 'ada@ops.example.com';
const PASSWORD = 'operator password, long';
const shoot = screenshots('operators');

let worker: RunningWorker & { mf: Awaited<ReturnType<typeof startWorker>>['mf'] };
let browser: Browser;

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: ADMIN, PROVIDER_KEYS_KEK: `k1:${randomBytes(32).toString('base64')}` });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await worker?.dispose();
});

const codeAt = (secret: string, steps: number) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate({ timestamp: Date.now() + steps * 30_000 });

async function signInByName(page: Page) {
  await page.goto(`${worker.url}/operator/login`);
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Two-factor authentication' }).first().waitFor();
}

describe('named operators, in Chromium', () => {
  let secret = '';
  let recovery: string[] = [];

  it('the admin token adds the first operator, who sets up TOTP at first sign-in and is named in the audit log', async () => {
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    await page.goto(`${worker.url}/operator/login`);
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Operators' }).click();
    await page.getByText('Add yourself as the first operator').waitFor();
    await shoot(page, 'first-operator');
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Add operator' }).click();
    // The admin token's session is over: the sign-in page now asks for a name.
    await page.waitForURL(/\/operator\/login$/);
    expect(await page.getByLabel('Admin token').count()).toBe(0);

    await signInByName(page);
    await page.getByRole('img', { name: 'QR code' }).waitFor();
    await shoot(page, 'enrol');
    secret = (await page.locator('#totp-key').textContent())!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.goto(`${worker.url}/operator`); // not in yet
    await page.waitForURL(/\/operator\/login/);
    await page.goto(`${worker.url}/operator/login/code`); // the same enrolment, shown again
    expect((await page.locator('#totp-key').textContent())!.trim()).toBe(secret);
    await page.getByLabel('Authentication code').fill(codeAt(secret, 0));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('you are signed in').waitFor();
    recovery = (await page.getByRole('list', { name: 'Recovery codes' }).locator('code').allTextContents()).map((s) => s.trim());
    expect(recovery).toHaveLength(10);
    await shoot(page, 'recovery-codes');
    await page.getByRole('link', { name: 'Continue to the console' }).click();
    await page.getByRole('link', { name: 'Operators' }).click();
    await page.getByRole('cell', { name: `${EMAIL} (you)` }).waitFor();
    await shoot(page, 'operators');

    // An action is signed with the operator's name.
    await page.getByLabel('Email').fill('bob@ops.example.com');
    await page.getByLabel('Password').fill('another operator password');
    await page.getByRole('button', { name: 'Add operator' }).click();
    await page.getByText('bob@ops.example.com can sign in now.').waitFor();
    const audit = (await worker.admin('GET', '/audit?limit=10')).data as Array<{ actor: string; action: string }>;
    expect(audit.find((a) => a.action === 'operator.add' && a.actor === `operator:${EMAIL}`)).toBeTruthy();
    expect(audit.find((a) => a.action === 'operator.add' && a.actor.startsWith('console:'))).toBeTruthy(); // the token's session added Ada
    await page.getByRole('button', { name: 'Sign out' }).click();
  });

  it('signs in with a code, then with a recovery code, each once; the admin token opens only the API', async () => {
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    await signInByName(page);
    await shoot(page, 'code');
    const code = codeAt(secret, 1);
    await page.getByLabel('Authentication code').fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signInByName(page);
    await page.getByLabel('Authentication code').fill(code); // used once already
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('That code is not right.').waitFor();

    await page.getByLabel('Authentication code').fill(recovery[0]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signInByName(page);
    await page.getByLabel('Authentication code').fill(recovery[0]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('That code is not right.').waitFor();

    const byToken = await fetch(`${worker.url}/operator/login`, {
      method: 'POST', redirect: 'manual', headers: { origin: worker.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: ADMIN }),
    });
    expect(byToken.status).toBe(401);
    expect(byToken.headers.get('set-cookie') ?? '').not.toContain('tg_operator=');
    const listed = (await worker.admin('GET', '/operators')).data as Array<{ email: string; two_factor: boolean }>;
    expect(listed.map((o) => [o.email, o.two_factor])).toEqual([[EMAIL, true], ['bob@ops.example.com', false]]);
  });

  it('keeps nothing in clear and throttles every step: passwords, codes', async () => {
    const db = await worker.mf.getD1Database('DB');
    const tables = ['operators', 'second_factors', 'recovery_codes', 'login_challenges', 'sessions', 'audit_log'];
    const dump = JSON.stringify(await Promise.all(tables.map(async (t) => (await db.prepare(`SELECT * FROM ${t}`).all()).results)));
    for (const s of [PASSWORD, secret, ...recovery]) expect(dump).not.toContain(s);
    const post = (fields: Record<string, string>, cookie?: string, path = '/operator/login') => fetch(`${worker.url}${path}`, {
      method: 'POST', redirect: 'manual', body: new URLSearchParams(fields),
      headers: { origin: worker.url, 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': '198.51.100.200', ...(cookie ? { cookie } : {}) },
    });
    const wrong: number[] = [];
    for (let i = 0; i < 11; i++) wrong.push((await post({ email: 'bob@ops.example.com', password: `guess ${i}` })).status);
    expect(wrong).toEqual([...Array(10).fill(401), 429]);
  });
});
