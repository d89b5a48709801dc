import { now } from './ids';

/** Accounts' identities at sign-in providers (src/auth/linking.ts; schema: oauth_identities). */
export interface IdentityRow {
  provider: string;
  email: string | null;
  created_at: string;
}

export async function accountOfIdentity(db: D1Database, provider: string, subject: string): Promise<string | null> {
  return db.prepare('SELECT account_id FROM oauth_identities WHERE provider = ? AND subject = ?').bind(provider, subject).first<string>('account_id');
}

/** Links an identity; false when it is linked already (to this account or another), or
 *  the account has one of this provider already. */
export async function insertIdentity(db: D1Database, i: { provider: string; subject: string; accountId: string; email: string | null }): Promise<boolean> {
  const res = await db
    .prepare('INSERT INTO oauth_identities (provider, subject, account_id, email, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
    .bind(i.provider, i.subject, i.accountId, i.email, now())
    .run();
  return res.meta.changes > 0;
}

export async function identitiesOf(db: D1Database, accountId: string): Promise<IdentityRow[]> {
  const { results } = await db.prepare('SELECT provider, email, created_at FROM oauth_identities WHERE account_id = ? ORDER BY created_at').bind(accountId).all<IdentityRow>();
  return results;
}

/** Unlinks the account's identity at `provider` unless it is the last way in (no password,
 *  no other identity): decided in the statement itself, so two unlinks at once cannot both pass. */
export async function deleteIdentity(db: D1Database, accountId: string, provider: string): Promise<boolean> {
  const res = await db
    .prepare(
      `DELETE FROM oauth_identities WHERE account_id = ?1 AND provider = ?2
         AND ((SELECT password_hash FROM accounts WHERE id = ?1) IS NOT NULL OR (SELECT COUNT(*) FROM oauth_identities WHERE account_id = ?1) > 1)`,
    )
    .bind(accountId, provider)
    .run();
  return res.meta.changes > 0;
}
