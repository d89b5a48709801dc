import { newId, now } from './ids';
import { ledgerStatements } from './ledger';

export interface RedemptionCodeRow {
  id: string;
  amount: number;
  note: string | null;
  expires_at: string | null;
  disabled_at: string | null;
  redeemed_by: string | null;
  redeemed_at: string | null;
  created_at: string;
}

export type CodeState = 'unused' | 'redeemed' | 'disabled' | 'expired';

export function codeState(r: RedemptionCodeRow, at = now()): CodeState {
  if (r.redeemed_by) return 'redeemed';
  if (r.disabled_at) return 'disabled';
  if (r.expires_at !== null && r.expires_at <= at) return 'expired';
  return 'unused';
}

/** Stores a batch of codes by their hashes, in one transaction. */
export async function insertCodes(
  db: D1Database, codes: { id: string; hash: string }[], c: { amount: number; expiresAt: string | null; note: string | null },
): Promise<void> {
  const created = now();
  await db.batch(codes.map((code) =>
    db
      .prepare('INSERT INTO redemption_codes (id, code_hash, amount, note, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .bind(code.id, code.hash, c.amount, c.note, c.expiresAt, created),
  ));
}

export const newCodeId = () => newId('rc');

export async function listCodes(db: D1Database, limit: number): Promise<RedemptionCodeRow[]> {
  const { results } = await db
    .prepare(
      `SELECT id, amount, note, expires_at, disabled_at, redeemed_by, redeemed_at, created_at
       FROM redemption_codes ORDER BY created_at DESC, id LIMIT ?`,
    )
    .bind(limit)
    .all<RedemptionCodeRow>();
  return results;
}

/** Disables an unused code; false when there is none with this id that is still unused. */
export async function disableCode(db: D1Database, id: string): Promise<boolean> {
  const r = await db
    .prepare('UPDATE redemption_codes SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL AND redeemed_by IS NULL')
    .bind(now(), id)
    .run();
  return r.meta.changes === 1;
}

/**
 * Redeems the code with this hash for the account: the 'redemption' ledger row (its
 * request_id the code's id, unique per kind in the schema), the balance and the code's
 * redeemed_by, in one transaction that only changes anything while the code is unused,
 * enabled and unexpired. Returns the credit and the new balance, or null (nothing changed).
 */
export async function redeemCode(db: D1Database, accountId: string, codeHash: string): Promise<{ credited: number; balance: number } | null> {
  const code = await db
    .prepare('SELECT id, amount FROM redemption_codes WHERE code_hash = ?')
    .bind(codeHash)
    .first<{ id: string; amount: number }>();
  if (!code) return null;
  const at = now();
  const usable = 'EXISTS (SELECT 1 FROM redemption_codes WHERE id = ?7 AND redeemed_by IS NULL AND disabled_at IS NULL AND (expires_at IS NULL OR expires_at > ?8))';
  const results = await db.batch<{ balance: number }>([
    ...ledgerStatements(db, { accountId, kind: 'redemption', amount: code.amount, requestId: code.id, reason: 'redemption code' }, {
      sql: usable, binds: [code.id, at],
    }),
    db
      .prepare(
        `UPDATE redemption_codes SET redeemed_by = ?2, redeemed_at = ?3 WHERE id = ?1 AND redeemed_by IS NULL
         AND EXISTS (SELECT 1 FROM ledger WHERE request_id = ?1 AND kind = 'redemption' AND account_id = ?2)`,
      )
      .bind(code.id, accountId, at),
  ]);
  const balance = results[1]?.results[0]?.balance;
  return balance === undefined ? null : { credited: code.amount, balance };
}
