import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../config';

/** After `limit` failures within `windowMs`, every attempt is refused for `lockMs`. */
export interface AttemptRule {
  limit: number;
  windowMs: number;
  lockMs: number;
}

/** The contract's log-in rule; redemption codes use the same. */
export const FAILED_ATTEMPTS: AttemptRule = { limit: 10, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };

export type AttemptAnswer = { ok: true } | { ok: false; retryAfterMs: number };

interface State {
  failures: number[];
  lockedUntil: number;
}

/**
 * Failed attempts at a secret — a password for one email, redemption codes for one account
 * — one object per name (idFromName('login:<email>')). An attempt counts as a failure from
 * the moment it begins, and is taken back only when it succeeds: so guesses sent together,
 * while the slow password hash runs, are counted one by one, and the eleventh is refused
 * however many arrive at once.
 */
export class AttemptLimiter extends DurableObject<Env> {
  private state: State | null = null;

  async begin(rule: AttemptRule, nowMs = Date.now()): Promise<AttemptAnswer> {
    const s = await this.load();
    if (s.lockedUntil > nowMs) return { ok: false, retryAfterMs: s.lockedUntil - nowMs };
    s.failures = s.failures.filter((t) => t > nowMs - rule.windowMs);
    s.failures.push(nowMs);
    if (s.failures.length >= rule.limit) s.lockedUntil = nowMs + rule.lockMs;
    await this.save(s);
    return { ok: true };
  }

  /** The attempt begun last was right: it was no failure. */
  async succeeded(rule: AttemptRule): Promise<void> {
    const s = await this.load();
    s.failures.pop();
    if (s.failures.length < rule.limit) s.lockedUntil = 0;
    await this.save(s);
  }

  private async load(): Promise<State> {
    this.state ??= (await this.ctx.storage.get<State>('state')) ?? { failures: [], lockedUntil: 0 };
    return this.state;
  }

  private async save(s: State): Promise<void> {
    await this.ctx.storage.put('state', s);
  }
}

export const attempts = (env: Env, name: string) => env.ATTEMPTS.get(env.ATTEMPTS.idFromName(name));
