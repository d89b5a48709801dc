import { z } from 'zod';
import { forgetCatalog } from '../auth/customer';
import { totpRow } from '../auth/two-factor';
import { currentKekId, lastFour, notConfigured, open, providerKeyRow, seal } from '../auth/vault';
import { resealSecondFactors, secondFactorsSealedBefore } from '../db/second-factors';
import { config, type Env } from '../config';
import { recordAudit } from '../db/audit';
import { getChannel, type ChannelRow } from '../db/catalog';
import { newId } from '../db/ids';
import {
  asRouteKey, channelKeys, deleteDisabledKeys, deleteKey, getKey, insertKeys, keysPerKek, keysSealedBefore, resealKeys, setKeyEnabled, setKeyWeight, type ProviderKeyRow,
} from '../db/provider-keys';
import { ApiError } from '../errors';
import type { KeyHealthView } from '../health/object';
import { sharedHealth } from '../health/view';
import { forgetKeyState } from '../proxy/key-pool';
import { probeChannel, type ProbeResult } from '../proxy/probe';

/**
 * Provider keys kept in D1, as the operator manages them (admin API and console alike) and
 * as the gateway disables them: every change an audit row naming the key by its last four
 * characters. A key is only ever shown as `…abcd`; its clear text reaches the vault and,
 * sealed, D1 — never a response, a log line or an audit row.
 */

/** Keys pasted one per line (or sent as a list); blank lines and surrounding spaces ignored. */
export const AddKeysSchema = z.object({
  keys: z.union([z.string().max(200_000).transform((s) => s.split(/\r?\n/)), z.array(z.string().max(4096)).max(1000)])
    .transform((list) => [...new Set(list.map((k) => k.trim()).filter(Boolean))])
    .refine((list) => list.length > 0, 'must hold at least one key')
    .refine((list) => list.length <= 1000, 'must hold at most 1000 keys')
    .refine((list) => list.every((k) => k.length >= 8 && k.length <= 4096 && !/\s/.test(k)), 'each key must be 8 to 4096 characters, without spaces'),
  weight: z.number().int().min(1).max(1000).default(1),
});

export const KeyChangeSchema = z.object({
  enabled: z.boolean(),
  weight: z.number().int().min(1).max(1000),
}).partial().refine((b) => Object.keys(b).length > 0, 'must change enabled or weight');

const audit = (env: Env, actor: string, action: string, key: Pick<ProviderKeyRow, 'channel_id' | 'last4'> & { id: string }, detail: Record<string, unknown> = {}) =>
  recordAudit(env.DB, { actor, action, target: key.id, detail: { channel: key.channel_id, key: `…${key.last4}`, ...detail } });

async function channelOr404(env: Env, id: string): Promise<ChannelRow> {
  const channel = await getChannel(env.DB, id);
  if (!channel) throw new ApiError('not_found', `No channel with id '${id}'.`);
  return channel;
}

async function keyOr404(env: Env, id: string): Promise<ProviderKeyRow> {
  const key = await getKey(env.DB, id);
  if (!key) throw new ApiError('not_found', `No provider key with id '${id}'.`);
  return key;
}

/** A key as the operator sees it: its last four characters, state and statistics. */
export async function keysOfChannel(env: Env, channelId: string) {
  await channelOr404(env, channelId);
  const rows = await channelKeys(env.DB, channelId);
  const health: Record<string, KeyHealthView> = rows.length === 0 ? {} : await (await sharedHealth(env)).keyHealth(rows.map((k) => k.id));
  return rows.map((k) => {
    const h = health[k.id];
    return {
      id: k.id, channel_id: k.channel_id, key: `…${k.last4}`, weight: k.weight,
      state: k.enabled === 0 ? 'disabled' : h?.cooling_until ? 'cooling' : 'enabled',
      disabled_reason: k.disabled_reason, disabled_at: k.disabled_at,
      last_used: h?.last_used ?? null, last_error: h?.last_error ?? null, last_error_at: h?.last_error_at ?? null,
      cooling_until: h?.cooling_until ?? null, recent: h?.recent ?? { attempts: 0, success_rate: null, latency_ms: null },
      created_at: k.created_at,
    };
  });
}

export type KeyView = Awaited<ReturnType<typeof keysOfChannel>>[number];

export async function addKeys(env: Env, actor: string, channelId: string, body: z.infer<typeof AddKeysSchema>): Promise<KeyView[]> {
  const channel = await channelOr404(env, channelId);
  if (channel.kind === 'echo') throw new ApiError('invalid_value', 'The echo channel takes no keys.', { param: 'keys' });
  const kek = config(env).PROVIDER_KEYS_KEK;
  if (!kek) throw notConfigured();
  const rows = await Promise.all(body.keys.map(async (plain) => {
    const id = newId('pk');
    return { id, channel_id: channelId, last4: lastFour(plain), weight: body.weight, ...(await seal(kek, plain, providerKeyRow(channelId, id))) };
  }));
  await insertKeys(env.DB, rows);
  forgetCatalog();
  await recordAudit(env.DB, { actor, action: 'provider_keys.add', target: channelId, detail: { keys: rows.map((r) => `…${r.last4}`), weight: body.weight } });
  const added = new Set(rows.map((r) => r.id));
  return (await keysOfChannel(env, channelId)).filter((k) => added.has(k.id));
}

