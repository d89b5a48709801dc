import { now } from './ids';

/**
 * The only code that changes a balance. Every change is a ledger row plus the balance
 * update, in one D1 batch (one transaction): the row is inserted only if the balance
 * covers it (and only once per (request_id, kind)); the balance moves only if that insert
 * happened (`changes() = 1`). So balance = SUM(ledger.amount) always, the balance never
 * goes below zero, and there is no read-then-write gap (D1 runs one writer at a time).
 */
export type LedgerKind = 'signup' | 'adjustment' | 'hold' | 'settlement' | 'release' | 'topup' | 'refund';

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
         SELECT id, ?2, ?3, balance + ?3, ?4, ?5, ?6 FROM accounts WHERE id = ?1 AND balance + ?3 >= 0
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
 * A debit of up to `max` micro-dollars: as much as the balance holds, never more, so it
 * can never go below zero. For charges the balance must pay even when it cannot pay in
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
         SELECT id, ?2, -MIN(?3, balance), balance - MIN(?3, balance), ?4, ?5, ?6 FROM accounts
         WHERE id = ?1 AND ?3 > 0 ${guard ? `AND (${guard.sql})` : ''}
         ON CONFLICT DO NOTHING`,
      )
      .bind(e.accountId, e.kind, e.max, e.requestId ?? null, e.reason ?? null, now(), ...(guard?.binds ?? [])),
    db.prepare('UPDATE accounts SET balance = balance - MIN(?2, balance) WHERE id = ?1 AND changes() = 1').bind(e.accountId, e.max),
  ];
}

/** Applies one entry on its own; returns the new balance, or null when it was refused
 *  (the balance would go below zero) or had already been applied. */
export async function applyLedgerEntry(db: D1Database, e: LedgerEntry): Promise<number | null> {
  const results = await db.batch<{ balance: number }>(ledgerStatements(db, e));
  return results[1]?.results[0]?.balance ?? null;
}

/** What sizes a hold, from the request alone: see billing/hold.ts for the bound. */
export interface HoldSize {
  promptTokens: number;
  /** Output tokens per choice the request allows; null = the model's maximum, else the default. */
  outputCap: number | null;
  choices: number;
}

/**
 * Statements that place a credit hold, to run in the same batch as the key and catalog
 * read: the worst-case cost, computed from the model's prices exactly as holdMicros()
 * does (in integers: D1 binds JS numbers as REAL, so each is CAST before the division), is
 * debited if (and only if) the key exists, is not revoked or expired, may use the model
 * (its group and the key's allowlist, as modelAllowed() decides) on an account without an
 * open dispute, the balance covers it and the key's spend limit leaves room for it — so a
 * request refused for access leaves no ledger row behind. Then the balance, the key's
 * spend and the open-holds row follow the ledger row, or nothing happens.
 * readHold() reads the outcome from the batch's results.
 */
export function holdStatements(
  db: D1Database,
  h: { requestId: string; keyHash: string; modelId: string; size: HoldSize; defaultMaxOutput: number },
): D1PreparedStatement[] {
  const at = now();
  const hold = "(SELECT amount FROM ledger WHERE request_id = ?1 AND kind = 'hold')";
  return [
    db
      .prepare(
        `INSERT INTO ledger (account_id, kind, amount, balance_after, request_id, reason, created_at)
         SELECT a.id, 'hold', -h.amount, a.balance - h.amount, ?1, NULL, ?2
         FROM api_keys k JOIN accounts a ON a.id = k.account_id,
           (SELECT (CAST(?4 AS INTEGER) * MAX(input_price, COALESCE(cached_input_price, 0))
                    + COALESCE(CAST(?5 AS INTEGER), max_output_tokens, CAST(?6 AS INTEGER)) * CAST(?7 AS INTEGER) * output_price
                    + 999999) / 1000000 AS amount, groups
            FROM models WHERE id = ?3) h
         WHERE k.key_hash = ?8 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?2)
           AND (h.groups IS NULL OR EXISTS (SELECT 1 FROM json_each(h.groups) WHERE value = a.group_name))
           AND (k.models IS NULL OR EXISTS (SELECT 1 FROM json_each(k.models) WHERE value = ?3))
           AND NOT EXISTS (SELECT 1 FROM disputes d WHERE d.account_id = a.id AND d.status = 'open')
           AND a.balance >= h.amount AND (k.spend_limit IS NULL OR k.spent + h.amount <= k.spend_limit)`,
      )
      .bind(h.requestId, at, h.modelId, h.size.promptTokens, h.size.outputCap, h.defaultMaxOutput, h.size.choices, h.keyHash),
    db
      .prepare(
        `UPDATE accounts SET balance = balance + ${hold}
         WHERE id = (SELECT account_id FROM ledger WHERE request_id = ?1 AND kind = 'hold') AND changes() = 1
         RETURNING balance, id AS account_id, -${hold} AS held`,
      )
      .bind(h.requestId),
    db.prepare(`UPDATE api_keys SET spent = spent - ${hold} WHERE key_hash = ?2 AND ${hold} IS NOT NULL`).bind(h.requestId, h.keyHash),
    db
      .prepare(
        `INSERT INTO holds (request_id, account_id, key_id, key_name, model, amount, created_at)
         SELECT ?1, l.account_id, k.id, k.name, ?3, -l.amount, ?4 FROM ledger l, api_keys k
         WHERE l.request_id = ?1 AND l.kind = 'hold' AND k.key_hash = ?2`,
      )
      .bind(h.requestId, h.keyHash, h.modelId, at),
  ];
}

/** The outcome of holdStatements, from the results of the batch they ended: null = refused. */
export function readHold(results: D1Result[]): { held: number; balance: number } | null {
  const row = results[1]?.results[0] as { balance: number; held: number } | undefined;
  return row ? { held: row.held, balance: row.balance } : null;
}

/**
 * Settles a held request in one batch: release the hold, charge the real cost, close the
 * hold, then write its usage row (`receipt`). The charge is capped at what the balance
 * holds, so even an upstream that ignores the output cap cannot take the balance below
 * zero. Every statement is guarded by "this request's hold is still open" and the hold is
 * closed at the end of the batch, so a settlement that runs twice (or after the sweeper)
 * changes nothing. Without a receipt and with cost 0 it simply releases a hold, for a
 * request refused after its hold was placed.
 */
export function settlementStatements(
  db: D1Database,
  s: { requestId: string; accountId: string; keyId: string; held: number; cost: number },
  receipt: D1PreparedStatement | null,
): D1PreparedStatement[] {
  const open = { sql: 'EXISTS (SELECT 1 FROM holds WHERE request_id = ?7) AND ?8 > 0', binds: [s.requestId, s.held] };
  return [
    ...ledgerStatements(db, { accountId: s.accountId, kind: 'release', amount: s.held, requestId: s.requestId }, open),
    ...cappedDebitStatements(db, { accountId: s.accountId, kind: 'settlement', max: s.cost, requestId: s.requestId }, {
      sql: 'EXISTS (SELECT 1 FROM holds WHERE request_id = ?7)', binds: [s.requestId],
    }),
    db
      .prepare('UPDATE api_keys SET spent = MAX(0, spent - ?3 + ?4) WHERE id = ?1 AND EXISTS (SELECT 1 FROM holds WHERE request_id = ?2)')
      .bind(s.keyId, s.requestId, s.held, s.cost),
    db.prepare('DELETE FROM holds WHERE request_id = ?').bind(s.requestId),
    ...(receipt ? [receipt] : []),
  ];
}

/** Gives a hold back in full, for a request refused after its hold was placed (429). */
export async function releaseHold(db: D1Database, h: { requestId: string; accountId: string; keyId: string; held: number }): Promise<void> {
  await db.batch(settlementStatements(db, { ...h, cost: 0 }, null));
}

export interface LedgerRow {
  id: number;
  kind: LedgerKind;
  amount: number;
  balance_after: number;
  request_id: string | null;
  reason: string | null;
  created_at: string;
}

export async function listLedger(db: D1Database, accountId: string, limit = 1000): Promise<LedgerRow[]> {
  const { results } = await db
    .prepare(
      `SELECT id, kind, amount, balance_after, request_id, reason, created_at
       FROM ledger WHERE account_id = ? ORDER BY id DESC LIMIT ?`,
    )
    .bind(accountId, limit)
    .all<LedgerRow>();
  return results;
}
