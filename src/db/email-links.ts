import { now } from './ids';

/** The single-use links e-mailed to verify an address or reset a password (schema: email_links). */
export type LinkPurpose = 'verify' | 'reset';

export async function insertLink(db: D1Database, l: { tokenHash: string; accountId: string; purpose: LinkPurpose; email: string; expiresAt: string }) {
  await db.prepare('INSERT INTO email_links (token_hash, account_id, purpose, email, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)')
    .bind(l.tokenHash, l.accountId, l.purpose, l.email, l.expiresAt, now()).run();
}

/** Uses a link once: its account and address, or null when it is unknown, used or expired. */
export function claimLink(db: D1Database, tokenHash: string, purpose: LinkPurpose): Promise<{ account_id: string; email: string } | null> {
  return db
    .prepare('UPDATE email_links SET used_at = ?3 WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 RETURNING account_id, email')
    .bind(tokenHash, purpose, now())
    .first();
}

/** Whether the link is one that can still be used (to show the reset form, not to use it). */
export async function linkUsable(db: D1Database, tokenHash: string, purpose: LinkPurpose): Promise<boolean> {
  return (await db.prepare('SELECT 1 FROM email_links WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?')
    .bind(tokenHash, purpose, now()).first()) !== null;
}
