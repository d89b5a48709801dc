import { suspendedSql } from './accounts';
import type { Limits } from '../ratelimit/windows';
import { newId, now, parseJsonColumn } from './ids';

export interface KeyRow {
  id: string;
  account_id: string;
  name: string;
  prefix: string;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
  models: string | null;
  expires_at: string | null;
  spend_limit: number | null;
  spent: number;
  revoked_at: string | null;
  created_at: string;
}

/** What a request is allowed to do, from its key and the key's account. */
export interface Principal {
  keyId: string;
  keyName: string;
  accountId: string;
  group: string;
  /** Model ids this key is limited to; null = whatever the account's group may use. */
  allowedModels: string[] | null;
  /** The key's own rate limits. */
  limits: Limits;
  /** The account's, which bound all its keys together. */
  accountLimits: Limits;
  spendLimit: number | null;
  /** What D1 says the key has spent (its flushed charges), when it was read. */
  spent: number;
  expiresAt: string | null;
  revoked: boolean;
  /** The operator suspended the account, or a payment dispute is open on it: no API use. */
  suspended: boolean;
}

/** Inserts the key unless its account has `maxActive` unrevoked keys already (null then):
 *  counted and inserted in one statement, so keys created together cannot pass the limit. */
export async function insertKey(
  db: D1Database,
  k: Omit<KeyRow, 'id' | 'spent' | 'revoked_at' | 'created_at' | 'models'> & { models: string[] | null; key_hash: string },
  maxActive: number,
): Promise<KeyRow | null> {
  const row: KeyRow = {
    id: newId('key'),
    account_id: k.account_id,
    name: k.name,
    prefix: k.prefix,
    rpm: k.rpm,
    tpm: k.tpm,
    max_concurrency: k.max_concurrency,
    models: k.models === null ? null : JSON.stringify(k.models),
    expires_at: k.expires_at,
    spend_limit: k.spend_limit,
    spent: 0,
    revoked_at: null,
    created_at: now(),
  };
  const { meta } = await db
    .prepare(
      `INSERT INTO api_keys (id, account_id, name, key_hash, prefix, rpm, tpm, max_concurrency, models, expires_at, spend_limit, spent, created_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12
       WHERE (SELECT COUNT(*) FROM api_keys WHERE account_id = ?2 AND revoked_at IS NULL) < ?13`,
    )
    .bind(row.id, row.account_id, row.name, k.key_hash, row.prefix, row.rpm, row.tpm, row.max_concurrency, row.models, row.expires_at,
      row.spend_limit, row.created_at, maxActive)
    .run();
  return meta.changes === 1 ? row : null;
}

/** Marks the key revoked (only if it is `accountId`'s, when given); returns its account and
 *  hash, or null when there is no such key (or it was revoked already). */
export function revokeKey(db: D1Database, id: string, accountId?: string): Promise<{ account_id: string; key_hash: string } | null> {
  return db
    .prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND (?3 IS NULL OR account_id = ?3) RETURNING account_id, key_hash')
    .bind(now(), id, accountId ?? null)
    .first();
}

/** The account's keys, newest first (without their hashes). */
export async function listKeys(db: D1Database, accountId: string): Promise<KeyRow[]> {
  const { results } = await db
    .prepare(
      `SELECT id, account_id, name, prefix, rpm, tpm, max_concurrency, models, expires_at, spend_limit, spent, revoked_at, created_at
       FROM api_keys WHERE account_id = ? ORDER BY created_at DESC, id`,
    )
    .bind(accountId)
    .all<KeyRow>();
  return results;
}

type PrincipalRow = KeyRow & {
  group_name: string;
  account_rpm: number | null;
  account_tpm: number | null;
  account_concurrency: number | null;
  suspended: number;
};

/** The statement that finds a key's principal by the hash of the key, for a batch. */
export function principalStatement(db: D1Database, keyHash: string): D1PreparedStatement {
  return db
    .prepare(
      `SELECT k.id, k.name, k.account_id, k.models, k.rpm, k.tpm, k.max_concurrency, k.spend_limit, k.spent, k.expires_at,
              k.revoked_at, a.group_name,
              a.rpm AS account_rpm, a.tpm AS account_tpm, a.max_concurrency AS account_concurrency,
              ${suspendedSql('a')} AS suspended
       FROM api_keys k JOIN accounts a ON a.id = k.account_id
       WHERE k.key_hash = ?`,
    )
    .bind(keyHash);
}

export function toPrincipal(row: unknown): Principal | null {
  if (!row) return null;
  const r = row as PrincipalRow;
  return {
    keyId: r.id,
    keyName: r.name,
    accountId: r.account_id,
    group: r.group_name,
    allowedModels: parseJsonColumn<string[]>(r.models),
    limits: { rpm: r.rpm, tpm: r.tpm, concurrency: r.max_concurrency },
    accountLimits: { rpm: r.account_rpm, tpm: r.account_tpm, concurrency: r.account_concurrency },
    spendLimit: r.spend_limit,
    spent: r.spent,
    expiresAt: r.expires_at,
    revoked: r.revoked_at !== null,
    suspended: r.suspended === 1,
  };
}
