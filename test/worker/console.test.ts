import { env } from 'cloudflare:workers';
import { afterAll, describe, expect, it } from 'vitest';
import type { AttemptLimiter } from '../../src/ratelimit/attempts';
import { FAILED_ATTEMPTS } from '../../src/ratelimit/attempts';
import { accountObject, adminCall, call, db, expectLedgerInvariant, flushAccounts, linkMailedTo, mailsTo, newModel, unique } from './helpers';

/**
 * The customer console's rules (DESIGN.md "Customer console"): sign-up credit once,
 * hashed passwords and sessions, cookie flags, Origin checks on every state change, one
 * answer for wrong email and wrong password, throttled log-in, and accounts that never see
 * each other. Pages are driven here by plain form posts; test/e2e/console.test.ts drives
 * them in Chromium.
 */
const ORIGIN = 'http://gateway.test';
const SIGNUP_CREDIT = 1_000_000; // wrangler.toml's SIGNUP_CREDIT = "1" dollar

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

/** A random client address: sign-ups are throttled per source, and these tests stand for
 *  many customers signing up, each from their own network. */
const someone = () => `2001:db8:${crypto.randomUUID().slice(0, 4)}:${crypto.randomUUID().slice(0, 4)}::1`;

async function post(path: string, fields: Record<string, string>, opts: { cookie?: string; origin?: string | null; source?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (opts.origin !== null) headers.origin = opts.origin ?? ORIGIN;
  if (opts.cookie) headers.cookie = opts.cookie;
  const source = opts.source ?? (path === '/signup' ? someone() : undefined);
  if (source) headers['cf-connecting-ip'] = source;
  return call(path, { method: 'POST', body: form(fields), headers, redirect: 'manual' });
}

const page = (path: string, cookie?: string, headers: Record<string, string> = {}) =>
  call(path, { headers: { ...headers, ...(cookie ? { cookie } : {}) }, redirect: 'manual' });

/** Signs up, opens the verification link mailed (unless told not to) and logs in: the
 *  session cookie ("tg_session=…"), the raw Set-Cookie and the account id. */
async function signUp(email = `${unique('c')}@example.com`, password = 'correct horse battery', o: { verify?: boolean } = {}) {
  const res = await post('/signup', { email, password });
  expect(res.status).toBe(200);
  expect(res.headers.get('set-cookie')).toBeNull();
  const { id } = (await db.prepare('SELECT id FROM accounts WHERE email = ?').bind(email).first<{ id: string }>())!;
  if (o.verify ?? true) expect((await call(await linkMailedTo(email))).status).toBe(200);
  const login = await post('/login', { email, password });
  expect(login.status).toBe(303);
  const setCookie = login.headers.get('set-cookie')!;
  return { email, password, cookie: setCookie.split(';')[0]!, setCookie, accountId: id };
}

async function createKey(cookie: string, name = unique('k')) {
  const res = await post('/console/keys', { name }, { cookie });
  expect(res.status).toBe(201);
  const html = await res.text();
  const key = /id="new-key">(sk-[A-Za-z0-9_-]+)</.exec(html)?.[1];
  expect(key).toBeDefined();
  const { id } = (await db.prepare('SELECT id FROM api_keys WHERE name = ?').bind(name).first<{ id: string }>())!;
  return { key: key!, id, name };
}

afterAll(flushAccounts);

describe('sign-up and sessions', () => {
  it('grants SIGNUP_CREDIT once as a signup ledger row — when the address is verified — and stores the password and session only as hashes', async () => {
    const s = await signUp(undefined, undefined, { verify: false });
    const ledgerRows = async () => (await db.prepare('SELECT kind, amount FROM ledger WHERE account_id = ?').bind(s.accountId).all()).results;
    expect(await ledgerRows()).toEqual([]);
    const [mail] = await mailsTo(s.email);
    expect(mail!.subject).toBe('Verify your email for Tokengate');
    expect(mail!.from).toBe('Tokengate <noreply@gateway.example.com>');
    const link = await linkMailedTo(s.email);
    const verified = await call(link);
    expect(verified.status).toBe(200);
    expect(await verified.text()).toContain('your trial credit of $1 is on your balance');
    // The link works once; a second link (resent) verifies nothing more and grants nothing more.
    expect((await call(link, { headers: { 'cf-connecting-ip': '2001:db8:77::1' } })).status).toBe(400);
    expect((await post('/console/verify-email', {}, { cookie: s.cookie })).status).toBe(303);
    expect(await mailsTo(s.email)).toHaveLength(1); // verified already: nothing more is sent
    expect(await ledgerRows()).toEqual([{ kind: 'signup', amount: SIGNUP_CREDIT }]);
    // The same email again: the same answer as a new address (the mail says the rest), no
    // session, the password unchanged, and no second grant.
    const again = await post('/signup', { email: s.email.toUpperCase(), password: 'another password' });
    expect(again.status).toBe(200);
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(await again.text()).toContain(`A link to verify ${s.email} is on its way`);
    expect((await post('/login', { email: s.email, password: 'another password' })).status).toBe(401);
    expect((await db.prepare('SELECT COUNT(*) AS n FROM ledger WHERE account_id = ?').bind(s.accountId).first<{ n: number }>())!.n).toBe(1);

    const { password_hash } = (await db.prepare('SELECT password_hash FROM accounts WHERE id = ?').bind(s.accountId).first<{ password_hash: string }>())!;
    expect(password_hash).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(password_hash).not.toContain(s.password);
    const token = s.cookie.split('=')[1]!;
    const sessions = await db.prepare('SELECT * FROM sessions WHERE account_id = ?').bind(s.accountId).all();
    expect(sessions.results).toHaveLength(1);
    expect(JSON.stringify(sessions.results)).not.toContain(token);
    await expectLedgerInvariant(s.accountId);
  });

  it('sets the session cookie HttpOnly, SameSite=Lax and Secure (not localhost)', async () => {
    const { setCookie } = await signUp();
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(setCookie).toMatch(/Secure/i);
    expect(setCookie).toMatch(/Path=\//);
  });

  it('refuses too short a password and a malformed email, creating nothing', async () => {
    const email = `${unique('c')}@example.com`;
    expect((await post('/signup', { email, password: 'short' })).status).toBe(400);
    expect((await post('/signup', { email: 'not-an-email', password: 'long enough password' })).status).toBe(400);
    expect(await db.prepare('SELECT 1 FROM accounts WHERE email = ?').bind(email).first()).toBeNull();
  });

  it('logs in and out; log-out ends the session in D1, not just the cookie', async () => {
    const s = await signUp();
    const login = await post('/login', { email: s.email, password: s.password });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/console');
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    expect((await page('/console', cookie)).status).toBe(200);
    expect((await post('/logout', {}, { cookie })).status).toBe(303);
    const after = await page('/console', cookie);
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(/^\/login/);
  });

  it('sends log-in back only to console paths (no open redirect)', async () => {
    const s = await signUp();
    const evil = await post(`/login?next=${encodeURIComponent('//evil.example/x')}`, { email: s.email, password: s.password });
    expect(evil.headers.get('location')).toBe('/console');
    const good = await post(`/login?next=${encodeURIComponent('/console/logs')}`, { email: s.email, password: s.password });
    expect(good.headers.get('location')).toBe('/console/logs');
  });

  it('password change ends the other sessions; sign out everywhere ends all', async () => {
    const s = await signUp();
    const other = (await post('/login', { email: s.email, password: s.password })).headers.get('set-cookie')!.split(';')[0]!;
    const wrong = await post('/console/settings/password', { current: 'not it at all', password: 'a new password' }, { cookie: s.cookie });
    expect(wrong.status).toBe(400);
    const changed = await post('/console/settings/password', { current: s.password, password: 'a new password' }, { cookie: s.cookie });
    expect(changed.status).toBe(200);
    expect((await page('/console', s.cookie)).status).toBe(200);
    expect((await page('/console', other)).status).toBe(303);
    expect((await post('/login', { email: s.email, password: s.password })).status).toBe(401);
    const fresh = (await post('/login', { email: s.email, password: 'a new password' })).headers.get('set-cookie')!.split(';')[0]!;
    expect((await post('/console/settings/sign-out-everywhere', {}, { cookie: s.cookie })).status).toBe(303);
    expect((await page('/console', s.cookie)).status).toBe(303);
    expect((await page('/console', fresh)).status).toBe(303);
  });
});

describe("the operator's changes end the customer's sessions", () => {
  it('a password set by the operator, and a suspension, sign the customer out everywhere', async () => {
    const s = await signUp();
    expect((await page('/console', s.cookie)).status).toBe(200);
    expect((await adminCall('PATCH', `/accounts/${s.accountId}`, { password: 'set by the operator' })).status).toBe(200);
    expect((await page('/console', s.cookie)).status).toBe(303);
    const again = (await post('/login', { email: s.email, password: 'set by the operator' })).headers.get('set-cookie')!.split(';')[0]!;
    expect((await page('/console', again)).status).toBe(200);
    expect((await adminCall('PATCH', `/accounts/${s.accountId}`, { suspended: true })).status).toBe(200);
    expect((await page('/console', again)).status).toBe(303);
    // A name change ends nothing.
    await adminCall('PATCH', `/accounts/${s.accountId}`, { suspended: false });
    const third = (await post('/login', { email: s.email, password: 'set by the operator' })).headers.get('set-cookie')!.split(';')[0]!;
    await adminCall('PATCH', `/accounts/${s.accountId}`, { name: 'Renamed' });
    expect((await page('/console', third)).status).toBe(200);
  });
});

describe('password change', () => {
  it('throttles guesses of the current password: the 11th within 15 minutes is refused, the right one included', async () => {
    const s = await signUp();
    for (let i = 0; i < 10; i++) {
      expect((await post('/console/settings/password', { current: `guess ${i} wrong`, password: 'a new password' }, { cookie: s.cookie })).status).toBe(400);
    }
    const locked = await post('/console/settings/password', { current: s.password, password: 'a new password' }, { cookie: s.cookie });
    expect(locked.status).toBe(429);
    expect((await post('/login', { email: s.email, password: s.password })).status).toBe(303);
  });
});

describe('CSRF: a state change from anywhere but the site is refused, whatever its content type', () => {
  it.each([
    ['a form from another site', 'application/x-www-form-urlencoded', 'https://evil.example'],
    ['JSON from another site', 'application/json', 'https://evil.example'],
    ['text/plain from another site', 'text/plain', 'https://evil.example'],
    ['no Origin at all', 'application/x-www-form-urlencoded', null],
  ])('%s → 403, and no key is made', async (_name, contentType, origin) => {
    const s = await signUp();
    const headers: Record<string, string> = { 'content-type': contentType, cookie: s.cookie };
    if (origin) headers.origin = origin;
    const name = unique('csrf');
    const res = await call('/console/keys', { method: 'POST', body: contentType === 'application/json' ? JSON.stringify({ name }) : form({ name }), headers });
    expect(res.status).toBe(403);
    expect(await db.prepare('SELECT 1 FROM api_keys WHERE account_id = ?').bind(s.accountId).first()).toBeNull();
  });

  it('log-in and sign-up from another site are refused too', async () => {
    expect((await post('/signup', { email: `${unique('c')}@example.com`, password: 'long enough password' }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await post('/login', { email: 'x@example.com', password: 'whatever it is' }, { origin: 'https://evil.example' })).status).toBe(403);
  });
});

describe('log-in answers and throttling', () => {
  const loginError = async (email: string, password: string) => {
    const res = await post('/login', { email, password });
    const html = await res.text();
    return { status: res.status, message: /class="notice error" role="alert">([^<]*)</.exec(html)?.[1] };
  };

  it('gives one answer for a wrong email and a wrong password', async () => {
    const s = await signUp();
    const wrongPassword = await loginError(s.email, 'not the password');
    const wrongEmail = await loginError(`${unique('nobody')}@example.com`, s.password);
    expect(wrongPassword).toEqual({ status: 401, message: 'Wrong email or password.' });
    expect(wrongEmail).toEqual(wrongPassword);
  });

  it('after 10 failures for one email, refuses it — the right password included — with 429; other emails are unaffected', async () => {
    const s = await signUp();
    const other = await signUp();
    for (let i = 0; i < 10; i++) expect((await loginError(s.email, `wrong ${i}`)).status).toBe(401);
    const locked = await post('/login', { email: s.email, password: s.password });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(14 * 60);
    expect(await locked.text()).toMatch(/Too many failed attempts for this email\. Try again in 15 minutes\./);
    expect(locked.headers.get('set-cookie')).toBeNull();
    expect((await post('/login', { email: other.email, password: other.password })).status).toBe(303);
  });

  it("an attacker failing on a customer's address locks out only the attacker's own source", async () => {
    const s = await signUp();
    const attacker = '203.0.113.7';
    for (let i = 0; i < 10; i++) expect((await post('/login', { email: s.email, password: `wrong ${i}` }, { source: attacker })).status).toBe(401);
    expect((await post('/login', { email: s.email, password: s.password }, { source: attacker })).status).toBe(429);
    // The customer, from home, is let in (before, the address was locked for everyone).
    expect((await post('/login', { email: s.email, password: s.password }, { source: '198.51.100.20' })).status).toBe(303);
  });

  it('throttles one source failing on many addresses: 30 within 15 minutes, then 429 for any', async () => {
    const s = await signUp();
    // One /64 is one source, whichever address in it.
    const sprayer = (i: number) => `2001:db8:77:1::${(i + 1).toString(16)}`;
    for (let i = 0; i < 30; i++) {
      expect((await post('/login', { email: `${unique('nobody')}@example.com`, password: 'Summer2026!' }, { source: sprayer(i) })).status).toBe(401);
    }
    expect((await post('/login', { email: s.email, password: s.password }, { source: sprayer(99) })).status).toBe(429);
    expect((await post('/login', { email: s.email, password: s.password }, { source: '2001:db8:77:2::1' })).status).toBe(303);
  });

  it('throttles sign-ups from one source: 10 an hour', async () => {
    const source = '203.0.113.50';
    for (let i = 0; i < 10; i++) expect((await post('/signup', { email: `${unique('farm')}@example.com`, password: 'long enough password' }, { source })).status).toBe(200);
    const refused = await post('/signup', { email: `${unique('farm')}@example.com`, password: 'long enough password' }, { source });
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain('Too many sign-ups');
  });

  it('counts guesses sent together one by one: of 25 at once, 10 are let through', async () => {
    const ns = (env as unknown as { ATTEMPTS: DurableObjectNamespace<AttemptLimiter> }).ATTEMPTS;
    const limiter = ns.get(ns.idFromName(`login:${unique('burst')}@example.com`));
    const answers = await Promise.all(Array.from({ length: 25 }, () => limiter.begin(FAILED_ATTEMPTS)));
    expect(answers.filter((a) => a.ok)).toHaveLength(10);
  });

  it('lets the window pass: failures older than 15 minutes no longer count, and the lock ends', async () => {
    const ns = (env as unknown as { ATTEMPTS: DurableObjectNamespace<AttemptLimiter> }).ATTEMPTS;
    const limiter = ns.get(ns.idFromName(`login:${unique('window')}@example.com`));
    const t0 = 1_800_000_000_000;
    for (let i = 0; i < 10; i++) expect((await limiter.begin(FAILED_ATTEMPTS, t0 + i)).ok).toBe(true);
    expect(await limiter.begin(FAILED_ATTEMPTS, t0 + 60_000)).toEqual({ ok: false, retryAfterMs: 15 * 60_000 - 60_000 + 9 });
    expect((await limiter.begin(FAILED_ATTEMPTS, t0 + 16 * 60_000)).ok).toBe(true);
  });
});

describe('sessions and API keys never stand in for each other', () => {
  it('a console session does not authenticate /v1; an API key does not open the console', async () => {
    const s = await signUp();
    const { key } = await createKey(s.cookie);
    const v1 = await call('/v1/models', { headers: { cookie: s.cookie } });
    expect(v1.status).toBe(401);
    const consoleWithKey = await page('/console', undefined, { authorization: `Bearer ${key}` });
    expect(consoleWithKey.status).toBe(303);
    expect((await call('/v1/models', { key })).status).toBe(200);
  });

  it('shows a key secret in its creation answer only, never again', async () => {
    const s = await signUp();
    const { key } = await createKey(s.cookie);
    const list = await (await page('/console/keys', s.cookie)).text();
    expect(list).toContain(key.slice(0, 11));
    expect(list).not.toContain(key);
    const created = await post('/console/keys', { name: unique('k') }, { cookie: s.cookie });
    expect(created.headers.get('cache-control')).toBe('no-store');
  });
});

describe('one account never reaches another’s data', () => {
  it('keys, logs, CSV, wallet and revocation are the signed-in account’s only', async () => {
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const a = await signUp();
    const b = await signUp();
    const aKey = await createKey(a.cookie, unique('alpha'));
    const res = await call('/v1/chat/completions', { method: 'POST', key: aKey.key, json: { model, messages: [{ role: 'user', content: 'hi' }] } });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    await expect.poll(async () => (await (await page('/console/logs', a.cookie)).text()).includes(aKey.name), { timeout: 5000 }).toBe(true);

    for (const path of ['/console/keys', '/console/logs', `/console/logs?key=${aKey.id}`, '/console/logs.csv', `/console/logs.csv?key=${aKey.id}`, '/console/wallet']) {
      const text = await (await page(path, b.cookie)).text();
      expect(text, path).not.toContain(aKey.name);
      expect(text, path).not.toContain(requestId);
    }
    expect(await (await page('/console/logs.csv', a.cookie)).text()).toContain(requestId);
    // B posting A's key id to revoke changes nothing.
    expect((await post(`/console/keys/${aKey.id}/revoke`, {}, { cookie: b.cookie })).status).toBe(303);
    expect((await call('/v1/models', { key: aKey.key })).status).toBe(200);
    // A revoking it: 401 from the very next request.
    expect((await post(`/console/keys/${aKey.id}/revoke`, {}, { cookie: a.cookie })).status).toBe(303);
    expect((await call('/v1/models', { key: aKey.key })).status).toBe(401);
    await expectLedgerInvariant(a.accountId);
  });
});

describe('pages', () => {
  it('carry a Content-Security-Policy without inline script, and refuse framing', async () => {
    for (const path of ['/', '/pricing', '/docs', '/signup', '/login']) {
      const res = await page(path);
      expect(res.status, path).toBe(200);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(await res.text()).not.toMatch(/<script>(?!<\/script>)|style="/);
    }
  });

  it('speak Chinese to a Chinese browser, with a switch back to English', async () => {
    const zh = await (await page('/pricing', undefined, { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' })).text();
    expect(zh).toContain('<html lang="zh-CN">');
    expect(zh).toContain('>价格<');
    expect(zh).toMatch(/<a href="\/pricing\?lang=en"[^>]*>English<\/a>/);
    const en = await page('/pricing?lang=en', undefined, { 'accept-language': 'zh-CN' });
    expect(await en.text()).toContain('<html lang="en">');
    expect(en.headers.get('set-cookie')).toMatch(/^lang=en/);
  });

  it('docs fill in this deployment’s own base URL', async () => {
    const docs = await (await page('/docs')).text();
    expect(docs).toContain('https://gateway.example.com/v1');
    expect(docs).toContain('ANTHROPIC_BASE_URL=https://gateway.example.com');
  });

  it('dashboard: balance labelled "Balance" and the chart "Usage by day", from daily totals', async () => {
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const s = await signUp();
    const { key } = await createKey(s.cookie);
    expect((await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'hi' }] } })).status).toBe(200);
    await expect.poll(async () => (await (await page('/console', s.cookie)).text()).includes(`${model}: $`), { timeout: 5000 }).toBe(true);
    const html = await (await page('/console', s.cookie)).text();
    expect(html).toMatch(/<svg role="img" aria-label="Usage by day"/);
    expect(html).toMatch(/id="balance-label">Balance</);
    const { n } = (await db.prepare('SELECT COUNT(*) AS n FROM usage_daily WHERE account_id = ?').bind(s.accountId).first<{ n: number }>())!;
    expect(n).toBe(1);
    await expectLedgerInvariant(s.accountId);
  });
});

describe('admin routes for console accounts', () => {
  it('finds accounts by email prefix, lists keys without secrets, and sets a password that logs in', async () => {
    const email = `${unique('adm')}@example.com`;
    const { body: created } = await adminCall('POST', '/accounts', { email, credit: 2 });
    const found = await adminCall('GET', `/accounts?email=${encodeURIComponent(email.slice(0, 10))}`);
    expect(found.body.data.map((a: { id: string }) => a.id)).toContain(created.id);
    const { body: key } = await adminCall('POST', `/accounts/${created.id}/keys`, { name: 'made by admin' });
    const keys = await adminCall('GET', `/accounts/${created.id}/keys`);
    expect(keys.body.data).toEqual([expect.objectContaining({ id: key.id, name: 'made by admin', prefix: key.prefix, revoked_at: null })]);
    expect(JSON.stringify(keys.body)).not.toContain(key.key);
    expect((await post('/login', { email, password: 'set by the operator' })).status).toBe(401);
    const patched = await adminCall('PATCH', `/accounts/${created.id}`, { password: 'set by the operator', name: 'Renamed' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: created.id, name: 'Renamed', suspended: false });
    expect(JSON.stringify(patched.body)).not.toContain('set by the operator');
    expect((await post('/login', { email, password: 'set by the operator' })).status).toBe(303);
  });

  it('suspends and resumes an account: its keys answer 403 account_suspended from the next request on', async () => {
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const { body: account } = await adminCall('POST', '/accounts', { email: `${unique('sus')}@example.com`, credit: 2 });
    const { body: key } = await adminCall('POST', `/accounts/${account.id}/keys`, { name: 'k' });
    const chat = () => call('/v1/chat/completions', { method: 'POST', key: key.key, json: { model, messages: [{ role: 'user', content: 'hi' }] } });
    expect((await chat()).status).toBe(200);
    expect((await adminCall('PATCH', `/accounts/${account.id}`, { suspended: true })).body.suspended).toBe(true);
    const refused = await chat();
    expect(refused.status).toBe(403);
    expect((await refused.json() as { error: { code: string } }).error.code).toBe('account_suspended');
    await adminCall('PATCH', `/accounts/${account.id}`, { suspended: false });
    expect((await chat()).status).toBe(200);
    await expectLedgerInvariant(account.id);
  });

  it('refuses a PATCH that changes nothing or names a bad group, in OpenAI’s shape', async () => {
    const { body: account } = await adminCall('POST', '/accounts', { email: `${unique('p')}@example.com` });
    expect((await adminCall('PATCH', `/accounts/${account.id}`, {})).status).toBe(400);
    const bad = await adminCall('PATCH', `/accounts/${account.id}`, { group: 'no spaces allowed' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('group');
    expect((await adminCall('PATCH', '/accounts/acct_nope', { name: 'x' })).status).toBe(404);
  });
});

describe('logs: filters and pages', () => {
  it('walks every row once, newest first, by cursor; filters by key, model, status and dates', async () => {
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const s = await signUp();
    const one = await createKey(s.cookie, unique('one'));
    const two = await createKey(s.cookie, unique('two'));
    const ids: string[] = [];
    for (const key of [one, two, one, two, one]) {
      const res = await call('/v1/chat/completions', { method: 'POST', key: key.key, json: { model, messages: [{ role: 'user', content: 'hi' }] } });
      expect(res.status).toBe(200);
      ids.push(res.headers.get('x-request-id')!);
    }
    const object = accountObject(s.accountId);
    await expect.poll(async () => (await object.findUsage(s.accountId, { limit: 10 })).rows.length, { timeout: 5000 }).toBe(5);

    const seen: string[] = [];
    let before: number | null = null;
    for (let pages = 0; pages < 5; pages++) {
      const page: { rows: { request_id: string }[]; next: number | null } = await object.findUsage(s.accountId, { limit: 2, before });
      seen.push(...page.rows.map((r) => r.request_id));
      if (page.next === null) break;
      before = page.next;
    }
    expect(seen).toEqual([...ids].reverse());

    expect((await object.findUsage(s.accountId, { limit: 10, keyId: one.id })).rows).toHaveLength(3);
    expect((await object.findUsage(s.accountId, { limit: 10, model })).rows).toHaveLength(5);
    expect((await object.findUsage(s.accountId, { limit: 10, status: 'failed' })).rows).toHaveLength(0);
    expect((await object.findUsage(s.accountId, { limit: 10, to: '2000-01-01T00:00:00.000Z' })).rows).toHaveLength(0);

    // The page itself: the key filter, and the link to the next page when there is one.
    const filtered = await (await page(`/console/logs?key=${two.id}`, s.cookie)).text();
    expect(filtered.match(/<tr><td>/g)).toHaveLength(2);
    expect(filtered).not.toContain('Older');
    const today = new Date().toISOString().slice(0, 10);
    const csv = await (await page(`/console/logs.csv?from=${today}&to=${today}&status=success`, s.cookie)).text();
    expect(csv.trim().split('\r\n')).toHaveLength(6);
    expect(csv.split('\r\n')[0]).toBe('request_id,created_at,key_name,model,channel,input_tokens,output_tokens,cached_tokens,cache_write_tokens,unit,quantity,cost,status,latency_ms,first_byte_ms,estimated');
    await expectLedgerInvariant(s.accountId);
  });
});
