import type { Env } from '../config';
import type { Decision, Limits, RateLimiter, WindowState } from './limiter';

export type { Decision, Limits };

/** A key's limits: each dimension the narrower of the key's and its account's default. */
export function effectiveLimits(key: Limits, account: Limits): Limits {
  const narrower = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  return { rpm: narrower(key.rpm, account.rpm), tpm: narrower(key.tpm, account.tpm), concurrency: narrower(key.concurrency, account.concurrency) };
}

const unlimited = (l: Limits) => l.rpm === null && l.tpm === null && l.concurrency === null;

/**
 * The limits of keys this isolate has already looked up, by key hash, so that the next
 * request's limiter call can start alongside its D1 read instead of after it. A key's and
 * its account's limits are set when they are created and never change (the admin API has
 * no route that changes them), so a remembered value cannot go stale; revocation is still
 * checked in D1 on every request. Bounded, and forgotten after a minute regardless.
 */
const known = new Map<string, { keyId: string; limits: Limits; at: number }>();
const KNOWN_MAX = 10_000;
const KNOWN_TTL_MS = 60_000;

export function rememberLimits(keyHash: string, keyId: string, limits: Limits): void {
  if (known.size >= KNOWN_MAX) known.clear();
  known.set(keyHash, { keyId, limits, at: Date.now() });
}

export function rememberedLimits(keyHash: string): { keyId: string; limits: Limits } | null {
  const entry = known.get(keyHash);
  return entry && Date.now() - entry.at < KNOWN_TTL_MS ? entry : null;
}

const stub = (env: Env, keyId: string) => {
  const ns = env.RATE_LIMITER as DurableObjectNamespace<RateLimiter>;
  return ns.get(ns.idFromName(keyId));
};

/**
 * Asks the key's RateLimiter whether the request may start. Keys with no limit never call
 * it. Policy when the object cannot be reached: admit (fail open) and log. Limits protect
 * upstream capacity, not money — the credit hold still prevents any overspend — and
 * failing closed would turn a Durable Object incident into a full outage.
 */
export async function admit(env: Env, keyId: string, requestId: string, limits: Limits, tokens: number): Promise<Decision | null> {
  if (unlimited(limits)) return null;
  try {
    return await stub(env, keyId).admit(requestId, limits, tokens);
  } catch (err) {
    console.error(JSON.stringify({ request_id: requestId, rate_limiter_unreachable: String(err) }));
    return null;
  }
}

/** Reports the end of an admitted request (see RateLimiter.finish); failures are logged. */
export async function finish(
  env: Env, keyId: string, requestId: string, limits: Limits, reserved: number, used: number, refundRequest: boolean,
): Promise<void> {
  if (unlimited(limits)) return;
  try {
    await stub(env, keyId).finish(requestId, limits, reserved, used, refundRequest);
  } catch (err) {
    console.error(JSON.stringify({ request_id: requestId, rate_limiter_unreachable: String(err) }));
  }
}

/** OpenAI's headers: x-ratelimit-{limit,remaining,reset}-{requests,tokens}. */
export function rateLimitHeaders(d: Decision | null): Record<string, string> {
  const headers: Record<string, string> = {};
  const put = (kind: 'requests' | 'tokens', w: WindowState | null) => {
    if (!w) return;
    headers[`x-ratelimit-limit-${kind}`] = String(w.limit);
    headers[`x-ratelimit-remaining-${kind}`] = String(w.remaining);
    headers[`x-ratelimit-reset-${kind}`] = duration(w.resetMs);
  };
  if (d) {
    put('requests', d.requests);
    put('tokens', d.tokens);
  }
  return headers;
}

/** Durations as OpenAI writes them: "20ms", "1.5s", "6m0s". */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 100) / 10;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}
