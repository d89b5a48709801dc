/**
 * When a channel is out of rotation, decided the same way by the isolates (their own view,
 * at once) and by the ChannelHealth object (the view every isolate shares).
 * - THRESHOLD consecutive failures (no connection, 5xx, a timeout, a 429 without a short
 *   retry-after, an answer that is not one) take a channel out for a cool-down: the base,
 *   doubled for every further failure in a row, up to MAX_COOL_DOWN_MS.
 * - When the cool-down is over the channel is probing: real traffic tries it again, one
 *   request per cool-down base at most; one success puts it back, one failure cools it
 *   down again, for longer.
 */
export const THRESHOLD = 3;
export const MAX_COOL_DOWN_MS = 5 * 60_000;
/** A 429 whose retry-after is at most this is the upstream pacing, not failing. */
export const SHORT_RETRY_AFTER_MS = 5_000;

export interface ChannelState {
  /** Failures in a row. */
  failures: number;
  /** Out of rotation until then (ms since the epoch); 0 when not cooling down. */
  coolUntil: number;
}

/** One attempt at a channel (or, with `key`, one call with one of its provider keys, which
 *  counts for that key's statistics only): ok, or failed; `latencyMs` to the headers. */
export interface Outcome {
  channel: string;
  ok: boolean;
  latencyMs: number | null;
  at: number;
  key?: string;
  /** Why a key's call failed, as the client would have been told. */
  error?: string;
  /** A key resting after a rate limit, until then. */
  coolUntil?: number;
}

export type Standing = 'healthy' | 'cooling' | 'probing';

export const HEALTHY: ChannelState = { failures: 0, coolUntil: 0 };

export function applyOutcome(s: ChannelState, o: Outcome, baseMs: number): ChannelState {
  if (o.ok) return HEALTHY;
  const failures = s.failures + 1;
  if (failures < THRESHOLD) return { failures, coolUntil: 0 };
  return { failures, coolUntil: o.at + Math.min(MAX_COOL_DOWN_MS, baseMs * 2 ** (failures - THRESHOLD)) };
}

export function standing(s: ChannelState | undefined, now: number): Standing {
  if (!s || s.failures < THRESHOLD) return 'healthy';
  return now < s.coolUntil ? 'cooling' : 'probing';
}
