import type { AccountStorage } from '../account/storage';
import { checkWindow, refund } from './gcra';

/** Per-key limits; null = unlimited in that dimension. */
export interface Limits {
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}

export interface WindowState {
  limit: number;
  remaining: number;
  resetMs: number;
}

export interface Decision {
  allowed: boolean;
  reason: 'requests' | 'tokens' | 'concurrency' | null;
  retryAfterMs: number;
  requests: WindowState | null;
  tokens: WindowState | null;
}

/** How long a request counts as in flight for max_concurrency if it never settles (its isolate died). */
export const LEASE_MS = 15 * 60_000;

/** A key's limits: each dimension the narrower of the key's and its account's default. */
export function effectiveLimits(key: Limits, account: Limits): Limits {
  const narrower = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  return { rpm: narrower(key.rpm, account.rpm), tpm: narrower(key.tpm, account.tpm), concurrency: narrower(key.concurrency, account.concurrency) };
}

/**
 * The rate-limit decision for one request of `tokens` on a key, inside its account's
 * object: every configured dimension is checked and `commit` (called only once the request
 * is admitted, money included) applies them all, so a refused request consumes nothing.
 * Requests in flight are the key's open holds (younger than LEASE_MS).
 */
export function decide(
  store: AccountStorage, keyId: string, limits: Limits, tokens: number, nowMs: number,
): { decision: Decision; commit: () => void } {
  const now = nowMs * 1000;
  const tats = store.windows(keyId);
  const requests = limits.rpm === null ? null : checkWindow(tats.requests, now, 1, limits.rpm);
  const tokenCheck = limits.tpm === null ? null : checkWindow(tats.tokens, now, tokens, limits.tpm);
  const full = limits.concurrency !== null && store.inFlight(keyId, nowMs - LEASE_MS) >= limits.concurrency;
  const reason =
    requests && !requests.allowed ? 'requests'
    : tokenCheck && !tokenCheck.allowed ? 'tokens'
    : full ? 'concurrency'
    : null;
  const retryAfterUs =
    reason === 'requests' ? requests!.retryAfterUs : reason === 'tokens' ? tokenCheck!.retryAfterUs : reason === 'concurrency' ? 1_000_000 : 0;
  return {
    decision: {
      allowed: reason === null,
      reason,
      retryAfterMs: Math.ceil(retryAfterUs / 1000),
      requests: requests && { limit: limits.rpm!, remaining: requests.remaining, resetMs: Math.ceil(requests.resetUs / 1000) },
      tokens: tokenCheck && { limit: limits.tpm!, remaining: tokenCheck.remaining, resetMs: Math.ceil(tokenCheck.resetUs / 1000) },
    },
    commit: () => {
      if (requests || tokenCheck) store.setWindows(keyId, { requests: requests?.tat ?? tats.requests, tokens: tokenCheck?.tat ?? tats.tokens });
    },
  };
}

/** The request is over: the token window gets back what was reserved above what was used
 *  (or takes the extra). */
export function correctTokens(store: AccountStorage, keyId: string, tpm: number | null, reserved: number, used: number, nowMs: number): void {
  if (tpm === null) return;
  const now = nowMs * 1000;
  const delta = reserved - used;
  if (delta === 0) return;
  const tats = store.windows(keyId);
  store.setWindows(keyId, { ...tats, tokens: delta > 0 ? refund(tats.tokens, now, delta, tpm) : checkWindow(tats.tokens, now, -delta, tpm).tat });
}
