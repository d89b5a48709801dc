import { Secret, TOTP } from 'otpauth';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { totpRow } from '../../src/auth/two-factor';
import { open, seal } from '../../src/auth/vault';
import { adminCall, call, db, linkMailedTo, ORIGINAL_KEK, unique } from './helpers';

const KEK = (env as unknown as { PROVIDER_KEYS_KEK: string }).PROVIDER_KEYS_KEK;

/**
 * Customers' two-factor sign-in (auth/two-factor.ts) through the pages: enrolment confirmed
 * by a first code, recovery codes shown once and kept only as hashes, the secret sealed,
 * each code good once, the code page throttled, and turning it off behind a code.
 */
const ORIGIN = 'https://gateway.example.com';
const post = (path: string, form: Record<string, string>, cookie?: string) =>
  call(path, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams(form),
    headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': '203.0.113.44', ...(cookie ? { cookie } : {}) },
  });
const setCookies = (res: Response) => (res.headers.get('set-cookie') ?? '').split(/,(?=\s*\w+=)/).map((c) => c.trim());
const cookieOf = (res: Response, name: string) => setCookies(res).find((c) => c.startsWith(`${name}=`))!.split(';')[0]!;

async function verifiedCustomer() {
  const email = `${unique('2fa')}@example.com`;
  const password = 'correct horse battery';
  expect((await post('/signup', { email, password })).status).toBe(200);
  await call(await linkMailedTo(email));
  const login = await post('/login', { email, password });
  const { id } = (await db.prepare('SELECT id FROM accounts WHERE email = ?').bind(email).first<{ id: string }>())!;
  return { email, password, id, cookie: cookieOf(login, 'tg_session') };
}

