import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, screenshots } from '../support/browser.ts';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * Verified e-mail and password reset in real Chromium, by accessible names, in Chinese and
 * in English, with the messages caught by the fake e-mail provider: sign-up → the mailed
 * link → the trial credit, once (the link opened twice grants nothing more) → keys; and
 * "Forgot password" → the mailed link → a new password, with the old sessions signed out.
 */
const shoot = screenshots('identity');
let worker: RunningWorker;
let browser: Browser;

const mailedLink = async (to: string, path: string) => {
  for (let i = 0; i < 100; i++) {
    const mails = (await (await fetch(`${inject('mailUrl')}/__mails?to=${encodeURIComponent(to)}`)).json()) as Array<{ text: string }>;
    const link = new RegExp(`https://shop\\.example\\.com(${path}\\?token=[\\w-]+)`).exec(mails.at(-1)?.text ?? '')?.[1];
    if (link) return `${worker.url}${link}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${path} link mailed to ${to}`);
};
const balance = async (page: Page) => (await page.getByLabel(/Balance|余额/).textContent())?.trim();

beforeAll(async () => {
  worker = await startWorker({
    ADMIN_TOKEN: 'e2e-identity-admin', SIGNUP_CREDIT: '2', SITE_NAME: 'Acme AI', PUBLIC_URL: 'https://shop.example.com',
    RESEND_API_KEY: 're_e2e_identity', EMAIL_API_BASE: inject('mailUrl'), EMAIL_FROM: 'Acme AI <hello@shop.example.com>',
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await worker?.dispose();
});

describe('accounts customers can recover, in Chromium', () => {
  it('中文: sign up → the mailed link → trial credit once → a key', async () => {
    const page = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
    const email = `zh-${Date.now()}@example.com`;
    await page.goto(`${worker.url}/signup`);
    await page.getByLabel('邮箱').fill(email);
    await page.getByLabel('密码').fill('一个足够长的密码 long');
    await page.getByRole('button', { name: '创建账户' }).click();
    await page.getByText(`验证 ${email} 的链接已发出`).waitFor();
    await page.getByRole('link', { name: '登录' }).first().click();
    await page.getByLabel('邮箱').fill(email);
    await page.getByLabel('密码').fill('一个足够长的密码 long');
    await page.getByRole('button', { name: '登录' }).click();
    await page.waitForURL(/\/console$/);
    await page.getByText('请验证您的邮箱').waitFor();
    expect(await balance(page)).toBe('$0.00');
    await page.getByRole('link', { name: 'API 密钥' }).click();
    await page.getByLabel('名称').fill('early');
    await page.getByRole('button', { name: '创建密钥' }).click();
    await page.getByText('请先验证邮箱，再创建密钥。').waitFor();
    await shoot(page, 'zh-unverified-keys');

    const link = await mailedLink(email, '/verify');
    await page.goto(link);
    await page.getByText('试用额度已到账').waitFor();
    await shoot(page, 'zh-verified');
    await page.goto(link); // opened twice: nothing more
    await page.getByText('此验证链接已失效').waitFor();
    await page.goto(`${worker.url}/console`);
    expect(await balance(page)).toBe('$2.00');
    await page.getByRole('link', { name: 'API 密钥' }).click();
    await page.getByLabel('名称').fill('laptop');
    await page.getByRole('button', { name: '创建密钥' }).click();
    expect((await page.locator('#new-key').textContent())?.trim()).toMatch(/^sk-/);
  });

  it('English: forgot password → the mailed link → a new password; every old session is signed out', async () => {
    const email = `en-${Date.now()}@example.com`;
    const first = await (await browser.newContext({ locale: 'en-US' })).newPage();
    await first.goto(`${worker.url}/signup`);
    await first.getByLabel('Email').fill(email);
    await first.getByLabel('Password').fill('the old long password');
    await first.getByRole('button', { name: 'Create account' }).click();
    await first.getByText('is on its way').waitFor();
    await first.goto(await mailedLink(email, '/verify'));
    await first.goto(`${worker.url}/login`);
    await first.getByLabel('Email').fill(email);
    await first.getByLabel('Password').fill('the old long password');
    await first.getByRole('button', { name: 'Log in' }).click();
    await first.waitForURL(/\/console$/);

    const other = await (await browser.newContext({ locale: 'en-US' })).newPage();
    await other.goto(`${worker.url}/login`);
    await other.getByRole('link', { name: 'Forgot password?' }).click();
    await other.getByLabel('Email').fill(email);
    await other.getByRole('button', { name: 'Send reset link' }).click();
    await other.getByText('If an account uses this email').waitFor();
    await shoot(other, 'forgot-sent');
    await other.goto(await mailedLink(email, '/reset'));
    await other.getByLabel('New password').fill('the new long password');
    await shoot(other, 'reset');
    await other.getByRole('button', { name: 'Set password' }).click();
    await other.getByText('every session signed out').waitFor();

    await first.goto(`${worker.url}/console`);
    await first.waitForURL(/\/login/); // the old session is over
    await first.getByLabel('Email').fill(email);
    await first.getByLabel('Password').fill('the old long password');
    await first.getByRole('button', { name: 'Log in' }).click();
    await first.getByText('Wrong email or password.').waitFor();
    await first.getByLabel('Password').fill('the new long password');
    await first.getByRole('button', { name: 'Log in' }).click();
    await first.waitForURL(/\/console$/);
    expect(await balance(first)).toBe('$2.00');
  });
});
