import { describe, expect, it } from 'vitest';
import { applyLedgerEntry, cappedDebitStatements, flushOutcome, flushStatements, type Flush } from '../../src/db/ledger';
import { db, expectLedgerInvariant, newAccount } from './helpers';

/**
 * src/db/ledger.ts, the only code that changes a balance, on its own: flushes apply once,
 * never reserve more than the balance, and debits never take what is reserved. And the
 * invariant every other test ends with is shown to catch a broken ledger.
 */
const funds = (id: string) =>
  db.prepare('SELECT balance, reserved, flushed_seq FROM accounts WHERE id = ?').bind(id).first<{ balance: number; reserved: number; flushed_seq: number }>();
const settlements = (id: string) =>
  db.prepare("SELECT amount, requests, request_id FROM ledger WHERE account_id = ? AND kind = 'settlement' ORDER BY id").bind(id).all().then((r) => r.results);

const flush = (accountId: string, seq: number, f: Partial<Flush> = {}): Flush => ({
  accountId, seq, amount: 0, requests: 0, keys: [], daily: [], hourly: [], reserve: Number.MAX_SAFE_INTEGER, ...f,
});

describe('flushes', () => {
  it('apply exactly once, in order, however often a flush is sent', async () => {
    const account = await newAccount({ credit: 1 });
    const first = flush(account.id, 1, { amount: 1234, requests: 3, reserve: 500_000 });
    const results = await db.batch(flushStatements(db, first));
    expect(flushOutcome(results)).toEqual({ balance: 998_766, reserved: 500_000, flushed_seq: 1 });
    // sent again (its answer lost): nothing changes, and it reads back what it left
    expect(flushOutcome(await db.batch(flushStatements(db, first)))).toEqual({ balance: 998_766, reserved: 500_000, flushed_seq: 1 });
    // one that skips a number, or repeats an older one with other amounts, changes nothing either
    expect(flushOutcome(await db.batch(flushStatements(db, flush(account.id, 3, { amount: 5, requests: 1 })))))
      .toEqual({ balance: 998_766, reserved: 500_000, flushed_seq: 1 });
    expect(flushOutcome(await db.batch(flushStatements(db, flush(account.id, 1, { amount: 99, requests: 9 })))))
      .toEqual({ balance: 998_766, reserved: 500_000, flushed_seq: 1 });
    expect(await settlements(account.id)).toEqual([{ amount: -1234, requests: 3, request_id: `flush:${account.id}:1` }]);
    await expectLedgerInvariant(account.id);
  });

  it('never reserve more than the balance, and write no ledger row when nothing was charged', async () => {
    const account = await newAccount({ credit: 1 });
    await db.batch(flushStatements(db, flush(account.id, 1)));
    expect(await funds(account.id)).toEqual({ balance: 1_000_000, reserved: 1_000_000, flushed_seq: 1 });
    await db.batch(flushStatements(db, flush(account.id, 2, { amount: 400_000, requests: 2, reserve: 0 })));
    expect(await funds(account.id)).toEqual({ balance: 600_000, reserved: 0, flushed_seq: 2 });
    expect(await settlements(account.id)).toHaveLength(1);
  });

  it('add daily totals and key spends, once', async () => {
    const account = await newAccount({ credit: 1 });
    await db.prepare("INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_at) VALUES (?, ?, 'k', ?, 'sk-x', '')")
      .bind(`key_${account.id}`, account.id, `hash_${account.id}`).run();
    const day = { day: '2026-12-02', key_id: `key_${account.id}`, model: 'm', requests: 2, failed: 1, input_tokens: 10, output_tokens: 20, cached_tokens: 5, cost: 300 };
    const f = flush(account.id, 1, { amount: 300, requests: 2, keys: [{ key_id: `key_${account.id}`, amount: 300 }], daily: [day] });
    await db.batch(flushStatements(db, f));
    await db.batch(flushStatements(db, f));
    await db.batch(flushStatements(db, { ...f, seq: 2 }));
    const total = await db.prepare('SELECT requests, failed, input_tokens, output_tokens, cached_tokens, cost FROM usage_daily WHERE account_id = ?').bind(account.id).first();
    expect(total).toEqual({ requests: 4, failed: 2, input_tokens: 20, output_tokens: 40, cached_tokens: 10, cost: 600 });
    const key = await db.prepare('SELECT spent FROM api_keys WHERE id = ?').bind(`key_${account.id}`).first<{ spent: number }>();
    expect(key!.spent).toBe(600);
    await expectLedgerInvariant(account.id);
  });
});

describe('debits never take what is reserved', () => {
  it('refuses an adjustment that would, and caps a refund at what is not reserved', async () => {
    const account = await newAccount({ credit: 1 });
    await db.batch(flushStatements(db, flush(account.id, 1, { reserve: 300_000 })));
    expect(await applyLedgerEntry(db, { accountId: account.id, kind: 'adjustment', amount: -700_001 })).toBeNull();
    expect(await applyLedgerEntry(db, { accountId: account.id, kind: 'adjustment', amount: -600_000 })).toBe(400_000);
    await db.batch(cappedDebitStatements(db, { accountId: account.id, kind: 'refund', max: 1_000_000, requestId: crypto.randomUUID() }));
    expect(await funds(account.id)).toEqual({ balance: 300_000, reserved: 300_000, flushed_seq: 1 });
    await expectLedgerInvariant(account.id);
  });
});

describe('the ledger invariant every test ends with', () => {
  it('fails on a balance that is not the sum of its ledger rows', async () => {
    const account = await newAccount({ credit: 1 });
    await expectLedgerInvariant(account.id);
    await db.prepare('UPDATE accounts SET balance = balance + 1 WHERE id = ?').bind(account.id).run();
    await expect(expectLedgerInvariant(account.id)).rejects.toThrow();
    await db.prepare('UPDATE accounts SET balance = balance - 1 WHERE id = ?').bind(account.id).run();
  });
});
