import type { AccountStorage } from '../account/storage';
import { checkWindow, refund } from './gcra';

/** A key's or an account's limits; null = unlimited in that dimension. */
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
  /** Whose limit refused it: the key's own, or its account's. */
  scope: 'key' | 'account' | null;
  retryAfterMs: number;
  requests: WindowState | null;
  tokens: WindowState | null;
}

/** How long a request counts as in flight for max_concurrency if it never settles (its isolate died). */
export const LEASE_MS = 15 * 60_000;

/** The rate windows of an account as a whole, beside its keys' own (no key id is empty). */
export const ACCOUNT_WINDOW = '';

/** The limits a request is decided against: its key's own, and its account's, which bound
 *  every key of the account together (so minting more keys never widens them). */
export interface RequestLimits {
  key: Limits;
  account: Limits;
}

/**
 * The rate-limit decision for one request of `tokens` on a key, inside its account's
 * object: every configured dimension of the key and of the account is checked and `commit`
 * (called only once the request is admitted, money included) applies them all, so a
 * refused request consumes nothing. Requests in flight are open holds (younger than
 * LEASE_MS): the key's for its own max_concurrency, all of them for the account's.
 */
export function decide(
  store: AccountStorage, keyId: string, limits: RequestLimits, tokens: number, nowMs: number,
): { decision: Decision; commit: () => void } {
  const now = nowMs * 1000;
  const since = nowMs - LEASE_MS;
  const scopes = [
    { scope: 'key' as const, id: keyId, limits: limits.key, inFlight: () => store.inFlight(keyId, since) },
    { scope: 'account' as const, id: ACCOUNT_WINDOW, limits: limits.account, inFlight: () => store.inFlightAll(since) },
  ].map((scope) => {
    const tats = store.windows(scope.id);
    const { rpm, tpm, concurrency } = scope.limits;
    return {
      ...scope,
      tats,
      requests: rpm === null ? null : checkWindow(tats.requests, now, 1, rpm),
      tokens: tpm === null ? null : checkWindow(tats.tokens, now, tokens, tpm),
      full: concurrency !== null && scope.inFlight() >= concurrency,
    };
  });
  let reason: Decision['reason'] = null;
  let scope: Decision['scope'] = null;
  let retryAfterUs = 0;
  const refuse = (why: NonNullable<Decision['reason']>, whose: 'key' | 'account', waitUs: number) => {
    if (reason === null) [reason, scope] = [why, whose];
    retryAfterUs = Math.max(retryAfterUs, waitUs);
  };
  for (const s of scopes) {
    if (s.requests && !s.requests.allowed) refuse('requests', s.scope, s.requests.retryAfterUs);
    if (s.tokens && !s.tokens.allowed) refuse('tokens', s.scope, s.tokens.retryAfterUs);
    if (s.full) refuse('concurrency', s.scope, 1_000_000);
  }
  // The headers show, per dimension, whichever of the key's and the account's windows has
  // the fewer left: that is the one the next request meets.
  const tightest = (kind: 'requests' | 'tokens', limit: (l: Limits) => number | null): WindowState | null => {
    let best: WindowState | null = null;
    for (const s of scopes) {
      const check = s[kind];
      if (!check) continue;
      const state = { limit: limit(s.limits)!, remaining: check.remaining, resetMs: Math.ceil(check.resetUs / 1000) };
      if (!best || state.remaining < best.remaining) best = state;
    }
    return best;
  };
  return {
    decision: {
      allowed: reason === null,
      reason,
      scope,
      retryAfterMs: Math.ceil(retryAfterUs / 1000),
      requests: tightest('requests', (l) => l.rpm),
      tokens: tightest('tokens', (l) => l.tpm),
    },
    commit: () => {
      for (const s of scopes) {
        if (s.requests || s.tokens) store.setWindows(s.id, { requests: s.requests?.tat ?? s.tats.requests, tokens: s.tokens?.tat ?? s.tats.tokens });
      }
    },
  };
}

/** The request is over: a token window (a key's, or ACCOUNT_WINDOW) gets back what was
 *  reserved above what was used (or takes the extra). */
export function correctTokens(store: AccountStorage, windowId: string, tpm: number | null, reserved: number, used: number, nowMs: number): void {
  if (tpm === null) return;
  const now = nowMs * 1000;
  const delta = reserved - used;
  if (delta === 0) return;
  const tats = store.windows(windowId);
  store.setWindows(windowId, { ...tats, tokens: delta > 0 ? refund(tats.tokens, now, delta, tpm) : checkWindow(tats.tokens, now, -delta, tpm).tat });
}
