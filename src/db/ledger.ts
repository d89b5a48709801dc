import { now } from './ids';

/**
 * The only code that changes a balance. Each change is two statements that must run in one
 * D1 batch (one transaction): the ledger row is inserted only if the balance covers the
 * change (and, for a request's rows, only once per (request_id, kind)); the balance moves
 * only if that insert happened (`changes() = 1`). So balance = SUM(ledger.amount) always,
 * the balance never goes below zero, and there is no read-then-write gap.
 */
export type LedgerKind = 'signup' | 'adjustment' | 'hold' | 'settlement' | 'release' | 'topup' | 'refund';

export interface LedgerEntry {
  accountId: string;
  kind: LedgerKind;
  amount: number; // signed micro-dollars
  requestId?: string | null;
  reason?: string | null;
}

export function ledgerStatements(db: D1Database, e: LedgerEntry): [D1PreparedStatement, D1PreparedStatement] {
  return [
    db
      .prepare(
        `INSERT INTO ledger (account_id, kind, amount, balance_after, request_id, reason, created_at)
         SELECT id, ?2, ?3, balance + ?3, ?4, ?5, ?6 FROM accounts WHERE id = ?1 AND balance + ?3 >= 0
         ON CONFLICT DO NOTHING`,
      )
      .bind(e.accountId, e.kind, e.amount, e.requestId ?? null, e.reason ?? null, now()),
    db
      .prepare(`UPDATE accounts SET balance = balance + ?2 WHERE id = ?1 AND changes() = 1 RETURNING balance`)
      .bind(e.accountId, e.amount),
  ];
}

/** Applies one entry on its own; returns the new balance, or null when it was refused
 *  (the balance would go below zero) or had already been applied. */
export async function applyLedgerEntry(db: D1Database, e: LedgerEntry): Promise<number | null> {
  const results = await db.batch<{ balance: number }>(ledgerStatements(db, e));
  return results[1]?.results[0]?.balance ?? null;
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
