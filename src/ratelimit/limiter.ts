import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../config';
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

/** How long a concurrency slot outlives a request that never finished (its isolate died). */
export const LEASE_US = 15 * 60_000_000;

/**
 * One object per API key (idFromName(key id)); SQLite-backed, so its windows survive
 * eviction. `admit` checks every configured dimension and commits only if all allow, so a
 * refused request consumes nothing. `finish` corrects the token window with the real
 * usage, gives back what a refused request took, and frees the concurrency slot.
 * An alarm deletes expired leases and, once the key is idle, all state; running it twice
 * is harmless.
 */
export class RateLimiter extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS windows (name TEXT PRIMARY KEY, tat REAL NOT NULL);
      CREATE TABLE IF NOT EXISTS leases (request_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);`);
  }

  async admit(requestId: string, limits: Limits, tokens: number, nowMs = Date.now()): Promise<Decision> {
    const now = nowMs * 1000;
    const requests = limits.rpm === null ? null : checkWindow(this.tat('requests'), now, 1, limits.rpm);
    const tokenCheck = limits.tpm === null ? null : checkWindow(this.tat('tokens'), now, tokens, limits.tpm);
    let inFlight = 0;
    if (limits.concurrency !== null) {
      this.sql.exec('DELETE FROM leases WHERE expires_at <= ?', now);
      inFlight = this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM leases').one().n;
    }
    const reason =
      requests && !requests.allowed ? 'requests'
      : tokenCheck && !tokenCheck.allowed ? 'tokens'
      : limits.concurrency !== null && inFlight >= limits.concurrency ? 'concurrency'
      : null;
    if (reason === null) {
      if (requests) this.setTat('requests', requests.tat);
      if (tokenCheck) this.setTat('tokens', tokenCheck.tat);
      if (limits.concurrency !== null) {
        this.sql.exec('INSERT OR REPLACE INTO leases (request_id, expires_at) VALUES (?, ?)', requestId, now + LEASE_US);
      }
      await this.scheduleCleanup(now);
    }
    const retryAfterUs =
      reason === 'requests' ? requests!.retryAfterUs : reason === 'tokens' ? tokenCheck!.retryAfterUs : reason === 'concurrency' ? 1_000_000 : 0;
    return {
      allowed: reason === null,
      reason,
      retryAfterMs: Math.ceil(retryAfterUs / 1000),
      requests: requests && { limit: limits.rpm!, remaining: requests.remaining, resetMs: Math.ceil(requests.resetUs / 1000) },
      tokens: tokenCheck && { limit: limits.tpm!, remaining: tokenCheck.remaining, resetMs: Math.ceil(tokenCheck.resetUs / 1000) },
    };
  }

  /**
   * The request is over: give back the tokens reserved above those used (or take the
   * extra), give back the request itself when it was refused elsewhere (402), and free
   * its concurrency slot.
   */
  async finish(
    requestId: string, limits: Limits, reservedTokens: number, usedTokens: number, refundRequest: boolean, nowMs = Date.now(),
  ): Promise<void> {
    const now = nowMs * 1000;
    if (limits.tpm !== null) {
      const delta = reservedTokens - usedTokens;
      const tat = this.tat('tokens');
      this.setTat('tokens', delta >= 0 ? refund(tat, now, delta, limits.tpm) : checkWindow(tat, now, -delta, limits.tpm).tat);
    }
    if (refundRequest && limits.rpm !== null) this.setTat('requests', refund(this.tat('requests'), now, 1, limits.rpm));
    this.sql.exec('DELETE FROM leases WHERE request_id = ?', requestId);
    await this.scheduleCleanup(now);
  }

  override async alarm(): Promise<void> {
    const now = Date.now() * 1000;
    this.sql.exec('DELETE FROM leases WHERE expires_at <= ?', now);
    const busyUntil = this.busyUntil();
    if (busyUntil <= now) this.sql.exec('DELETE FROM windows');
    else await this.ctx.storage.setAlarm(Math.ceil(busyUntil / 1000) + 1000);
  }

  private tat(name: string): number {
    return this.sql.exec<{ tat: number }>('SELECT tat FROM windows WHERE name = ?', name).toArray()[0]?.tat ?? 0;
  }

  private setTat(name: string, tat: number): void {
    this.sql.exec('INSERT INTO windows (name, tat) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET tat = excluded.tat', name, tat);
  }

  /** µs at which this key holds no state worth keeping: windows refilled, leases expired. */
  private busyUntil(): number {
    const tat = this.sql.exec<{ t: number | null }>('SELECT MAX(tat) AS t FROM windows').one().t ?? 0;
    const lease = this.sql.exec<{ t: number | null }>('SELECT MAX(expires_at) AS t FROM leases').one().t ?? 0;
    return Math.max(tat, lease);
  }

  /** One alarm, just after the key would be idle; it re-arms itself if still busy then. */
  private async scheduleCleanup(now: number): Promise<void> {
    await this.ctx.storage.setAlarm(Math.ceil(Math.max(this.busyUntil(), now) / 1000) + 1000);
  }
}
