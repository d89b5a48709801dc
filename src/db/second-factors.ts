import type { Sealed } from '../auth/vault';
import { now } from './ids';

/** TOTP secrets, recovery codes and pending second-factor sign-ins (src/auth/two-factor.ts).
 *  An owner is an account ('acct_…') or an operator ('op_…'). */
export interface SecondFactorRow extends Sealed {
  owner: string;
  last_step: number;
  enabled_at: string | null;
}

export function secondFactorOf(db: D1Database, owner: string): Promise<SecondFactorRow | null> {
  return db.prepare('SELECT owner, ciphertext, nonce, kek_id, last_step, enabled_at FROM second_factors WHERE owner = ?').bind(owner).first();
}

/** Whether the owner has a confirmed second factor. */
export async function hasSecondFactor(db: D1Database, owner: string): Promise<boolean> {
  return (await db.prepare('SELECT 1 FROM second_factors WHERE owner = ? AND enabled_at IS NOT NULL').bind(owner).first()) !== null;
}

/** A new secret waiting for its first code; replaces an unconfirmed one, never a confirmed one. */
export async function beginSecondFactor(db: D1Database, owner: string, sealed: Sealed): Promise<boolean> {
  const res = await db
    .prepare(
      `INSERT INTO second_factors (owner, ciphertext, nonce, kek_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT (owner) DO UPDATE SET ciphertext = ?2, nonce = ?3, kek_id = ?4, last_step = 0, created_at = ?5 WHERE enabled_at IS NULL`,
    )
    .bind(owner, sealed.ciphertext, sealed.nonce, sealed.kek_id, now())
    .run();
  return res.meta.changes > 0;
}

/** Uses the code of `step`: only a step later than the last one used (so a code works once,
 *  even when two requests bring it at once). Confirms an enrolment on its first code. */
export async function useStep(db: D1Database, owner: string, step: number): Promise<boolean> {
  const res = await db
    .prepare('UPDATE second_factors SET last_step = ?2, enabled_at = COALESCE(enabled_at, ?3) WHERE owner = ?1 AND last_step < ?2')
    .bind(owner, step, now())
    .run();
  return res.meta.changes > 0;
}

/** Sets the owner's recovery codes (by hash), replacing any earlier ones. */
export async function replaceRecoveryCodes(db: D1Database, owner: string, hashes: string[]): Promise<void> {
  await db.batch([
    db.prepare('DELETE FROM recovery_codes WHERE owner = ?').bind(owner),
    ...hashes.map((h) => db.prepare('INSERT INTO recovery_codes (code_hash, owner) VALUES (?, ?)').bind(h, owner)),
  ]);
}

/** Uses a recovery code once. */
export async function useRecoveryCode(db: D1Database, owner: string, hash: string): Promise<boolean> {
  const res = await db.prepare('UPDATE recovery_codes SET used_at = ?3 WHERE code_hash = ?1 AND owner = ?2 AND used_at IS NULL').bind(hash, owner, now()).run();
  return res.meta.changes > 0;
}

export async function recoveryCodesLeft(db: D1Database, owner: string): Promise<number> {
  return (await db.prepare('SELECT COUNT(*) AS n FROM recovery_codes WHERE owner = ? AND used_at IS NULL').bind(owner).first<{ n: number }>())!.n;
}

export async function removeSecondFactor(db: D1Database, owner: string): Promise<void> {
  await db.batch([
    db.prepare('DELETE FROM second_factors WHERE owner = ?').bind(owner),
    db.prepare('DELETE FROM recovery_codes WHERE owner = ?').bind(owner),
  ]);
}

/** Secrets sealed under an older key-encryption key (for the vault's reseal). */
export function secondFactorsSealedBefore(db: D1Database, kekId: string): Promise<SecondFactorRow[]> {
  return db.prepare('SELECT owner, ciphertext, nonce, kek_id, last_step, enabled_at FROM second_factors WHERE kek_id != ?').bind(kekId).all<SecondFactorRow>().then((r) => r.results);
}

export async function resealSecondFactors(db: D1Database, rows: Array<Sealed & { owner: string }>): Promise<void> {
  if (rows.length === 0) return;
  await db.batch(rows.map((r) => db.prepare('UPDATE second_factors SET ciphertext = ?, nonce = ?, kek_id = ? WHERE owner = ?').bind(r.ciphertext, r.nonce, r.kek_id, r.owner)));
}

export async function insertChallenge(db: D1Database, tokenHash: string, owner: string, next: string | null, expiresAt: string): Promise<void> {
  await db.batch([
    db.prepare('DELETE FROM login_challenges WHERE expires_at <= ?').bind(now()),
    db.prepare('INSERT INTO login_challenges (token_hash, owner, next, expires_at) VALUES (?, ?, ?, ?)').bind(tokenHash, owner, next, expiresAt),
  ]);
}

export function findChallenge(db: D1Database, tokenHash: string): Promise<{ owner: string; next: string | null } | null> {
  return db.prepare('SELECT owner, next FROM login_challenges WHERE token_hash = ? AND expires_at > ?').bind(tokenHash, now()).first();
}

export async function deleteChallenge(db: D1Database, tokenHash: string): Promise<void> {
  await db.prepare('DELETE FROM login_challenges WHERE token_hash = ?').bind(tokenHash).run();
}
