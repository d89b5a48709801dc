import { afterAll, describe, expect, it } from 'vitest';
import { adminCall, call, db, expectLedgerInvariant, flushAccounts, newAccount, newKey } from './helpers';

/** Redemption codes (token packs), per DESIGN.md's admin table and POST /v1/billing/redeem. */
afterAll(flushAccounts);

async function codes(count: number, amount: number, extra: Record<string, unknown> = {}) {
  const { status, body } = await adminCall('POST', '/redemption-codes', { count, amount, ...extra });
  expect(status).toBe(201);
  return body.data as Array<{ id: string; code: string; amount: number; expires_at: string | null }>;
}

const redeem = (key: string, code: string) => call('/v1/billing/redeem', { method: 'POST', key, json: { code } });

async function customer(credit = 0) {
  const account = await newAccount({ credit });
  return { account, key: (await newKey(account.id)).key };
}

describe('redemption codes', () => {
  it('are random, shown once and stored only as hashes', async () => {
    const made = await codes(5, 2.5, { note: 'launch promo' });
    expect(new Set(made.map((c) => c.code)).size).toBe(5);
    for (const c of made) expect(c.code).toMatch(/^([0-9A-HJKMNP-TV-Z]{5}-){5}[0-9A-HJKMNP-TV-Z]{5}$/);
    const rows = await db.prepare(`SELECT * FROM redemption_codes WHERE id IN (${made.map(() => '?').join(',')})`).bind(...made.map((c) => c.id)).all();
    const stored = JSON.stringify(rows.results);
    for (const c of made) {
      expect(stored).not.toContain(c.code);
      expect(stored).not.toContain(c.code.replace(/-/g, ''));
    }
    const list = await adminCall('GET', '/redemption-codes');
    const listed = list.body.data.filter((r: { id: string }) => made.some((c) => c.id === r.id));
    expect(listed).toHaveLength(5);
    expect(listed[0]).toMatchObject({ amount: 2.5, state: 'unused', note: 'launch promo', redeemed_by: null });
    expect(JSON.stringify(list.body)).not.toContain(made[0]!.code);
  });

  it('credit the account exactly once, as a redemption ledger row, however many redeem it at once', async () => {
    const [code] = await codes(1, 3);
    const a = await customer(1);
    const b = await customer(1);
    const attempts = await Promise.all([
      ...Array.from({ length: 6 }, () => redeem(a.key, code!.code)),
      ...Array.from({ length: 6 }, () => redeem(b.key, code!.code)),
    ]);
    const ok = attempts.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    const winner = (await ok[0]!.clone().json()) as { balance: number; credited: number };
    expect(winner).toEqual({ balance: 4, credited: 3, currency: 'usd' });
    for (const r of attempts.filter((r) => r.status !== 200)) {
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: 'invalid_redemption_code', param: 'code', type: 'invalid_request_error' });
    }
    const rows = await db.prepare("SELECT account_id, amount, request_id FROM ledger WHERE kind = 'redemption' AND request_id = ?").bind(code!.id).all();
    expect(rows.results).toHaveLength(1);
    expect(rows.results[0]!.amount).toBe(3_000_000);
    const list = await adminCall('GET', '/redemption-codes');
    expect(list.body.data.find((r: { id: string }) => r.id === code!.id)).toMatchObject({ state: 'redeemed', redeemed_by: rows.results[0]!.account_id });
    await expectLedgerInvariant(a.account.id);
    await expectLedgerInvariant(b.account.id);
  });

  it('accept the code typed in lower case, with spaces instead of dashes', async () => {
    const [code] = await codes(1, 1);
    const c = await customer();
    const res = await redeem(c.key, ` ${code!.code.toLowerCase().replace(/-/g, ' ')} `);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { credited: number }).credited).toBe(1);
  });

  it('refuse unknown, disabled and expired codes with 400 invalid_redemption_code, changing nothing', async () => {
    const c = await customer(2);
    const [disabled] = await codes(1, 5);
    expect((await adminCall('DELETE', `/redemption-codes/${disabled!.id}`)).status).toBe(204);
    expect((await adminCall('DELETE', `/redemption-codes/${disabled!.id}`)).status).toBe(404);
    const [expired] = await codes(1, 5, { expires_at: new Date(Date.now() + 1500).toISOString() });
    await new Promise((r) => setTimeout(r, 1600));
    for (const code of [disabled!.code, expired!.code, 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE-FFFFF', 'short']) {
      const res = await redeem(c.key, code);
      expect(res.status, code).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_redemption_code');
    }
    const states = (await adminCall('GET', '/redemption-codes')).body.data;
    expect(states.find((r: { id: string }) => r.id === disabled!.id).state).toBe('disabled');
    expect(states.find((r: { id: string }) => r.id === expired!.id).state).toBe('expired');
    expect((await db.prepare("SELECT COUNT(*) AS n FROM ledger WHERE account_id = ? AND kind = 'redemption'").bind(c.account.id).first<{ n: number }>())!.n).toBe(0);
    await expectLedgerInvariant(c.account.id);
  });

  it('rate-limit failed attempts per account: the 11th failure in 15 minutes is a 429, even for a good code', async () => {
    const c = await customer();
    const [good] = await codes(1, 1);
    for (let i = 0; i < 10; i++) expect((await redeem(c.key, `NOPE${i}-AAAAA-BBBBB-CCCCC-DDDDD-EEEE`)).status).toBe(400);
    const limited = await redeem(c.key, good!.code);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: { code: string; type: string } }).error).toMatchObject({ code: 'too_many_attempts', type: 'rate_limit_error' });
    // Another account is not affected.
    const other = await customer();
    expect((await redeem(other.key, good!.code)).status).toBe(200);
  });

  it('validate the admin body: count, amount and expiry', async () => {
    for (const body of [{ count: 0, amount: 1 }, { count: 1001, amount: 1 }, { count: 1, amount: 0 }, { count: 1, amount: -1 }, { count: 1, amount: 1, expires_at: 'soon' }]) {
      const res = await adminCall('POST', '/redemption-codes', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.param).toBeTruthy();
    }
  });
});
