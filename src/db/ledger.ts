import { now } from './ids';

/**
 * The only code that changes a balance. Every change is a ledger row plus the balance
 * update, in one D1 batch (one transaction): the row is inserted only if the balance
 * covers it (and only once per (request_id, kind)); the balance moves only if that insert
 * happened (`changes() = 1`). So balance = SUM(ledger.amount) always, the balance never
 * goes below zero, and there is no read-then-write gap (D1 runs one writer at a time).
 * A debit here never takes what the account's object has reserved (accounts.reserved):
 * that money may already be promised to requests in flight. Callers that debit ask the
 * object to give its unused reservation back first (account/client.ts releaseReserve).
 */
export type LedgerKind = 'signup' | 'adjustment' | 'hold' | 'settlement' | 'release' | 'topup' | 'refund' | 'redemption';

export interface LedgerEntry {
  accountId: string;
  kind: LedgerKind;
  amount: number; // signed micro-dollars
  requestId?: string | null;
  reason?: string | null;
}

/** An extra condition for a change, checked inside its INSERT (parameters from ?7 on):
 *  e.g. "the Stripe event is new" or "the request's hold is still open". */
export interface Guard {
  sql: string;
  binds: unknown[];
}

export function ledgerStatements(db: D1Database, e: LedgerEntry, guard?: Guard): [D1PreparedStatement, D1PreparedStatement] {
  return [
    db
      .prepare(
        `INSERT INTO ledger (account_id, kind, amount, balance_after, request_id, reason, created_at)
         SELECT id, ?2, ?3, balance + ?3, ?4, ?5, ?6 FROM accounts WHERE id = ?1 AND balance - reserved + ?3 >= 0
         ${guard ? `AND (${guard.sql})` : ''}
         ON CONFLICT DO NOTHING`,
      )
      .bind(e.accountId, e.kind, e.amount, e.requestId ?? null, e.reason ?? null, now(), ...(guard?.binds ?? [])),
    db
      .prepare(`UPDATE accounts SET balance = balance + ?2 WHERE id = ?1 AND changes() = 1 RETURNING balance`)
      .bind(e.accountId, e.amount),
  ];
}

/**
 * A debit of up to `max` micro-dollars: as much as the balance holds beyond what is
 * reserved, never more, so it can never go below zero. For charges the balance must pay even when it cannot pay in
 * full: a settlement above its hold, a refunded or disputed top-up already spent.
 */
export function cappedDebitStatements(
  db: D1Database,
  e: Omit<LedgerEntry, 'amount'> & { max: number },
  guard?: Guard,
): [D1PreparedStatement, D1PreparedStatement] {
  return [
    db
      .prepare(
        `INSERT INTO ledger (account_id, kind, amount, balance_after, request_id, reason, created_at)
         SELECT id, ?2, -MIN(?3, balance - reserved), balance - MIN(?3, balance - reserved), ?4, ?5, ?6 FROM accounts
         WHERE id = ?1 AND ?3 > 0 ${guard ? `AND (${guard.sql})` : ''}
         ON CONFLICT DO NOTHING`,
      )
      .bind(e.accountId, e.kind, e.max, e.requestId ?? null, e.reason ?? null, now(), ...(guard?.binds ?? [])),
    db.prepare('UPDATE accounts SET balance = balance - MIN(?2, balance - reserved) WHERE id = ?1 AND changes() = 1').bind(e.accountId, e.max),
  ];
}

/** Applies one entry on its own; returns the new balance, or null when it was refused
 *  (the balance would go below zero) or had already been applied. */
export async function applyLedgerEntry(db: D1Database, e: LedgerEntry): Promise<number | null> {
  const results = await db.batch<{ balance: number }>(ledgerStatements(db, e));
  return results[1]?.results[0]?.balance ?? null;
}

/** What a flush adds to a row of totals: its requests, failures, tokens and µ$. */
interface Counts {
  requests: number;
  failed: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  cost: number;
}

/** One day's totals for one key and model, as a flush adds them to usage_daily. */
export interface DailyTotal extends Counts {
  day: string;
  key_id: string;
  model: string;
}

/** One hour's totals for one model and channel ('' = none reached), as a flush adds them
 *  to usage_hourly; latency_ms is summed; capped requests and their uncharged µ$ counted. */
export interface HourlyTotal extends Counts {
  hour: string;
  model: string;
  channel: string;
  latency_ms: number;
  capped: number;
  uncharged: number;
}

/** A flush of an account's object: the charges of `requests` settled requests, at most one
 *  ledger row, and the reservation the object wants to hold afterwards. */
export interface Flush {
  accountId: string;
  /** This flush's number: one more than the last applied (accounts.flushed_seq). */
  seq: number;
  /** µ$ the requests were charged, in all. */
  amount: number;
  requests: number;
  /** µ$ each key was charged. */
  keys: Array<{ key_id: string; amount: number }>;
  daily: DailyTotal[];
  hourly: HourlyTotal[];
  /** µ$ the object may spend after the flush (capped at the balance in SQL). */
  reserve: number;
}

const flushId = (accountId: string, seq: number) => `flush:${accountId}:${seq}`;

/**
 * One D1 transaction per flush, applied exactly once: every statement runs only while
 * accounts.flushed_seq is the flush before this one, and the last sets it to this one, so a
 * retry of a flush that was applied (its answer lost) changes nothing and reads back the
 * state it left. The charge is one 'settlement' row for all the requests; the reservation
 * shrinks by what was spent and is set to what the object asked for, never above the
 * balance. The object never spends more than its reservation, so the balance stays ≥ 0.
 * Returns the statements; flushOutcome() reads the last one's row.
 */
