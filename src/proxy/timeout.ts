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
