/**
 * GCRA (the generic cell rate algorithm): a rate of `limit` per minute with a burst of
 * the whole minute's allowance, kept as one number per window, the theoretical arrival
 * time (TAT). Unlike fixed windows it lets no double burst through at a boundary, and
 * unlike a log it needs O(1) state. Time is in microseconds; the comparisons allow 1 µs
 * of floating-point slack, so `limit` requests arriving together are all admitted (never
 * limit - 1 through rounding) and high limits keep their full precision.
 */
export const WINDOW_US = 60_000_000;

export interface WindowCheck {
  allowed: boolean;
  /** TAT to store if the request is admitted */
  tat: number;
  /** units that could still be admitted right now (after this one, if admitted) */
  remaining: number;
  /** µs until the window is entirely free again */
  resetUs: number;
  /** µs to wait before this cost would be admitted (0 when allowed) */
  retryAfterUs: number;
}

export const intervalUs = (limitPerMinute: number): number => WINDOW_US / limitPerMinute;
const SLACK_US = 1;

export function checkWindow(tat: number, nowUs: number, cost: number, limitPerMinute: number): WindowCheck {
  const interval = intervalUs(limitPerMinute);
  const base = Math.max(tat, nowUs);
  const next = base + cost * interval;
  const allowed = next - nowUs <= WINDOW_US + SLACK_US;
  const after = allowed ? next : base;
  return {
    allowed,
    tat: next,
    remaining: Math.max(0, Math.floor((nowUs + WINDOW_US + SLACK_US - after) / interval)),
    resetUs: Math.max(0, after - nowUs),
    retryAfterUs: allowed ? 0 : next - nowUs - WINDOW_US,
  };
}

/** Gives back `units` (a refused request, or tokens estimated above what was used). */
export function refund(tat: number, nowUs: number, units: number, limitPerMinute: number): number {
  return Math.max(nowUs, tat - units * intervalUs(limitPerMinute));
}