export function flushStatements(db: D1Database, f: Flush): D1PreparedStatement[] {
  const applies = 'EXISTS (SELECT 1 FROM accounts WHERE id = ?1 AND flushed_seq = ?2 - 1)';
  return [
    db
      .prepare(
        `INSERT INTO ledger (account_id, kind, amount, balance_after, request_id, reason, requests, created_at)
         SELECT id, 'settlement', -CAST(?3 AS INTEGER), balance - CAST(?3 AS INTEGER), ?4, ?5, ?6, ?7
         FROM accounts WHERE id = ?1 AND flushed_seq = ?2 - 1 AND ?3 > 0
         ON CONFLICT DO NOTHING`,
      )
      .bind(f.accountId, f.seq, f.amount, flushId(f.accountId, f.seq), `API use: ${f.requests} request${f.requests === 1 ? '' : 's'}`, f.requests, now()),
    db
      .prepare(
        `INSERT INTO usage_daily (day, account_id, key_id, model, requests, failed, input_tokens, output_tokens, cached_tokens, cost)
         SELECT t.value ->> 'day', ?1, t.value ->> 'key_id', t.value ->> 'model', t.value ->> 'requests', t.value ->> 'failed',
                t.value ->> 'input_tokens', t.value ->> 'output_tokens', t.value ->> 'cached_tokens', t.value ->> 'cost'
         FROM json_each(?3) t WHERE ${applies}
         ON CONFLICT (day, account_id, key_id, model) DO UPDATE SET
           requests = requests + excluded.requests, failed = failed + excluded.failed,
           input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
           cached_tokens = cached_tokens + excluded.cached_tokens, cost = cost + excluded.cost`,
      )
      .bind(f.accountId, f.seq, JSON.stringify(f.daily)),
    db
      .prepare(
        `INSERT INTO usage_hourly (hour, model, channel, requests, failed, input_tokens, output_tokens, cached_tokens, cost, latency_ms, capped, uncharged)
         SELECT t.value ->> 'hour', t.value ->> 'model', t.value ->> 'channel', t.value ->> 'requests', t.value ->> 'failed',
                t.value ->> 'input_tokens', t.value ->> 'output_tokens', t.value ->> 'cached_tokens', t.value ->> 'cost', t.value ->> 'latency_ms',
                t.value ->> 'capped', t.value ->> 'uncharged'
         FROM json_each(?3) t WHERE ${applies}
         ON CONFLICT (hour, model, channel) DO UPDATE SET
           requests = requests + excluded.requests, failed = failed + excluded.failed,
           input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
           cached_tokens = cached_tokens + excluded.cached_tokens, cost = cost + excluded.cost, latency_ms = latency_ms + excluded.latency_ms,
           capped = capped + excluded.capped, uncharged = uncharged + excluded.uncharged`,
      )
      .bind(f.accountId, f.seq, JSON.stringify(f.hourly)),
    db
      .prepare(
        `UPDATE api_keys SET spent = spent + (SELECT t.value ->> 'amount' FROM json_each(?3) t WHERE t.value ->> 'key_id' = api_keys.id)
         WHERE id IN (SELECT t.value ->> 'key_id' FROM json_each(?3) t) AND ${applies}`,
      )
      .bind(f.accountId, f.seq, JSON.stringify(f.keys)),
    db
      .prepare(
        `UPDATE accounts SET balance = balance - CAST(?3 AS INTEGER),
           reserved = MIN(balance - CAST(?3 AS INTEGER), CAST(?4 AS INTEGER)), flushed_seq = ?2
         WHERE id = ?1 AND flushed_seq = ?2 - 1`,
      )
      .bind(f.accountId, f.seq, f.amount, Math.min(f.reserve, Number.MAX_SAFE_INTEGER)),
    db.prepare('SELECT balance, reserved, flushed_seq FROM accounts WHERE id = ?').bind(f.accountId),
  ];
}

export interface AccountFunds {
  balance: number;
  reserved: number;
  flushed_seq: number;
}

/** The account's funds after a flush batch: the last statement's row. */
export const flushOutcome = (results: D1Result[]): AccountFunds | null =>
  (results.at(-1)?.results[0] as AccountFunds | undefined) ?? null;

/** An account's funds as D1 has them now (for the exact balance). */
export const readFunds = (db: D1Database, accountId: string): Promise<AccountFunds | null> =>
  db.prepare('SELECT balance, reserved, flushed_seq FROM accounts WHERE id = ?').bind(accountId).first<AccountFunds>();

export interface LedgerRow {
  id: number;
  kind: LedgerKind;
  amount: number;
  balance_after: number;
  request_id: string | null;
  reason: string | null;
  /** For a flush's settlement row: the number of requests it charges. */
  requests: number | null;
  created_at: string;
}

export async function listLedger(db: D1Database, accountId: string, limit = 1000): Promise<LedgerRow[]> {
  const { results } = await db
    .prepare(
      `SELECT id, kind, amount, balance_after, request_id, reason, requests, created_at
       FROM ledger WHERE account_id = ? ORDER BY id DESC LIMIT ?`,
    )
    .bind(accountId, limit)
    .all<LedgerRow>();
  return results;
}
