import { env } from 'cloudflare:workers';
import { describe, expect, inject, it, vi } from 'vitest';
import type { Env } from '../../src/config';
import { mailerOf } from '../../src/email/mailer';
import { adminCall, call, db, expectLedgerInvariant, linkMailedTo, mailsTo, unique } from './helpers';

/**
 * Verified e-mail and password reset (auth/email-links.ts) through the pages, with the
 * messages caught by the fake e-mail provider (test/support/fake-mail.ts): the trial
 * credit once per verified address, keys only once verified, links single-use, expiring and
 * kept only as hashes, "Forgot password" saying nothing of which addresses have accounts,
 * a reset ending every session, every form throttled.
 */
const ORIGIN = 'https://gateway.example.com'; // PUBLIC_URL
const SIGNUP_CREDIT = 1_000_000;

const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}, ip = '203.0.113.9') =>
  call(path, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams(form),
    headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': ip, ...headers },
  });
/** A page, from a source of its own unless told (wrong links are throttled per source). */
const page = (path: string, cookie?: string, ip = `2001:db8:${crypto.randomUUID().slice(0, 4)}::9`) =>
  call(path, { redirect: 'manual', headers: { 'cf-connecting-ip': ip, ...(cookie ? { cookie } : {}) } });

async function signUp(email = `${unique('id')}@example.com`, password = 'correct horse battery') {
  const res = await post('/signup', { email, password }, {}, `198.51.100.${Math.floor(Math.random() * 250)}`);
  expect(res.status).toBe(200);
  const login = await post('/login', { email, password });
  expect(login.status).toBe(303);
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const { id } = (await db.prepare('SELECT id FROM accounts WHERE email = ?').bind(email).first<{ id: string }>())!;
  return { email, password, cookie, accountId: id };
}
const ledgerOf = async (id: string) => (await db.prepare('SELECT kind, amount FROM ledger WHERE account_id = ?').bind(id).all()).results;

describe('verification', () => {
  it('an unverified account logs in and sees the console, but makes no key and has no credit until its link is opened', async () => {
    const s = await signUp();
    const dashboard = await (await page('/console', s.cookie)).text();
    expect(dashboard).toContain(`we sent a link to ${s.email}`);
    expect(dashboard).toContain('Resend verification email');
    const refused = await post('/console/keys', { name: 'early' }, { cookie: s.cookie });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('Verify your email address before creating keys.');
    expect((await db.prepare('SELECT COUNT(*) AS n FROM api_keys WHERE account_id = ?').bind(s.accountId).first<{ n: number }>())!.n).toBe(0);
    expect(await ledgerOf(s.accountId)).toEqual([]);

    expect((await page(await linkMailedTo(s.email))).status).toBe(200);
    expect(await ledgerOf(s.accountId)).toEqual([{ kind: 'signup', amount: SIGNUP_CREDIT }]);
    expect((await post('/console/keys', { name: 'now' }, { cookie: s.cookie })).status).toBe(201);
    expect((await adminCall('GET', `/accounts/${s.accountId}`)).body.email_verified).toBe(true);
    await expectLedgerInvariant(s.accountId);
  });

  it('grants the credit once however many links are opened, and however often, even at once', async () => {
    const s = await signUp();
    await linkMailedTo(s.email);
    for (let i = 0; i < 2; i++) expect((await post('/console/verify-email', {}, { cookie: s.cookie })).headers.get('location')).toBe('/console?verify=sent');
    const links = (await mailsTo(s.email)).map((m) => /https:\/\/gateway\.example\.com(\/verify\?token=[\w-]+)/.exec(m.text)![1]!);
    expect(new Set(links).size).toBe(3);
    const answers = await Promise.all([...links, ...links].map((l) => page(l)));
    expect(answers.map((r: Response) => r.status).sort()).toEqual([200, 200, 200, 400, 400, 400]);
    expect(await ledgerOf(s.accountId)).toEqual([{ kind: 'signup', amount: SIGNUP_CREDIT }]);
    await expectLedgerInvariant(s.accountId);
  });

  it('a link that expired, or that was never issued, verifies nothing; links are kept only as hashes', async () => {
    const s = await signUp();
    const link = await linkMailedTo(s.email);
    const token = link.split('token=')[1]!;
    expect(JSON.stringify((await db.prepare('SELECT * FROM email_links WHERE account_id = ?').bind(s.accountId).all()).results)).not.toContain(token);
    await db.prepare("UPDATE email_links SET expires_at = '2000-01-01T00:00:00.000Z' WHERE account_id = ?").bind(s.accountId).run();
    const expired = await page(link);
    expect(expired.status).toBe(400);
    expect(await expired.text()).toContain('not valid any more');
    expect((await page('/verify?token=not-a-real-token-at-all-0123456789')).status).toBe(400);
    expect(await ledgerOf(s.accountId)).toEqual([]);
  });

  it('resending is throttled: five an hour per account', async () => {
    const s = await signUp();
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) outcomes.push((await post('/console/verify-email', {}, { cookie: s.cookie })).headers.get('location')!);
    expect(outcomes.slice(0, 4)).toEqual(Array(4).fill('/console?verify=sent')); // the sign-up's own mail was the first
    expect(outcomes.slice(4)).toEqual(['/console?verify=throttled', '/console?verify=throttled']);
    expect(await mailsTo(s.email)).toHaveLength(5);
  });

  it('the operator can verify by hand: the credit is granted once, and the audit log says who', async () => {
    const s = await signUp();
    const res = await adminCall('POST', `/accounts/${s.accountId}/verify-email`);
    expect(res.body).toMatchObject({ email_verified: true, balance: 1 });
    await adminCall('POST', `/accounts/${s.accountId}/verify-email`);
    expect((await page(await linkMailedTo(s.email))).status).toBe(200); // the customer's link still works, and grants nothing more
    expect(await ledgerOf(s.accountId)).toEqual([{ kind: 'signup', amount: SIGNUP_CREDIT }]);
    const audit = (await adminCall('GET', '/audit?limit=20')).body.data.find((a: any) => a.action === 'account.verify_email' && a.target === s.accountId);
    expect(audit).toMatchObject({ actor: 'admin-api' });
    // Accounts the operator makes are verified, and no trial credit is theirs to claim.
    const made = await adminCall('POST', '/accounts', { email: `${unique('op')}@example.com`, credit: 2 });
    expect(made.body.email_verified).toBe(true);
    expect((await adminCall('POST', `/accounts/${made.body.id}/verify-email`)).body.balance).toBe(2);
  });
});

