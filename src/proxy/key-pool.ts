import { open, providerKeyRow } from '../auth/vault';
import type { Route, RouteKey } from '../db/catalog';

/**
 * Which provider key each attempt at a channel uses, and what an answer says of the key.
 *
 * A channel with keys kept in D1 spreads its requests over its enabled ones by weight
 * (smooth round robin, per isolate), skipping the keys this isolate has seen refused (until
 * the catalog, within CACHE_SECONDS, no longer lists them) and trying those cooling down
 * after a rate limit last. A channel without keys uses the Worker secret it names.
 *
 * What a failed answer says of the key (from the answers recorded in test/fixtures; see the
 * README, "Provider keys"):
 * - 401 or 403: the key is refused — disabled, with the upstream's reason;
 * - 429: the key is rate-limited or over a quota with a retry time (Gemini's
 *   RESOURCE_EXHAUSTED with RetryInfo) — it cools down for that long (or RATE_LIMIT_COOL_MS);
 * - anything else is the channel's, not the key's: the next channel is tried as before.
 * In every case the same request goes on to the channel's next key before any byte reached
 * the client.
 */
export type Credential = { stored: RouteKey } | { secret: string };

export type KeyFault = { disable: string } | { coolMs: number };

/** How long a key rate-limited without a stated retry time rests. */
export const RATE_LIMIT_COOL_MS = 60_000;

const turns = new Map<string, number>();
const coolUntil = new Map<string, number>();
const refused = new Set<string>();
const opened = new Map<string, Promise<string>>();

/** The credentials to try for one attempt at `route`, in order. */
export function credentialsFor(route: Route, now = Date.now()): Credential[] {
  if (route.keys.length === 0) return [{ secret: route.api_key_secret }];
  const usable = route.keys.filter((k) => !refused.has(k.id));
  if (usable.length === 0) return [];
  const total = usable.reduce((n, k) => n + k.weight, 0);
  const turn = turns.get(route.id) ?? 0;
  turns.set(route.id, turn + 1);
  let position = turn % total;
  let start = 0;
  while (position >= usable[start]!.weight) position -= usable[start++]!.weight;
  const rotated = [...usable.slice(start), ...usable.slice(0, start)];
  const resting = (k: RouteKey) => (coolUntil.get(k.id) ?? 0) > now;
  return [
    ...rotated.filter((k) => !resting(k)),
    ...rotated.filter(resting).sort((a, b) => coolUntil.get(a.id)! - coolUntil.get(b.id)!),
  ].map((stored) => ({ stored }));
}

/** A stored key in clear, for one upstream call (each key opened once per isolate). */
export function openKey(kek: unknown, channelId: string, key: RouteKey): Promise<string> {
  const cacheKey = `${key.id}:${key.ciphertext}`;
  let plain = opened.get(cacheKey);
  if (!plain) {
    plain = open(kek, key, providerKeyRow(channelId, key.id));
    plain.catch(() => opened.delete(cacheKey));
    opened.set(cacheKey, plain);
  }
  return plain;
}

/** What a failed answer says of the key that got it; null when it says nothing of it. */
export function keyFault(status: number | null, body: string, retryAfterMs: number | null): KeyFault | null {
  if (status === 401 || status === 403) return { disable: `HTTP ${status}: ${upstreamReason(body)}` };
  if (status === 429) return { coolMs: retryAfterMs ?? retryDelayMs(body) ?? RATE_LIMIT_COOL_MS };
  return null;
}

/** The operator enabled or is testing the key: this isolate forgets what it saw of it. */
export function forgetKeyState(keyId: string): void {
  refused.delete(keyId);
  coolUntil.delete(keyId);
}

/** This isolate stops using the key at once (others when their catalog is renewed). */
export function noteFault(key: RouteKey, fault: KeyFault, now = Date.now()): void {
  if ('disable' in fault) refused.add(key.id);
  else coolUntil.set(key.id, now + fault.coolMs);
}

/** The upstream's message, for a disabled key's reason: kept short, and never a key. */
function upstreamReason(body: string): string {
  let message: unknown;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } };
    message = parsed.error?.message;
  } catch {
    message = undefined;
  }
  return typeof message === 'string' ? message.replace(/[A-Za-z0-9_\-*]{20,}/g, '…').slice(0, 200) : 'refused';
}

/** Gemini's google.rpc.RetryInfo retryDelay ("34.4s"), in ms. */
function retryDelayMs(body: string): number | null {
  const match = /"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"/.exec(body);
  return match ? Math.ceil(Number(match[1]) * 1000) : null;
}
