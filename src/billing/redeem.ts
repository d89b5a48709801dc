import { accountState } from '../account/client';
import { sha256Hex } from '../auth/keys';
import type { Env } from '../config';
import { insertCodes, newCodeId, redeemCode } from '../db/redemption';
import { ApiError } from '../errors';
import { attempts, FAILED_ATTEMPTS } from '../ratelimit/attempts';

/**
 * Redemption codes (token packs): 150 random bits as 30 characters of Crockford's base32 in
 * six groups of five, shown once when created and kept only as the hash of their normalised
 * form (so "abcde-fghij…" with spaces, dashes or lower case still redeems).
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_LENGTH = 30;

function newCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(19));
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let chars = '';
  for (let i = 0; i < CODE_LENGTH; i++) chars += ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)];
  return chars.match(/.{1,5}/g)!.join('-');
}

const normalise = (code: string) => code.replace(/[\s-]/g, '').toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
const hashCode = (code: string) => sha256Hex(`redemption:${normalise(code)}`);

/** Creates `count` codes worth `amount` µ$ each; the codes are in the answer this once. */
export async function createCodes(
  db: D1Database, c: { count: number; amount: number; expiresAt: string | null; note: string | null },
): Promise<{ id: string; code: string }[]> {
  const codes = Array.from({ length: c.count }, () => ({ id: newCodeId(), code: newCode() }));
  await insertCodes(db, await Promise.all(codes.map(async (k) => ({ id: k.id, hash: await hashCode(k.code) }))), c);
  return codes;
}

/** Redeems a code for the account, or says why not (nothing changed). Failed attempts are
 *  limited per account like log-ins, so codes cannot be guessed by brute force. */
export async function redeem(env: Env, accountId: string, code: string): Promise<{ credited: number; balance: number }> {
  const limiter = attempts(env, `redeem:${accountId}`);
  const attempt = await limiter.begin(FAILED_ATTEMPTS);
  if (!attempt.ok) {
    const seconds = Math.ceil(attempt.retryAfterMs / 1000);
    throw new ApiError('too_many_attempts', `Too many failed redemption attempts. Try again in ${Math.ceil(seconds / 60)} minutes.`, {
      headers: { 'retry-after': String(seconds) },
    });
  }
  const done = normalise(code).length === CODE_LENGTH ? await redeemCode(env.DB, accountId, await hashCode(code)) : null;
  if (!done) {
    throw new ApiError('invalid_redemption_code', 'This redemption code is unknown, used, disabled or expired.', { param: 'code' });
  }
  await limiter.succeeded(FAILED_ATTEMPTS);
  return { credited: done.credited, balance: await accountState(env, accountId).balance(accountId) };
}