describe('links tried at random', () => {
  it('are throttled per source: after 10 wrong ones, even a good link waits', async () => {
    const s = await signUp();
    const good = await linkMailedTo(s.email);
    const ip = '198.18.7.7';
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await page(`/${i % 2 ? 'verify' : 'reset'}?token=guess-${i}-0123456789abcdefghij`, undefined, ip)).status);
    expect(statuses).toEqual(Array(10).fill(400));
    expect((await page(good, undefined, ip)).status).toBe(429);
    expect(await ledgerOf(s.accountId)).toEqual([]);
    expect((await page(good)).status).toBe(200); // from anywhere else it works
  });
});

describe('sign-up says nothing of which addresses have accounts', () => {
  it('answers a taken address as it answers a new one; only the mail differs', async () => {
    const s = await signUp();
    await page(await linkMailedTo(s.email)); // verified
    const fresh = `${unique('new')}@example.com`;
    const [taken, made] = [await post('/signup', { email: s.email, password: 'someone else entirely' }, {}, '198.51.100.77'),
      await post('/signup', { email: fresh, password: 'someone else entirely' }, {}, '198.51.100.78')];
    expect([taken.status, made.status]).toEqual([200, 200]);
    expect([taken.headers.get('set-cookie'), made.headers.get('set-cookie')]).toEqual([null, null]);
    expect((await taken.text()).replaceAll(s.email, 'X')).toBe((await made.text()).replaceAll(fresh, 'X'));
    await expect.poll(async () => (await mailsTo(s.email)).at(-1)?.subject).toBe('Your Tokengate account');
    const notice = (await mailsTo(s.email)).at(-1)!;
    expect(notice.text).toContain('https://gateway.example.com/forgot');
    expect(notice.text).not.toContain('token=');
    expect((await post('/login', { email: s.email, password: 'someone else entirely' })).status).toBe(401);
    expect((await post('/login', { email: s.email, password: s.password })).status).toBe(303);
  });

  it('a taken address not yet verified gets a fresh verification link instead, counted against its resends', async () => {
    const s = await signUp();
    await linkMailedTo(s.email);
    await post('/signup', { email: s.email, password: 'someone else entirely' }, {}, '198.51.100.79');
    await expect.poll(async () => (await mailsTo(s.email)).length).toBe(2);
    expect((await mailsTo(s.email)).map((m) => m.subject)).toEqual(['Verify your email for Tokengate', 'Verify your email for Tokengate']);
  });
});

