import { now } from './ids';

/** Console sessions by the hash of their token (src/auth/session.ts makes and hashes them).
 *  account_id null = the operator's session. */
export interface SessionRow {
  account_id: string | null;
  operator_id: string | null;
  expires_at: string;
}

export async function insertSession(db: D1Database, tokenHash: string, accountId: string | null, operatorId: string | null, expiresAt: string): Promise<void> {
  await db.batch([
    db.prepare('DELETE FROM sessions WHERE account_id IS ?1 AND expires_at <= ?2').bind(accountId, now()),
    db.prepare('INSERT INTO sessions (token_hash, account_id, operator_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)').bind(tokenHash, accountId, operatorId, now(), expiresAt),
  ]);
}

/** The session, if it exists and has not expired. */
export function findSession(db: D1Database, tokenHash: string): Promise<SessionRow | null> {
  return db
    .prepare('SELECT account_id, operator_id, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?')
    .bind(tokenHash, now())
    .first<SessionRow>();
}

export async function deleteSession(db: D1Database, tokenHash: string): Promise<void> {
  await db.prepare('DELETE FROM sessions WHERE token_hash = ?').bind(tokenHash).run();
}

/** Signs the account out everywhere, except (when given) the session still in use. */
export async function deleteAccountSessions(db: D1Database, accountId: string, keepTokenHash: string | null = null): Promise<void> {
  await db
    .prepare('DELETE FROM sessions WHERE account_id = ?1 AND (?2 IS NULL OR token_hash != ?2)')
    .bind(accountId, keepTokenHash)
    .run();
}

/** Signs an operator out everywhere (password reset by another operator, removal). */
export async function deleteOperatorSessions(db: D1Database, operatorId: string): Promise<void> {
  await db.prepare('DELETE FROM sessions WHERE operator_id = ?').bind(operatorId).run();
}
