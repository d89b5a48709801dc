/**
 * What an isolate remembers of D1 between requests (keys, the catalog), so that a warm
 * isolate reads no D1 row before an upstream call. An entry younger than half its time to
 * live is used as is; older, it is still used but `stale` asks the caller to refresh it in
 * the background; past its time to live it is not used at all. So a change in D1 reaches
 * every isolate within the time to live, and steady traffic never waits for D1.
 */
export class IsolateCache<T> {
  private readonly entries = new Map<string, { value: T; at: number; refreshing: boolean }>();

  constructor(private readonly maxEntries: number) {}

  get(id: string, ttlMs: number, nowMs = Date.now()): { value: T; stale: boolean } | null {
    const entry = this.entries.get(id);
    if (!entry || nowMs - entry.at >= ttlMs) return null;
    const stale = !entry.refreshing && nowMs - entry.at >= ttlMs / 2;
    if (stale) entry.refreshing = true; // one background refresh per entry at a time
    return { value: entry.value, stale };
  }

  /** Whether a usable entry is there, without asking for a refresh. */
  has(id: string, ttlMs: number, nowMs = Date.now()): boolean {
    const entry = this.entries.get(id);
    return entry !== undefined && nowMs - entry.at < ttlMs;
  }

  put(id: string, value: T, nowMs = Date.now()): void {
    if (this.entries.size >= this.maxEntries && !this.entries.has(id)) this.entries.clear();
    this.entries.set(id, { value, at: nowMs, refreshing: false });
  }

  delete(id: string): void {
    this.entries.delete(id);
  }

  deleteWhere(matches: (value: T) => boolean): void {
    for (const [id, entry] of this.entries) if (matches(entry.value)) this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }
}
