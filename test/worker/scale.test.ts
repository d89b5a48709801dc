import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  accountObject, adminCall, balanceOf, call, db, expectLedgerInvariant, newAccount, newKey, newModel, openHolds, sleep, unique, usageRow,
} from './helpers';

/**
 * The account's object on the hot path (README, "Scale"): every money guarantee holds with
 * many keys at once, with D1 debits and credits while the object holds a reservation,
 * across an eviction and a retried flush; D1 grows with flushes, not requests; and what
 * an isolate caches goes stale no longer than documented.
 */
const hello = [{ role: 'user', content: 'Say hello' }];
const PRICES = { input_price: 2, output_price: 8 };
const COST = 14 * 2 + 37 * 8; // µ$ for the recorded gpt-4o answer: 14 in, 37 out
const post = (key: string, json: Record<string, unknown>) => call('/v1/chat/completions', { method: 'POST', key, json });

async function ledgerRows(accountId: string) {
  const { results } = await db.prepare('SELECT kind, amount, requests FROM ledger WHERE account_id = ? ORDER BY id').bind(accountId).all<{ kind: string; amount: number; requests: number | null }>();
  return results;
}

describe('many keys of one account bursting together', () => {
  it('admits no more than the balance covers, across keys, and charges each key what it spent', async () => {
    const account = await newAccount({ credit: 0.085 }); // about 10 holds of ≈ $0.0082
    const keys = await Promise.all(Array.from({ length: 5 }, () => newKey(account.id)));
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: 'delay=5' }], PRICES);
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => post(keys[i % keys.length]!.key, { model, messages: hello, max_tokens: 1000 })),
    );
    const ok = responses.filter((r) => r.status === 200);
    expect(responses.every((r) => r.status === 200 || r.status === 402)).toBe(true);
    expect(ok.length).toBeGreaterThanOrEqual(10);
    await Promise.all(ok.map((r) => usageRow(r.headers.get('x-request-id')!, 15_000, account.id)));
    await Promise.all(responses.map((r) => r.body?.cancel()));
    expect(85_000 - (await balanceOf(account.id))).toBe(ok.length * COST);
    const spent = await db.prepare('SELECT COALESCE(SUM(spent), 0) AS s FROM api_keys WHERE account_id = ?').bind(account.id).first<{ s: number }>();
    expect(spent!.s).toBe(ok.length * COST);
    await expectLedgerInvariant(account.id);
  });
});

describe('D1 grows with flushes, not requests', () => {
  it('charges 30 requests of two keys in one ledger row and one daily total per key, within the flush delay', async () => {
    const account = await newAccount({ credit: 10 });
    const [a, b] = await Promise.all([newKey(account.id), newKey(account.id)]);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => post((i % 2 ? a : b)!.key, { model, messages: hello })));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    await Promise.all(responses.map((r) => usageRow(r.headers.get('x-request-id')!, 5000, account.id)));
    // Nobody flushes by hand: the object's alarm does, FLUSH_DELAY_SECONDS (2) after the first charge.
    const deadline = Date.now() + 5000;
    while ((await ledgerRows(account.id)).length < 2 && Date.now() < deadline) await sleep(100);
    expect(await ledgerRows(account.id)).toEqual([
      { kind: 'adjustment', amount: 10_000_000, requests: null },
      { kind: 'settlement', amount: -30 * COST, requests: 30 },
    ]);
    const { results: daily } = await db
      .prepare('SELECT key_id, requests, failed, input_tokens, output_tokens, cost FROM usage_daily WHERE account_id = ? ORDER BY key_id')
      .bind(account.id)
      .all();
    expect(daily).toEqual([a!.id, b!.id].sort().map((key_id) => ({ key_id, requests: 15, failed: 0, input_tokens: 15 * 14, output_tokens: 15 * 37, cost: 15 * COST })));
    await expectLedgerInvariant(account.id);
  });
});