describe('forgot password', () => {
  const forgot = (email: string, ip = `192.0.2.${Math.floor(Math.random() * 250)}`) => post('/forgot', { email }, {}, ip);

  it('answers the same whether or not an account uses the address; mails only one that does', async () => {
    const s = await signUp();
    const nobody = `${unique('nobody')}@example.com`;
    const [a, b] = [await forgot(s.email), await forgot(nobody)];
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await a.text()).toBe(await b.text());
    await expect.poll(async () => (await mailsTo(s.email)).length).toBe(2); // verification, then reset
    expect((await mailsTo(s.email)).at(-1)!.subject).toBe('Reset your Tokengate password');
    expect(await mailsTo(nobody)).toEqual([]);
  });

  it('a reset sets the password, ends every session, verifies the address, and is an audit row; the link works once', async () => {
    const s = await signUp();
    const second = await post('/login', { email: s.email, password: s.password });
    const other = second.headers.get('set-cookie')!.split(';')[0]!;
    await forgot(s.email);
    let link = '';
    await expect.poll(async () => (link = (await linkMailedTo(s.email)))).toMatch(/^\/reset\?token=/);
    expect(await (await page(link)).text()).toContain('Set password');
    const reset = await post(link, { password: 'a brand new password' });
    expect(reset.status).toBe(200);
    expect(await reset.text()).toContain('every session signed out');
    for (const cookie of [s.cookie, other]) expect((await page('/console', cookie)).status).toBe(303); // to the log-in page
    expect((await post('/login', { email: s.email, password: s.password })).status).toBe(401);
    expect((await post('/login', { email: s.email, password: 'a brand new password' })).status).toBe(303);
    expect((await post(link, { password: 'yet another password' })).status).toBe(400);
    expect((await page(link)).status).toBe(400);
    expect(await ledgerOf(s.accountId)).toEqual([{ kind: 'signup', amount: SIGNUP_CREDIT }]); // the link reached the address
    const audit = (await adminCall('GET', '/audit?limit=20')).body.data.find((a: any) => a.action === 'account.password_reset' && a.target === s.accountId);
    expect(audit).toBeTruthy();
    const token = link.split('token=')[1]!;
    expect(JSON.stringify((await db.prepare('SELECT * FROM email_links').all()).results)).not.toContain(token);
    expect(JSON.stringify((await adminCall('GET', '/audit?limit=50')).body)).not.toContain(token);
  });

  it('is throttled per source and per address, with or without an account', async () => {
    const nobody = `${unique('nobody')}@example.com`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await forgot(nobody, `192.0.2.${i}`)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const source = '198.18.0.7';
    const fromOne: number[] = [];
    for (let i = 0; i < 6; i++) fromOne.push((await forgot(`${unique('n')}@example.com`, source)).status);
    expect(fromOne).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('a reset link that expired or is unknown sets nothing', async () => {
    const s = await signUp();
    await forgot(s.email);
    let link = '';
    await expect.poll(async () => (link = (await linkMailedTo(s.email)))).toMatch(/^\/reset\?token=/);
    await db.prepare("UPDATE email_links SET expires_at = '2000-01-01T00:00:00.000Z' WHERE purpose = 'reset' AND account_id = ?").bind(s.accountId).run();
    expect((await post(link, { password: 'a brand new password' })).status).toBe(400);
    expect((await post('/login', { email: s.email, password: s.password })).status).toBe(303);
    expect(inject('mailUrl')).toMatch(/^http:\/\/127\.0\.0\.1:/);
  });
});

describe('the mailer', () => {
  const mail = { to: 'ada@example.com', subject: 'Hello', text: 'Open https://x', html: '<p>Open https://x</p>' };
  const base = { ...env, RESEND_API_KEY: undefined } as unknown as Env;

  it("sends through Cloudflare's binding when no API key is set, prints under npm run dev, and is null with neither", async () => {
    const sent: unknown[] = [];
    await mailerOf({ ...base, EMAIL: { send: async (m: unknown) => void sent.push(m) } })!(mail);
    expect(sent).toEqual([{ from: 'Tokengate <noreply@gateway.example.com>', ...mail }]);
    expect(mailerOf(base)).toBeNull();
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await mailerOf({ ...base, EMAIL_DEV_LOG: 'true' })!(mail);
      expect(log.mock.calls[0]![0]).toContain('[e-mail to ada@example.com] Hello\nOpen https://x');
    } finally {
      log.mockRestore();
    }
  });

  it('writes in the language the customer used: a Chinese sign-up gets its link in Chinese', async () => {
    const email = `${unique('zh')}@example.com`;
    const res = await post('/signup', { email, password: 'correct horse battery' }, { 'accept-language': 'zh-CN,zh;q=0.9' }, '198.51.100.201');
    expect(await res.text()).toContain('链接已发出');
    await linkMailedTo(email);
    const [m] = await mailsTo(email);
    expect(m!.subject).toBe('验证您在 Tokengate 的邮箱');
    expect(m!.text).toContain('链接仅可使用一次');
    expect(m!.html).toMatch(/<a href="https:\/\/gateway\.example\.com\/verify\?token=[\w-]+">/);
  });
});