export async function changeKey(env: Env, actor: string, id: string, body: z.infer<typeof KeyChangeSchema>): Promise<KeyView> {
  const key = await keyOr404(env, id);
  if (body.weight !== undefined) await setKeyWeight(env.DB, id, body.weight);
  if (body.enabled !== undefined) {
    await setKeyEnabled(env.DB, id, body.enabled, body.enabled ? null : `disabled by ${actor}`);
    if (body.enabled) forgetKeyState(id);
  }
  forgetCatalog();
  await audit(env, actor, 'provider_key.update', key, body);
  return (await keysOfChannel(env, key.channel_id)).find((k) => k.id === id)!;
}

export async function removeKey(env: Env, actor: string, id: string): Promise<void> {
  const key = await deleteKey(env.DB, id);
  if (!key) throw new ApiError('not_found', `No provider key with id '${id}'.`);
  forgetCatalog();
  await audit(env, actor, 'provider_key.delete', key);
}

export async function removeDisabledKeys(env: Env, actor: string, channelId: string): Promise<{ deleted: number }> {
  await channelOr404(env, channelId);
  const removed = await deleteDisabledKeys(env.DB, channelId);
  await recordAudit(env.DB, { actor, action: 'provider_keys.delete_disabled', target: channelId, detail: { keys: removed.map((k) => `…${k.last4}`) } });
  return { deleted: removed.length };
}

/** The gateway's own disabling of a key an upstream refused (its reason kept); audited once. */
export async function disableRefusedKey(env: Env, key: { id: string; last4: string }, channelId: string, reason: string): Promise<void> {
  if (await setKeyEnabled(env.DB, key.id, false, reason)) {
    forgetCatalog();
    await audit(env, 'gateway', 'provider_key.disable', { ...key, channel_id: channelId }, { reason });
  }
}

/** One tiny request with this key alone; a disabled key that passes is enabled again. */
export async function testKey(env: Env, actor: string, id: string): Promise<ProbeResult & { enabled: boolean }> {
  const key = await keyOr404(env, id);
  const channel = await channelOr404(env, key.channel_id);
  forgetKeyState(id);
  const result = await probeChannel(env, channel, [asRouteKey(key)]);
  let enabled = key.enabled === 1;
  if (result.ok && !enabled) {
    enabled = await setKeyEnabled(env.DB, id, true);
    forgetCatalog();
  }
  await audit(env, actor, 'provider_key.test', key, { ok: result.ok, status: result.status, ...(enabled && key.enabled === 0 ? { enabled: true } : {}) });
  return { ...result, enabled };
}

/** The vault as the operator sees it: whether keys can be stored, the entry that seals, and
 *  how many keys an older entry sealed (to reseal after a rotation). */
export async function vaultState(env: Env): Promise<{ configured: false; problem: string } | { configured: true; kek_id: string; keys: number; stale: number }> {
  let current: string;
  try {
    current = await currentKekId(config(env).PROVIDER_KEYS_KEK);
  } catch (err) {
    if (err instanceof ApiError) return { configured: false, problem: err.message };
    throw err;
  }
  const counts = await keysPerKek(env.DB);
  return {
    configured: true, kek_id: current, keys: counts.reduce((n, c) => n + c.keys, 0),
    stale: counts.filter((c) => c.kek_id !== current).reduce((n, c) => n + c.keys, 0),
  };
}

/** Seals every key, and every two-factor secret, under the current key-encryption key (after a rotation). */
export async function resealAll(env: Env, actor: string): Promise<{ resealed: number; kek_id: string }> {
  const kek = config(env).PROVIDER_KEYS_KEK;
  if (!kek) throw notConfigured();
  const current = await currentKekId(kek);
  const stale = await keysSealedBefore(env.DB, current);
  const resealed = await Promise.all(stale.map(async (k) => ({ id: k.id, ...(await seal(kek, await open(kek, k, providerKeyRow(k.channel_id, k.id)), providerKeyRow(k.channel_id, k.id))) })));
  await resealKeys(env.DB, resealed);
  // Two-factor secrets are sealed under the same keys (auth/two-factor.ts).
  const factors = await secondFactorsSealedBefore(env.DB, current);
  await resealSecondFactors(env.DB, await Promise.all(factors.map(async (f) => ({ owner: f.owner, ...(await seal(kek, await open(kek, f, totpRow(f.owner)), totpRow(f.owner))) }))));
  forgetCatalog();
  await recordAudit(env.DB, { actor, action: 'provider_keys.reseal', target: current, detail: { resealed: resealed.length } });
  return { resealed: resealed.length, kek_id: current };
}