describe("D1 debits and credits while the object holds a reservation", () => {
  it('sees a top-up at once, lets a debit take all the credit no request in flight holds, and never goes below zero', async () => {
    const account = await newAccount({ credit: 0.01 });
    const { key } = await newKey(account.id);
    const stream = (await newModel([{ fixture: 'openai/chat-stream-text-gpt-4o.sse', options: 'delay=80' }], PRICES)).model;
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    // The object reserves the whole $0.01 for a long stream in flight.
    const inFlight = await post(key, { model: stream, messages: hello, stream: true, max_tokens: 500 });
    const reader = inFlight.body!.getReader();
    await reader.read();
    const reserved = async () => (await db.prepare('SELECT reserved FROM accounts WHERE id = ?').bind(account.id).first<{ reserved: number }>())!.reserved;
    expect(await reserved()).toBe(10_000);
    // A request that $0.01 cannot cover is refused; after a top-up in D1 it is not.
    expect((await post(key, { model, messages: hello, max_tokens: 5000 })).status).toBe(402);
    await adminCall('POST', `/accounts/${account.id}/credit`, { amount: 1, reason: 'top-up' });
    const big = await post(key, { model, messages: hello, max_tokens: 5000 });
    expect(big.status).toBe(200);
    await usageRow(big.headers.get('x-request-id')!, 5000, account.id);
    // A debit takes back everything but what the stream in flight holds…
    const spendable = (await adminCall('GET', `/accounts/${account.id}`)).body.balance as number;
    const tooMuch = await adminCall('POST', `/accounts/${account.id}/credit`, { amount: -(spendable + 0.000001), reason: 'refund' });
    expect(tooMuch.status).toBe(400);
    const debit = await adminCall('POST', `/accounts/${account.id}/credit`, { amount: -spendable, reason: 'refund' });
    expect(debit.status).toBe(200);
    expect(debit.body.balance).toBe(0);
    expect(await openHolds(account.id)).toBe(1);
    // …and the stream, once it ends, is charged from its hold: nothing goes below zero.
    while (!(await reader.read()).done);
    const row = await usageRow(inFlight.headers.get('x-request-id')!, 5000, account.id);
    expect(row.cost).toBeGreaterThan(0);
    await expectLedgerInvariant(account.id);
    expect(await balanceOf(account.id)).toBeGreaterThanOrEqual(0);
  });
});

