/** Thrown by withTimeout when the time runs out first. */
export class TimeoutError extends Error {}

/** `work`, or a TimeoutError after `ms` — for upstream reads, which must never hang. */
export async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError()), ms)))]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * Calls `onIdle` once if `touch()` has not been called for `ms`. One timer for a whole
 * stream, re-armed only when it fires, rather than one per read: reads come by the
 * hundred per stream and a timer each is measurable (BENCHMARKS.md).
 */
export function idleTimer(ms: number, onIdle: () => void): { touch: () => void; stop: () => void } {
  let last = Date.now();
  let timer: ReturnType<typeof setTimeout>;
  const check = () => {
    const idle = Date.now() - last;
    if (idle >= ms) onIdle();
    else timer = setTimeout(check, ms - idle);
  };
  timer = setTimeout(check, ms);
  return {
    touch: () => {
      last = Date.now();
    },
    stop: () => clearTimeout(timer),
  };
}
