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
  suspended: number;
  created_at: string;
  /** When the address was verified (null: not yet). */
  email_verified_at: string | null;
}

const COLUMNS = 'id, email, name, group_name, balance, rpm, tpm, max_concurrency, suspended, created_at, email_verified_at';

/** Creates the account and, in the same batch, its opening credit as a ledger row.
 *  `verified`: made by the operator (its address and credit theirs to vouch for); otherwise
 *  a sign-up, whose address is verified later (verifyAddress). Returns null when the email
 *  is taken. */
export async function createAccount(
  db: D1Database,
  a: Pick<AccountRow, 'email' | 'name' | 'rpm' | 'tpm' | 'max_concurrency'> & {
    group: string; credit: number; creditKind: LedgerKind; passwordHash?: string; verified: boolean;
  },
): Promise<AccountRow | null> {
  const id = newId('acct');
  const at = now();
  const insert = db
    .prepare(
      `INSERT INTO accounts (id, email, name, group_name, balance, rpm, tpm, max_concurrency, password_hash, created_at, email_verified_at, trial_credit_at)
       VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?10) ON CONFLICT (email) DO NOTHING`,
    )
    // An account verified from the start is the operator's: its credit is the operator's, never a trial's.
    .bind(id, a.email, a.name, a.group, a.rpm, a.tpm, a.max_concurrency, a.passwordHash ?? null, at, a.verified ? at : null);
  const reason = a.creditKind === 'signup' ? 'sign-up credit' : 'opening credit';
  const credit = a.credit > 0 ? ledgerStatements(db, { accountId: id, kind: a.creditKind, amount: a.credit, reason }) : [];
  const [inserted] = await db.batch([insert, ...credit]);
  if (!inserted?.meta.changes) return null;
  return getAccount(db, id);
}

export function getAccount(db: D1Database, id: string): Promise<AccountRow | null> {
  return db.prepare(`SELECT ${COLUMNS} FROM accounts WHERE id = ?`).bind(id).first<AccountRow>();
}

/** The account whose id is `query`, and those whose email is it or starts with it (emails
 *  compare without case); exact matches first. */
export async function searchAccounts(db: D1Database, query: string, limit: number): Promise<AccountRow[]> {
  const prefix = query.replace(/[\\%_]/g, (ch) => `\\${ch}`);
  const { results } = await db
    .prepare(`SELECT ${COLUMNS} FROM accounts WHERE id = ?2 OR email LIKE ?1 ESCAPE '\\' ORDER BY id = ?2 OR email = ?2 DESC, email LIMIT ?3`)
    .bind(`${prefix}%`, query, limit)
    .all<AccountRow>();
  return results;
}

/** The newest accounts. */
export async function listAccounts(db: D1Database, limit: number): Promise<AccountRow[]> {
  const { results } = await db.prepare(`SELECT ${COLUMNS} FROM accounts ORDER BY created_at DESC, id LIMIT ?`).bind(limit).all<AccountRow>();
  return results;
}

export function accountByEmail(db: D1Database, email: string): Promise<AccountRow | null> {
  return db.prepare(`SELECT ${COLUMNS} FROM accounts WHERE email = ?`).bind(email).first<AccountRow>();
}

/** For log-in: the account with this email and its password hash (null: none set). */
export function credentialsByEmail(db: D1Database, email: string): Promise<{ id: string; password_hash: string | null } | null> {
  return db.prepare('SELECT id, password_hash FROM accounts WHERE email = ?').bind(email).first();
}

export function passwordHashOf(db: D1Database, id: string): Promise<string | null> {
  return db.prepare('SELECT password_hash FROM accounts WHERE id = ?').bind(id).first<string>('password_hash');
}

/** Clears the password of an account whose address was never verified (whoever set it never
 *  proved the address theirs: auth/linking.ts). */
export async function clearUnprovenPassword(db: D1Database, id: string): Promise<void> {
  await db.prepare('UPDATE accounts SET password_hash = NULL WHERE id = ? AND email_verified_at IS NULL').bind(id).run();
}

/** Changes what is given; returns the account, or null when there is none with this id. */
export async function updateAccount(
  db: D1Database, id: string, u: { name?: string | null; group?: string; suspended?: boolean; passwordHash?: string },
): Promise<AccountRow | null> {
  return db
    .prepare(
      `UPDATE accounts SET
         name = CASE WHEN ?2 THEN ?3 ELSE name END,
         group_name = COALESCE(?4, group_name),
         suspended = COALESCE(?5, suspended),
         password_hash = COALESCE(?6, password_hash)
       WHERE id = ?1 RETURNING ${COLUMNS}`,
    )
    .bind(id, u.name !== undefined ? 1 : 0, u.name ?? null, u.group ?? null, u.suspended === undefined ? null : u.suspended ? 1 : 0, u.passwordHash ?? null)
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

/** The one rule for "this account may not use the API": the operator suspended it, or a
 *  payment dispute on it is open. `a` is the accounts table's alias in the query. */
export const suspendedSql = (a: string) =>
  `(${a}.suspended = 1 OR EXISTS (SELECT 1 FROM disputes d WHERE d.account_id = ${a}.id AND d.status = 'open'))`;

/** One row when the account is suspended (suspendedSql), for a batch. */
export const suspendedStatement = (db: D1Database, accountId: string): D1PreparedStatement =>
  db.prepare(`SELECT 1 FROM accounts a WHERE a.id = ? AND ${suspendedSql('a')}`).bind(accountId);

/**
 * Marks the account's address verified (while it is still `email`) and, the first time an
 * address of it is verified, grants the trial credit as its `signup` ledger row — in one
 * batch, so a link clicked twice, or two links, grant it once. Returns what happened.
 */
export async function verifyAddress(db: D1Database, accountId: string, email: string, credit: number): Promise<{ verified: boolean; credited: boolean }> {
  const at = now();
  const verified = 'email_verified_at IS NOT NULL AND trial_credit_at IS NULL';
  const [marked, ...rest] = await db.batch([
    db.prepare('UPDATE accounts SET email_verified_at = COALESCE(email_verified_at, ?3) WHERE id = ?1 AND email = ?2').bind(accountId, email, at),
    ...(credit > 0 ? ledgerStatements(db, { accountId, kind: 'signup', amount: credit, reason: 'sign-up credit' }, { sql: verified, binds: [] }) : []),
    // Granted: credit > 0 and the ledger row went in (the balance's update changed a row), or no credit to give.
    db.prepare(`UPDATE accounts SET trial_credit_at = ?2 WHERE id = ?1 AND ${verified} AND (?3 = 0 OR changes() = 1) RETURNING id`)
      .bind(accountId, at, credit > 0 ? 1 : 0),
  ]);
  return { verified: (marked?.meta.changes ?? 0) > 0, credited: credit > 0 && (rest.at(-1)?.results.length ?? 0) > 0 };
}