describe('crash safety', () => {
  it('settles a request whose object was evicted while it streamed', async () => {
    const account = await newAccount({ credit: 10 });
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', options: 'delay=2' }], PRICES);
    const res = await post(key, { model, messages: hello, stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    await evictDurableObject(accountObject(account.id));
    while (!(await reader.read()).done);
    const row = await usageRow(res.headers.get('x-request-id')!, 5000, account.id);
    expect(row).toMatchObject({ status: 'success', cost: 16 * 2 + 300 * 8 });
    expect(10_000_000 - (await balanceOf(account.id))).toBe(16 * 2 + 300 * 8);
    await expectLedgerInvariant(account.id);
  });

  it("keeps a key's spend across an eviction, flushed or not, so its spend limit still holds", async () => {
    const account = await newAccount({ credit: 10 });
    const key = await newKey(account.id, { spend_limit: 0.03 }); // each request holds ≈ $0.0082 at max_tokens 1000
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    const stub = accountObject(account.id);
    const spend = async () => usageRow((await post(key.key, { model, messages: hello, max_tokens: 100 })).headers.get('x-request-id')!, 5000, account.id);
    for (let i = 0; i < 40; i++) await spend(); // 40 × 324 µ$ = 12,960 µ$
    await stub.flushNow(account.id);
    for (let i = 0; i < 40; i++) await spend(); // and 12,960 µ$ more, not flushed
    await evictDurableObject(stub);
    // 25,920 µ$ spent of 30,000: a hold of ≈ 8,200 µ$ no longer fits, a small one does
    const big = await post(key.key, { model, messages: hello, max_tokens: 1000 });
    expect(big.status).toBe(402);
    expect(((await big.json()) as any).error.code).toBe('spend_limit_reached');
    expect((await post(key.key, { model, messages: hello, max_tokens: 50 })).status).toBe(200);
    await expectLedgerInvariant(account.id, false);
  });

  it('applies a flush once however often it is retried (its answer lost, the object restarted)', async () => {
    const account = await newAccount({ credit: 10 });
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    for (let i = 0; i < 3; i++) await usageRow((await post(key, { model, messages: hello })).headers.get('x-request-id')!, 5000, account.id);
    const stub = accountObject(account.id);
    await stub.flushNow(account.id);
    const after = { balance: await balanceOf(account.id), ledger: await ledgerRows(account.id) };
    expect(after.balance).toBe(10_000_000 - 3 * COST);
    // As if D1 had applied the flush but its answer never came back: the object still
    // thinks the flush is pending, and after a restart it retries it.
    await runInDurableObject(stub, (_instance, state) => {
      const seq = state.storage.sql.exec<{ seq: number }>('SELECT seq FROM funds').one().seq;
      state.storage.sql.exec('UPDATE funds SET seq = ?', seq - 1);
      state.storage.sql.exec('UPDATE keys SET spent = spent - (SELECT COALESCE(SUM(cost), 0) FROM usage WHERE flush = ?1 AND key_id = keys.id)', seq);
    });
    await evictDurableObject(stub);
    // The restarted object promises nothing new until it knows where D1 stands, then retries.
    const next = await post(key, { model, messages: hello });
    expect(next.status).toBe(200);
    await usageRow(next.headers.get('x-request-id')!, 5000, account.id);
    await stub.flushNow(account.id);
    const rows = await ledgerRows(account.id);
    expect(rows.slice(0, after.ledger.length)).toEqual(after.ledger);
    expect(rows.slice(after.ledger.length)).toEqual([{ kind: 'settlement', amount: -COST, requests: 1 }]);
    expect(await balanceOf(account.id)).toBe(10_000_000 - 4 * COST);
    const spent = await db.prepare('SELECT spent FROM api_keys WHERE account_id = ?').bind(account.id).first<{ spent: number }>();
    expect(spent!.spent).toBe(4 * COST);
    await expectLedgerInvariant(account.id);
  });
});

describe('what isolates cache', () => {
  it('refuses a revoked key on the very next request from an isolate that still caches it', async () => {
    const account = await newAccount({ credit: 10 });
    const key = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    expect((await post(key.key, { model, messages: hello })).status).toBe(200); // cached here now
    // Revoked the way DELETE /admin/keys does it from another isolate: D1, then the account's object.
    await db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').bind(new Date().toISOString(), key.id).run();
    await accountObject(account.id).revokeKey(account.id, key.id);
    const res = await post(key.key, { model, messages: hello });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.message).toMatch(/revoked/);
    await expectLedgerInvariant(account.id);
  });

  it('charges a price changed in D1 by another isolate from CACHE_SECONDS (2 s in tests) on, everywhere', async () => {
    const account = await newAccount({ credit: 10 });
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    await adminCall('PUT', `/models/${unique('other')}`, PRICES); // this isolate reloads its catalog on the next request
    const cost = async () => (await usageRow((await post(key, { model, messages: hello })).headers.get('x-request-id')!, 5000, account.id)).cost;
    expect(await cost()).toBe(COST);
    const changedAt = Date.now();
    await db.prepare('UPDATE models SET output_price = ? WHERE id = ?').bind(16_000_000, model).run();
    expect(await cost()).toBe(COST); // still this isolate's copy
    await sleep(2000 - (Date.now() - changedAt));
    expect(await cost()).toBe(14 * 2 + 37 * 16);
    await expectLedgerInvariant(account.id);
  });
});
