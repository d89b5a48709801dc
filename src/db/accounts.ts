import { newId, now } from './ids';
import { ledgerStatements, type LedgerKind } from './ledger';

export interface AccountRow {
  id: string;
  email: string;
  name: string | null;
  group_name: string;
  balance: number;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
  created_at: string;
}

/** Creates the account and, in the same batch, its opening credit as a ledger row.
 *  Returns null when the email is taken. */
export async function createAccount(
  db: D1Database,
  a: Pick<AccountRow, 'email' | 'name' | 'rpm' | 'tpm' | 'max_concurrency'> & { group: string; credit: number; creditKind: LedgerKind },
): Promise<AccountRow | null> {
  const id = newId('acct');
  const insert = db
    .prepare(
      `INSERT INTO accounts (id, email, name, group_name, balance, rpm, tpm, max_concurrency, created_at)
       VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING`,
    )
    .bind(id, a.email, a.name, a.group, a.rpm, a.tpm, a.max_concurrency, now());
  const credit =
    a.credit > 0 ? ledgerStatements(db, { accountId: id, kind: a.creditKind, amount: a.credit, reason: 'opening credit' }) : [];
  const [inserted] = await db.batch([insert, ...credit]);
  if (!inserted?.meta.changes) return null;
  return getAccount(db, id);
}

export function getAccount(db: D1Database, id: string): Promise<AccountRow | null> {
  return db
    .prepare('SELECT id, email, name, group_name, balance, rpm, tpm, max_concurrency, created_at FROM accounts WHERE id = ?')
    .bind(id)
    .first<AccountRow>();
}

/** Accounts with usage in the last `days` UTC days (daily totals), most recent first. */
export async function recentlyActiveAccounts(db: D1Database, days: number, limit: number): Promise<string[]> {
  const since = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  const { results } = await db
    .prepare('SELECT account_id FROM usage_daily WHERE day >= ? GROUP BY account_id ORDER BY MAX(day) DESC, SUM(requests) DESC LIMIT ?')
    .bind(since, limit)
    .all<{ account_id: string }>();
  return results.map((r) => r.account_id);
}
