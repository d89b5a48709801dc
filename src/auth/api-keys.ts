import { z } from 'zod';
import { accountState } from '../account/client';
import { config, type Env } from '../config';
import { ApiError } from '../errors';
import { insertKey, revokeKey, type KeyRow } from '../db/keys';
import { dollars, toDollars } from '../money';
import { forgetKey } from './customer';
import { generateKey, hashKey, PREFIX_LENGTH } from './keys';

/** Issuing and revoking customer API keys: the one implementation behind the admin API
 *  and the customer console. */

export const perMinute = z.number().int().positive().max(1_000_000_000).nullish();
export const concurrency = z.number().int().positive().max(100_000).nullish();
export const modelId = z.string().min(1).max(200);

export const NewKeySchema = z.object({
  name: z.string().trim().min(1).max(200),
  rpm: perMinute,
  tpm: perMinute,
  max_concurrency: concurrency,
  models: z.array(modelId).max(1000).nullish(),
  expires_at: z.iso.datetime({ offset: true }).nullish(),
  spend_limit: dollars({ max: 1_000_000 }).nullish(),
});
export type NewKey = z.infer<typeof NewKeySchema>;

/** The key as the API shows it (never its secret or hash). */
export const keyView = (row: KeyRow) => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  account_id: row.account_id,
  rpm: row.rpm,
  tpm: row.tpm,
  max_concurrency: row.max_concurrency,
  models: row.models === null ? null : (JSON.parse(row.models) as string[]),
  expires_at: row.expires_at,
  spend_limit: row.spend_limit === null ? null : toDollars(row.spend_limit),
  created_at: row.created_at,
  revoked_at: row.revoked_at,
});

/** Creates a key; the secret is in the answer this once and stored only as its hash. An
 *  account holds at most MAX_KEYS_PER_ACCOUNT unrevoked keys. */
export async function issueKey(env: Env, accountId: string, k: NewKey): Promise<{ key: string; row: KeyRow }> {
  const key = generateKey();
  const max = config(env).MAX_KEYS_PER_ACCOUNT;
  const row = await insertKey(env.DB, {
    account_id: accountId,
    name: k.name,
    key_hash: await hashKey(key),
    prefix: key.slice(0, PREFIX_LENGTH),
    rpm: k.rpm ?? null,
    tpm: k.tpm ?? null,
    max_concurrency: k.max_concurrency ?? null,
    models: k.models ?? null,
    expires_at: k.expires_at ? new Date(k.expires_at).toISOString() : null,
    spend_limit: k.spend_limit ?? null,
  }, max);
  if (!row) {
    throw new ApiError('too_many_keys', `This account has ${max} active API keys, the most it may have. Revoke one it no longer uses first.`);
  }
  return { key, row };
}

/** Revokes the key (of `accountId` only, when given); false when there is no such active key.
 *  Isolates may remember it for CACHE_SECONDS, but its account's object refuses it from the
 *  next request on, everywhere. */
export async function revokeKeyEverywhere(env: Env, keyId: string, accountId?: string): Promise<boolean> {
  const key = await revokeKey(env.DB, keyId, accountId);
  if (!key) return false;
  forgetKey(key.key_hash);
  await accountState(env, key.account_id).revokeKey(key.account_id, keyId);
  return true;
}
