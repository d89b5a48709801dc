import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../config';

/** After `limit` failures within `windowMs`, every attempt is refused for `lockMs`. */
export interface AttemptRule {
  limit: number;
  windowMs: number;
  lockMs: number;
}

/** The contract's log-in rule, for one address from one source; redemption codes use the same. */
export const FAILED_ATTEMPTS: AttemptRule = { limit: 10, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };
/** Failed log-ins from one source, whatever the address (password spraying). */
export const SOURCE_ATTEMPTS: AttemptRule = { limit: 30, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };
/** Failed log-ins for one address from every source together: high enough that locking a
 *  customer out takes an attacker ten sources, low enough to stop a distributed guess. */
export const ADDRESS_ATTEMPTS: AttemptRule = { limit: 100, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };
/** Sign-ups from one source, each one counted (trial credit farming, address probing). */
export const SIGNUPS: AttemptRule = { limit: 10, windowMs: 60 * 60_000, lockMs: 60 * 60_000 };

/** E-mailed links: verification mails one account may ask for, and reset mails per source
 *  and per address (each one counted, none taken back). */
export const VERIFY_MAILS: AttemptRule = { limit: 5, windowMs: 60 * 60_000, lockMs: 60 * 60_000 };
export const RESET_MAILS: AttemptRule = { limit: 5, windowMs: 60 * 60_000, lockMs: 60 * 60_000 };

/** Stripe Checkout sessions one account may start: every start counts, none is taken back. */
export const CHECKOUT_STARTS: AttemptRule = { limit: 10, windowMs: 60 * 60_000, lockMs: 60 * 60_000 };

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

/**
 * Where a request comes from, for throttling: the client address Cloudflare saw
 * (cf-connecting-ip; 'local' without one, as under `npm run dev`), an IPv6 address by its
 * /64, which one subscriber holds whole.
 */
export function sourceOf(ip: string | undefined): string {
  if (!ip) return 'local';
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.split('::');
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups.slice(0, 4).map((g) => parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}

/** Several limiters asked together: refused if any refuses (the others' count is taken back). */
export async function beginAll(env: Env, rules: Array<[name: string, rule: AttemptRule]>): Promise<AttemptAnswer & { succeeded: () => Promise<void> }> {
  const stubs = rules.map(([name, rule]) => ({ stub: attempts(env, name), rule }));
  const answers: AttemptAnswer[] = await Promise.all(stubs.map(({ stub, rule }) => stub.begin(rule)));
  const succeeded = async () => void (await Promise.all(stubs.map(({ stub, rule }) => stub.succeeded(rule))));
  const waits = answers.flatMap((a) => (a.ok ? [] : [a.retryAfterMs]));
  if (waits.length === 0) return { ok: true, succeeded };
  await Promise.all(stubs.filter((_, i) => answers[i]!.ok).map(({ stub, rule }) => stub.succeeded(rule)));
  return { ok: false, retryAfterMs: Math.max(...waits), succeeded };
}
