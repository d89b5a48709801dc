import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { Secret, TOTP } from 'otpauth';
import { z } from 'zod';
import { renderSVG } from 'uqr';
import { config, type Env } from '../config';
import type { AppEnv } from '../context';
import {
  beginSecondFactor, deleteChallenge, findChallenge, insertChallenge, replaceRecoveryCodes, secondFactorOf, useRecoveryCode, useStep,
} from '../db/second-factors';
import { ApiError } from '../errors';
import { attempts, FAILED_ATTEMPTS } from '../ratelimit/attempts';
import { randomToken, sha256Hex } from './keys';
import { open, seal } from './vault';

/**
 * Two-factor sign-in: TOTP (RFC 6238: SHA-1, six digits, 30-second steps, through the
 * otpauth library) with ten single-use recovery codes, for customers ('acct_…') and
 * operators ('op_…') alike. The secret is sealed like a provider key (auth/vault.ts, bound
 * to its owner); a code is taken one step either side of now, and only once (the step used
 * is kept); recovery codes are kept as SHA-256. A sign-in whose first factor passed waits
 * as a challenge: a random token in a five-minute cookie, hashed in D1.
 */
const PERIOD = 30;
const RECOVERY_CODES = 10;
const CHALLENGE_SECONDS = 300;

/** What an owner's sealed secret is bound to (the vault's additional data). */
export const totpRow = (owner: string) => `totp:${owner}`;
const recoveryHash = (code: string) => sha256Hex(`recovery:${code.toLowerCase().replace(/[^a-z2-7]/g, '')}`);

const vaultKey = (env: Env) => {
  const kek = config(env).PROVIDER_KEYS_KEK;
  if (!kek) {
    throw new ApiError('vault_not_configured',
      'Two-factor sign-in cannot be turned on: its secrets are sealed under PROVIDER_KEYS_KEK, which is not set. (Operator: `node scripts/kek.mjs`, then `npx wrangler secret put PROVIDER_KEYS_KEK` with its output.)');
  }
  return kek;
};

const totpOf = (env: Env, secret: string, label: string) =>
  new TOTP({ issuer: config(env).SITE_NAME, label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: Secret.fromBase32(secret) });

export interface Enrolment {
  secret: string;
  uri: string;
  /** The otpauth URI as an SVG QR code, for an authenticator app's camera. */
  qr: string;
}

/** Starts (or restarts) an enrolment: a new secret, waiting for its first code. Null: two-factor is on already. */
export async function beginEnrolment(env: Env, owner: string, label: string): Promise<Enrolment | null> {
  const secret = new Secret({ size: 20 }).base32;
  if (!(await beginSecondFactor(env.DB, owner, await seal(vaultKey(env), secret, totpRow(owner))))) return null;
  return enrolmentOf(env, secret, label);
}

function enrolmentOf(env: Env, secret: string, label: string): Enrolment {
  const uri = totpOf(env, secret, label).toString();
  return { secret, uri, qr: renderSVG(uri, { border: 2 }) };
}

/** The enrolment begun, shown again (the page reloaded): its secret from the vault. */
export async function pendingEnrolment(env: Env, owner: string, label: string): Promise<Enrolment | null> {
  const row = await secondFactorOf(env.DB, owner);
  if (!row || row.enabled_at) return null;
  return enrolmentOf(env, await open(vaultKey(env), row, totpRow(owner)), label);
}

/** The 30-second step `code` belongs to, if it is right within a step of now. */
async function stepOf(env: Env, owner: string, row: { ciphertext: string; nonce: string; kek_id: string }, code: string): Promise<number | null> {
  if (!/^\d{6}$/.test(code)) return null;
  const totp = totpOf(env, await open(vaultKey(env), row, totpRow(owner)), owner);
  const delta = totp.validate({ token: code, window: 1 });
  return delta === null ? null : Math.floor(Date.now() / 1000 / PERIOD) + delta;
}

/** Confirms an enrolment with its first code: two-factor is on, and here are the recovery
 *  codes, shown this once. Null: wrong code, or nothing to confirm. */
export async function confirmEnrolment(env: Env, owner: string, code: string): Promise<string[] | null> {
  const row = await secondFactorOf(env.DB, owner);
  if (!row || row.enabled_at) return null;
  const step = await stepOf(env, owner, row, code.replace(/\s/g, ''));
  if (step === null || !(await useStep(env.DB, owner, step))) return null;
  return newRecoveryCodes(env, owner);
}

/** Ten fresh recovery codes (the old ones stop working), each 80 random bits in base32. */
export async function newRecoveryCodes(env: Env, owner: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODES }, () => new Secret({ size: 10 }).base32.toLowerCase().match(/.{4}/g)!.join('-'));
  await replaceRecoveryCodes(env.DB, owner, await Promise.all(codes.map(recoveryHash)));
  return codes;
}

/** Whether `code` — a current TOTP code or an unused recovery code — passes the owner's second factor. */
export async function passesSecondFactor(env: Env, owner: string, code: string): Promise<boolean> {
  const row = await secondFactorOf(env.DB, owner);
  if (!row?.enabled_at) return false;
  const digits = code.replace(/\s/g, '');
  if (/^\d{6}$/.test(digits)) {
    const step = await stepOf(env, owner, row, digits);
    return step !== null && useStep(env.DB, owner, step);
  }
  return code.length <= 100 && useRecoveryCode(env.DB, owner, await recoveryHash(code));
}

/**
 * The code a form sent for `owner`, given to `use` (a sign-in, an enrolment, a change),
 * counted against the owner's limiter before it is checked — six digits are guessable only
 * slowly — and taken back when right: 'ok', 'wrong', or how long to wait.
 */
export async function usedCode(c: Context<AppEnv>, owner: string, use: (code: string) => Promise<boolean>): Promise<'ok' | 'wrong' | { retryAfterMs: number }> {
  const code = z.string().max(100).catch('').parse((await c.req.parseBody()).code);
  const limiter = attempts(c.env, `2fa:${owner}`);
  const attempt = await limiter.begin(FAILED_ATTEMPTS);
  if (!attempt.ok) return { retryAfterMs: attempt.retryAfterMs };
  if (!(await use(code))) return 'wrong';
  await limiter.succeeded(FAILED_ATTEMPTS);
  return 'ok';
}

/** The cookie a kind of sign-in keeps its pending challenge in. */
export interface ChallengeKind {
  cookie: string;
  path: string;
}

export async function startChallenge(c: Context<AppEnv>, kind: ChallengeKind, owner: string, next: string | null): Promise<void> {
  const token = randomToken();
  await insertChallenge(c.env.DB, await sha256Hex(token), owner, next, new Date(Date.now() + CHALLENGE_SECONDS * 1000).toISOString());
  setCookie(c, kind.cookie, token, { httpOnly: true, sameSite: 'Lax', secure: new URL(c.req.url).protocol === 'https:', path: kind.path, maxAge: CHALLENGE_SECONDS });
}

/** The pending challenge the request's cookie names, if it has not expired. */
export async function challengeOf(c: Context<AppEnv>, kind: ChallengeKind): Promise<{ owner: string; next: string | null; tokenHash: string } | null> {
  const token = getCookie(c, kind.cookie);
  if (!token || token.length > 100) return null;
  const tokenHash = await sha256Hex(token);
  const found = await findChallenge(c.env.DB, tokenHash);
  return found && { ...found, tokenHash };
}

export async function endChallenge(c: Context<AppEnv>, kind: ChallengeKind, tokenHash: string): Promise<void> {
  await deleteChallenge(c.env.DB, tokenHash);
  deleteCookie(c, kind.cookie, { path: kind.path });
}
