import type { Sealed } from '../auth/vault';
import type { RouteKey } from './catalog';
import { now } from './ids';

/** Provider keys kept in D1, sealed (schema: provider_keys; src/auth/vault.ts seals them). */
export interface ProviderKeyRow extends Sealed {
  id: string;
  channel_id: string;
  last4: string;
  weight: number;
  enabled: number;
  disabled_reason: string | null;
  disabled_at: string | null;
  created_at: string;
}

/** A row as the catalog carries it (sealed), for an upstream call. */
export const asRouteKey = (k: ProviderKeyRow): RouteKey =>
  ({ id: k.id, ciphertext: k.ciphertext, nonce: k.nonce, kek_id: k.kek_id, last4: k.last4, weight: k.weight });

/** The enabled keys of every channel, for the catalog's batch. */
export const enabledKeysStatement = (db: D1Database) =>
  db.prepare('SELECT id, channel_id, ciphertext, nonce, kek_id, last4, weight FROM provider_keys WHERE enabled = 1 ORDER BY rowid');

export async function insertKeys(db: D1Database, rows: Array<Omit<ProviderKeyRow, 'enabled' | 'disabled_reason' | 'disabled_at' | 'created_at'>>): Promise<void> {
  const at = now();
  await db.batch(rows.map((r) =>
    db.prepare('INSERT INTO provider_keys (id, channel_id, ciphertext, nonce, kek_id, last4, weight, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .bind(r.id, r.channel_id, r.ciphertext, r.nonce, r.kek_id, r.last4, r.weight, at)));
}

export async function channelKeys(db: D1Database, channelId: string): Promise<ProviderKeyRow[]> {
  return (await db.prepare('SELECT * FROM provider_keys WHERE channel_id = ? ORDER BY rowid').bind(channelId).all<ProviderKeyRow>()).results;
}

export const getKey = (db: D1Database, id: string) => db.prepare('SELECT * FROM provider_keys WHERE id = ?').bind(id).first<ProviderKeyRow>();

/** Enables or disables a key (with why); returns whether it changed. Disabling an already
 *  disabled key keeps its first reason. */
export async function setKeyEnabled(db: D1Database, id: string, enabled: boolean, reason: string | null = null): Promise<boolean> {
  const { meta } = await db
    .prepare(
      `UPDATE provider_keys SET enabled = ?2, disabled_reason = CASE WHEN ?2 = 1 THEN NULL ELSE ?3 END, disabled_at = CASE WHEN ?2 = 1 THEN NULL ELSE ?4 END
       WHERE id = ?1 AND enabled != ?2`,
    )
    .bind(id, enabled ? 1 : 0, reason, now())
    .run();
  return meta.changes === 1;
}

export async function setKeyWeight(db: D1Database, id: string, weight: number): Promise<void> {
  await db.prepare('UPDATE provider_keys SET weight = ? WHERE id = ?').bind(weight, id).run();
}

export async function deleteKey(db: D1Database, id: string): Promise<ProviderKeyRow | null> {
  return db.prepare('DELETE FROM provider_keys WHERE id = ? RETURNING *').bind(id).first<ProviderKeyRow>();
}

/** Deletes a channel's disabled keys; returns them (for the audit log). */
export async function deleteDisabledKeys(db: D1Database, channelId: string): Promise<ProviderKeyRow[]> {
  return (await db.prepare('DELETE FROM provider_keys WHERE channel_id = ? AND enabled = 0 RETURNING *').bind(channelId).all<ProviderKeyRow>()).results;
}

/** How many keys each key-encryption key sealed. */
export async function keysPerKek(db: D1Database): Promise<Array<{ kek_id: string; keys: number }>> {
  return (await db.prepare('SELECT kek_id, COUNT(*) AS keys FROM provider_keys GROUP BY kek_id').all<{ kek_id: string; keys: number }>()).results;
}

/** Keys not sealed by `kekId`, for resealing. */
export async function keysSealedBefore(db: D1Database, kekId: string): Promise<ProviderKeyRow[]> {
  return (await db.prepare('SELECT * FROM provider_keys WHERE kek_id != ?').bind(kekId).all<ProviderKeyRow>()).results;
}

export async function resealKeys(db: D1Database, rows: Array<Sealed & { id: string }>): Promise<void> {
  if (rows.length === 0) return;
  await db.batch(rows.map((r) =>
    db.prepare('UPDATE provider_keys SET ciphertext = ?, nonce = ?, kek_id = ? WHERE id = ?').bind(r.ciphertext, r.nonce, r.kek_id, r.id)));
}