const codeAt = (secret: string, offsetSteps = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate({ timestamp: Date.now() + offsetSteps * 30_000 });

/** Turns two-factor on: the key shown, the first code, and the recovery codes shown once. */
async function enrol(cookie: string) {
  const begun = await (await post('/console/settings/2fa/begin', {}, cookie)).text();
  const secret = /id="totp-key">([A-Z2-7]+)</.exec(begun)![1]!;
  expect(begun).toContain('<svg');
  expect((await post('/console/settings/2fa/confirm', { code: '000000' === codeAt(secret) ? '111111' : '000000' }, cookie)).status).toBe(400);
  const first = codeAt(secret);
  const confirmed = await post('/console/settings/2fa/confirm', { code: first }, cookie);
  expect(confirmed.status).toBe(200);
  const codes = [...(await confirmed.text()).matchAll(/<li><code>([a-z2-7-]+)<\/code><\/li>/g)].map((m) => m[1]!);
  expect(codes).toHaveLength(10);
  return { secret, codes, first };
}

describe('two-factor sign-in', () => {
  it('turns on with a first code; then log-in asks for a code, each code working once', async () => {
    const s = await verifiedCustomer();
    const { secret, codes, first } = await enrol(s.cookie);
    // Nothing of it in clear in D1: the secret sealed, the codes hashed.
    const rows = JSON.stringify([
      ...(await db.prepare('SELECT * FROM second_factors WHERE owner = ?').bind(s.id).all()).results,
      ...(await db.prepare('SELECT * FROM recovery_codes WHERE owner = ?').bind(s.id).all()).results,
    ]);
    expect(rows).not.toContain(secret);
    for (const code of codes) expect(rows).not.toContain(code);
    expect(await (await call('/console/settings', { headers: { cookie: s.cookie } })).text()).toContain('10 recovery codes left');

    const login = await post('/login', { email: s.email, password: s.password });
    expect(login.headers.get('location')).toBe('/login/code');
    expect(setCookies(login).some((c) => c.startsWith('tg_session='))).toBe(false);
    const challenge = cookieOf(login, 'tg_2fa');
    expect((await post('/login/code', { code: '12345' }, challenge)).status).toBe(401);
    // The code the enrolment used was spent; the next step's is good (once).
    expect((await post('/login/code', { code: first }, challenge)).status).toBe(401);
    const passed = await post('/login/code', { code: codeAt(secret, 1) }, challenge);
    expect(passed.status).toBe(303);
    expect(passed.headers.get('location')).toBe('/console');
    expect((await call('/console', { headers: { cookie: cookieOf(passed, 'tg_session') } })).status).toBe(200);
    expect((await post('/login/code', { code: codeAt(secret, 1) }, challenge)).status).toBe(401); // the challenge is over

    // A recovery code signs in once.
    const again = cookieOf(await post('/login', { email: s.email, password: s.password }), 'tg_2fa');
    expect((await post('/login/code', { code: codes[0]!.toUpperCase() }, again)).status).toBe(303);
    const third = cookieOf(await post('/login', { email: s.email, password: s.password }), 'tg_2fa');
    expect((await post('/login/code', { code: codes[0]! }, third)).status).toBe(401);
    expect(await (await call('/console/settings', { headers: { cookie: s.cookie } })).text()).toContain('9 recovery codes left');
  });

  it('a challenge without its cookie, or expired, opens nothing', async () => {
    const s = await verifiedCustomer();
    const { secret } = await enrol(s.cookie);
    expect((await post('/login/code', { code: codeAt(secret, 1) })).status).toBe(401);
    const challenge = cookieOf(await post('/login', { email: s.email, password: s.password }), 'tg_2fa');
    await db.prepare("UPDATE login_challenges SET expires_at = '2000-01-01T00:00:00.000Z' WHERE owner = ?").bind(s.id).run();
    expect((await post('/login/code', { code: codeAt(secret, 1) }, challenge)).status).toBe(401);
    expect(JSON.stringify((await db.prepare('SELECT * FROM login_challenges').all()).results)).not.toContain(challenge.split('=')[1]);
  });

  it('throttles codes per account: after 10 wrong ones, even the right one waits', async () => {
    const s = await verifiedCustomer();
    const { secret } = await enrol(s.cookie);
    const challenge = cookieOf(await post('/login', { email: s.email, password: s.password }), 'tg_2fa');
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await post('/login/code', { code: `99999${i}` === codeAt(secret, 1) ? '000001' : `99999${i}` }, challenge)).status);
    expect(statuses).toEqual(Array(9).fill(401)); // the enrolment's wrong code was the first of ten
    expect((await post('/login/code', { code: codeAt(secret, 1) }, challenge)).status).toBe(429);
  });

  it('turns off, and makes new recovery codes, only with a current code', async () => {
    const s = await verifiedCustomer();
    const { secret, codes } = await enrol(s.cookie);
    expect((await post('/console/settings/2fa/change', { action: 'off', code: '000000' === codeAt(secret, 1) ? '111111' : '000000' }, s.cookie)).status).toBe(400);
    const fresh = await post('/console/settings/2fa/change', { action: 'codes', code: codes[3]! }, s.cookie);
    const newCodes = [...(await fresh.text()).matchAll(/<li><code>([a-z2-7-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(newCodes).toHaveLength(10);
    expect((await post('/console/settings/2fa/change', { action: 'off', code: codes[4]! }, s.cookie)).status).toBe(400); // the old codes are gone
    expect((await post('/console/settings/2fa/change', { action: 'off', code: codeAt(secret, 1) }, s.cookie)).status).toBe(200);
    const login = await post('/login', { email: s.email, password: s.password });
    expect(login.headers.get('location')).toBe('/console');
    const audit = await db.prepare("SELECT action FROM audit_log WHERE target = ? AND action LIKE 'account.two_factor%' ORDER BY id").bind(s.id).all();
    expect(audit.results.map((r: any) => r.action)).toEqual(['account.two_factor_on', 'account.two_factor_off']);
  });
});

describe('the operator, for a customer locked out', () => {
  it('turns two-factor off by hand: sessions end, the password alone signs in, and the audit log says who', async () => {
    const s = await verifiedCustomer();
    await enrol(s.cookie);
    const reset = await adminCall('DELETE', `/accounts/${s.id}/two-factor`);
    expect(reset.status).toBe(200);
    expect((await call('/console', { headers: { cookie: s.cookie }, redirect: 'manual' })).status).toBe(303);
    expect((await post('/login', { email: s.email, password: s.password })).headers.get('location')).toBe('/console');
    expect((await adminCall('DELETE', `/accounts/${s.id}/two-factor`)).status).toBe(400);
    const audit = await db.prepare("SELECT actor FROM audit_log WHERE target = ? AND action = 'account.two_factor_reset'").bind(s.id).first<{ actor: string }>();
    expect(audit?.actor).toBe('admin-api');
  });
});

describe('two-factor secrets in the vault', () => {
  it('a reseal after a key-encryption key rotation moves them too; codes keep working', async () => {
    const s = await verifiedCustomer();
    const { secret } = await enrol(s.cookie);
    await db.prepare('UPDATE second_factors SET ciphertext = ?, nonce = ?, kek_id = ? WHERE owner = ?')
      .bind(...Object.values(await seal(ORIGINAL_KEK, secret, totpRow(s.id))), s.id).run();
    expect((await adminCall('POST', '/provider-keys/reseal')).status).toBe(200);
    const row = await db.prepare('SELECT * FROM second_factors WHERE owner = ?').bind(s.id).first<any>();
    expect(row.kek_id).toBe('rotated');
    expect(await open(KEK, row, totpRow(s.id))).toBe(secret);
    await expect(open(KEK, row, totpRow('acct_someone_else'))).rejects.toThrow();
    const challenge = cookieOf(await post('/login', { email: s.email, password: s.password }), 'tg_2fa');
    expect((await post('/login/code', { code: codeAt(secret, 1) }, challenge)).status).toBe(303);
  });
});
