import { DurableObject } from 'cloudflare:workers';
import { config, type Env } from '../config';
import { flushOutcome, flushStatements, readFunds } from '../db/ledger';
import { ACCOUNT_WINDOW, correctTokens, decide, type Decision, type Limits } from '../ratelimit/windows';
import { migrateStorage } from './migrations';
import { AccountStorage, STORED_RETENTION_MS, type Funds, type Hold, type UsageFilter, type UsageRow } from './storage';

/** What an isolate knows of a key, from its cache, for the object's decision. */
export interface KeyTerms {
  id: string;
  name: string;
  /** The key's own limits (its account's are HoldRequest.accountLimits). */
  limits: Limits;
  spendLimit: number | null;
  /** api_keys.spent when the isolate read the key: where this object starts counting. */
  spent: number;
}

export interface HoldRequest {
  accountId: string;
  requestId: string;
  key: KeyTerms;
  /** The account's limits, which bound all its keys together (absent: none). */
  accountLimits?: Limits;
  model: string;
  /** µ$: the request's worst-case cost (billing/hold.ts), before `references`. */
  amount: number;
  /** Tokens counted against the tpm windows until the real usage is known. */
  tokens: number;
  /** Stored state the request builds on (a previous response, item references): each must
   *  be this account's own, and its tokens are held at `promptPrice` (µ$ per 1M tokens). */
  references?: { ids: string[]; promptPrice: number };
  /** The clock, for tests of the rate windows; the object's own otherwise. */
  nowMs?: number;
}

/** `held` and `storedTokens`: the hold and the prompt tokens of its references, as placed. */
export type HoldAnswer =
  | { ok: true; available: number; rate: Decision; held: number; storedTokens: number }
  | { ok: false; reason: 'revoked' | 'suspended' }
  | { ok: false; reason: 'unknown_reference'; id: string }
  | { ok: false; reason: 'balance' | 'spend_limit'; available: number; needed: number; storedTokens: number }
  | { ok: false; reason: 'rate'; rate: Decision };

/** How a request ended, for its usage row: what the isolate measured and priced, and the
 *  Responses API state it stored at the provider (its response and items, with their tokens). */
export type Receipt = Omit<UsageRow, 'request_id' | 'key_id' | 'key_name' | 'model'> & {
  tokens_used: number;
  stored?: Array<{ id: string; tokens: number }>;
};

const UNLIMITED = Number.MAX_SAFE_INTEGER;
const UNLIMITED_LIMITS: Limits = { rpm: null, tpm: null, concurrency: null };
/** Longest a debit elsewhere may keep this object from taking a new reservation. */
const RELEASE_LEASE_MS = 5_000;

/**
 * One object per account (idFromName(account id)): the only writer of the account's hot
 * state. Its single thread decides every request of every key of the account — key
 * revoked, rate windows, spend limit and credit hold together, in one call — so no burst,
 * however concurrent, spends what the account does not have. Money comes from a
 * reservation taken from D1's balance in bulk (src/db/ledger.ts flushStatements): open
 * holds plus charges not yet flushed never exceed it. Charges are flushed to D1 by an alarm
 * a few seconds after the first one, as one ledger row, daily totals and the key spends, in
 * one numbered (so idempotent) transaction, which also tops the reservation up to the
 * balance. The per-request usage rows stay here, kept USAGE_RETENTION_DAYS.
 *
 * All D1 work runs one task at a time (`queue`), so reservations, flushes and releases
 * never interleave; everything else is synchronous SQLite and cannot interleave at all.
 */
export class AccountState extends DurableObject<Env> {
  private readonly store: AccountStorage;
  private funds: Funds | null;
  /** µ$ in open holds. */
  private held: number;
  /** µ$ charged by settled requests that D1 has not applied yet. */
  private pending: number;
  /** While a flush's outcome is unknown: the most this object may have promised when it
   *  lands (it may be lowering the reservation). */
  private cap = UNLIMITED;
  private queue: Promise<unknown> = Promise.resolve();
  private topUp: Promise<void> | null = null;
  private lease: { token: string; end: () => void } | null = null;
  private flushDueAt: number | null = null;
  private alarmAt: number | null = null;
  private lastActive = Date.now();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Storage an earlier version wrote is brought to this version's schema first: the
    // constructor finishes before any call reaches the object, and a step that fails makes
    // it refuse every call (account/migrations.ts).
    migrateStorage(ctx.storage);
    this.store = new AccountStorage(ctx.storage.sql);
    this.funds = this.store.funds();
    this.held = this.store.held();
    this.pending = this.funds ? this.store.unflushed(this.funds.seq) : 0;
    // Restarted with a flush whose outcome was never learnt: promise nothing more until
    // the next flush (which retries it) says where D1 stands.
    if (this.funds && this.store.isStaged(this.funds.seq + 1)) this.cap = this.held + this.pending;
    if (this.store.hasUnflushed()) this.flushDueAt = Date.now();
    ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** Admits a request or says why not; nothing is changed by a refusal. */
  async admit(r: HoldRequest): Promise<HoldAnswer> {
    await this.ready(r.accountId);
    const nowMs = r.nowMs ?? Date.now();
    this.lastActive = Date.now();
    for (let attempt = 0; ; attempt++) {
      const funds = this.funds!;
      if (funds.suspended) return { ok: false, reason: 'suspended' };
      const key = this.store.key(r.key.id, r.key.spent, funds.seq);
      if (key.revoked) return { ok: false, reason: 'revoked' };
      const stored = this.store.storedTokens(r.references?.ids ?? []);
      if (stored.missing !== null) return { ok: false, reason: 'unknown_reference', id: stored.missing };
      const storedTokens = stored.tokens;
      const amount = r.amount + Math.ceil((storedTokens * (r.references?.promptPrice ?? 0)) / 1_000_000);
      const tokens = r.tokens + storedTokens;
      const accountLimits = r.accountLimits ?? UNLIMITED_LIMITS;
      const { decision, commit } = decide(this.store, r.key.id, { key: r.key.limits, account: accountLimits }, tokens, nowMs);
      if (!decision.allowed) return { ok: false, reason: 'rate', rate: decision };
      if (r.key.spendLimit !== null) {
        const left = r.key.spendLimit - key.spent - this.store.heldByKey(r.key.id);
        if (amount > left) return { ok: false, reason: 'spend_limit', available: Math.max(0, Math.min(left, this.available())), needed: amount, storedTokens };
      }
      if (this.held + this.pending + amount > Math.min(funds.reserved, this.cap)) {
        // Short: take what the balance has now (one D1 transaction, shared by every
        // request that is short at the same time), then decide again, once.
        if (attempt === 0) {
          await (this.topUp ??= this.exclusive(() => this.flush(UNLIMITED)).finally(() => (this.topUp = null)));
          continue;
        }
        return { ok: false, reason: 'balance', available: this.available(), needed: amount, storedTokens };
      }
      commit();
      this.store.addHold({
        request_id: r.requestId, key_id: r.key.id, key_name: r.key.name, model: r.model,
        amount, tokens, tpm: r.key.limits.tpm, account_tpm: accountLimits.tpm, created_at: nowMs,
      });
      this.held += amount;
      await this.alarmBy(nowMs + config(this.env).HOLD_TIMEOUT_MINUTES * 60_000);
      return { ok: true, available: this.available(), rate: decision, held: amount, storedTokens };
    }
  }

  /** Whether the key may be used now, as admit() decides it first: for the routes that place
   *  no hold, so that a revoked key or a suspended account is refused there too. */
  async keyStatus(accountId: string, keyId: string, spentInD1: number): Promise<'ok' | 'revoked' | 'suspended'> {
    await this.ready(accountId);
    if (this.funds!.suspended) return 'suspended';
    return this.store.key(keyId, spentInD1, this.funds!.seq).revoked ? 'revoked' : 'ok';
  }

  /** Ends a request: its hold goes, its charge (never above the hold) and usage row come.
   *  A request settled already, or expired by the alarm, is not settled again. */
  async settle(accountId: string, requestId: string, receipt: Receipt, nowMs = Date.now()): Promise<void> {
    await this.ready(accountId);
    const hold = this.store.takeHold(requestId);
    if (!hold) return;
    this.lastActive = Date.now();
    this.close(hold, receipt, nowMs);
    await this.alarmBy(this.flushDueAt!);
  }

  /** The key is revoked: refused from its next request on, whatever an isolate remembers. */
  async revokeKey(accountId: string, keyId: string): Promise<void> {
    await this.ready(accountId);
    this.store.revokeKey(keyId);
  }

  /** An open payment dispute suspends the account's API use until it closes. */
  async setSuspended(accountId: string, suspended: boolean): Promise<void> {
    await this.ready(accountId);
    this.funds = { ...this.funds!, suspended: suspended ? 1 : 0 };
    this.store.saveFunds(this.funds);
  }

  /** What the account can spend now: D1's balance less open holds and charges D1 lacks. */
  async balance(accountId: string): Promise<number> {
    await this.ready(accountId);
    const d1 = await readFunds(this.env.DB, accountId);
    if (!d1) throw new Error(`account ${accountId} is not in D1`);
    return Math.max(0, d1.balance - this.held - this.store.unflushed(d1.flushed_seq));
  }

  async usage(accountId: string, limit: number): Promise<UsageRow[]> {
    await this.ready(accountId);
    return this.store.listUsage(limit);
  }

  /** A page of the account's usage rows, filtered (the console's logs). */
  async findUsage(accountId: string, filter: UsageFilter): Promise<{ rows: UsageRow[]; next: number | null }> {
    await this.ready(accountId);
    return this.store.findUsage(filter);
  }

  /** Flushes now what the alarm would flush soon (so the ledger is complete when read). */
  async flushNow(accountId: string): Promise<void> {
    await this.ready(accountId);
    if (this.store.hasUnflushed() || this.store.isStaged(this.funds!.seq + 1)) await this.exclusive(() => this.flush(UNLIMITED));
  }

  /**
   * Gives every µ$ not promised to a request in flight back to D1, and takes no new
   * reservation until resume(token) or RELEASE_LEASE_MS: the moment for a debit in D1 (a
   * refund, a negative adjustment) to take credit the object might otherwise be spending.
   */
  async release(accountId: string): Promise<string> {
    await this.ready(accountId);
    const token = crypto.randomUUID();
    let released!: () => void;
    let failed!: (err: unknown) => void;
    const landed = new Promise<void>((resolve, reject) => ((released = resolve), (failed = reject)));
    void this.exclusive(async () => {
      try {
        await this.flush(0);
      } catch (err) {
        failed(err);
        return;
      }
      released();
      await new Promise<void>((end) => {
        this.lease = { token, end };
        setTimeout(end, RELEASE_LEASE_MS);
      });
      this.lease = null;
    });
    await landed;
    return token;
  }

  async resume(token: string): Promise<void> {
    if (this.lease?.token === token) this.lease.end();
  }

  /** Expires holds past HOLD_TIMEOUT_MINUTES, flushes what is due, forgets usage rows past
   *  retention, and gives the reservation back once the account is idle. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    if (!this.funds) return;
    const cfg = config(this.env);
    const now = Date.now();
    // The sweeper's rule: a request that never settled (its isolate died) produced nothing
    // anyone can show, so it is released in full and charged nothing.
    for (const hold of this.store.takeHoldsBefore(now - cfg.HOLD_TIMEOUT_MINUTES * 60_000)) {
      this.close(hold, {
        channel: null, input_tokens: 0, output_tokens: 0, cached_tokens: 0, cache_write_tokens: 0, cost: 0, reported_cost: 0, capped: false, unit: 'tokens', quantity: null,
        status: 'failed', latency_ms: now - hold.created_at, first_byte_ms: null, estimated: false,
        created_at: new Date(now).toISOString(), tokens_used: 0,
      }, now);
    }
    this.store.dropUsageBefore(new Date(now - cfg.USAGE_RETENTION_DAYS * 86_400_000).toISOString(), this.funds.seq);
    this.store.dropStoredBefore(now - STORED_RETENTION_MS);
    if (this.store.hasUnflushed() || this.store.isStaged(this.funds.seq + 1)) {
      this.flushDueAt = null;
      await this.exclusive(() => this.flush(UNLIMITED));
    } else if (this.held === 0 && this.pending === 0 && this.funds.reserved > 0 && now - this.lastActive >= cfg.RESERVE_IDLE_SECONDS * 1000) {
      await this.exclusive(() => this.flush(0));
    }
    await this.schedule();
  }

  private available(): number {
    return Math.max(0, this.funds!.balance - this.held - this.pending);
  }

  private close(hold: Hold, receipt: Receipt, nowMs: number): void {
    const { tokens_used, stored, ...row } = receipt;
    const cost = Math.min(row.cost, hold.amount);
    this.store.addUsage({ ...row, cost, capped: row.capped || row.cost > hold.amount, request_id: hold.request_id, key_id: hold.key_id, key_name: hold.key_name, model: hold.model });
    if (stored) this.store.addStored(stored, nowMs);
    this.store.addKeySpend(hold.key_id, cost);
    correctTokens(this.store, hold.key_id, hold.tpm, hold.tokens, tokens_used, nowMs);
    correctTokens(this.store, ACCOUNT_WINDOW, hold.account_tpm, hold.tokens, tokens_used, nowMs);
    this.held -= hold.amount;
    this.pending += cost;
    this.flushDueAt ??= Date.now() + config(this.env).FLUSH_DELAY_SECONDS * 1000;
  }

  /**
   * One flush: the rows not yet in D1 (or those of a flush whose outcome was lost, again,
   * unchanged), applied in one D1 transaction that also sets the reservation to `reserve`
   * (never below what is promised, never above the balance). Runs inside exclusive().
   */
  private async flush(reserve: number): Promise<void> {
    const funds = this.funds!;
    const seq = funds.seq + 1;
    if (!this.store.isStaged(seq)) this.store.stage(seq);
    const contents = this.store.flushContents(seq);
    const target = Math.max(reserve, this.held + this.pending - contents.amount);
    this.cap = Math.min(this.cap, target + contents.amount);
    const results = await this.env.DB.batch(flushStatements(this.env.DB, { accountId: funds.account_id, seq, reserve: target, ...contents }));
    const after = flushOutcome(results);
    if (after?.flushed_seq !== seq) throw new Error(`flush ${seq} of ${funds.account_id} did not apply (D1 is at ${after?.flushed_seq})`);
    this.funds = { ...this.funds!, balance: after.balance, reserved: after.reserved, seq };
    this.store.saveFunds(this.funds);
    this.store.applyKeySpend(seq);
    this.pending -= contents.amount;
    this.cap = UNLIMITED;
  }

  /** Runs D1 work one task at a time, after any release lease has ended. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  /** First call: the account's funds as D1 has them. */
  private async ready(accountId: string): Promise<void> {
    if (this.funds) return;
    const d1 = await readFunds(this.env.DB, accountId);
    if (!d1) throw new Error(`account ${accountId} is not in D1`);
    this.funds ??= { account_id: accountId, balance: d1.balance, reserved: d1.reserved, seq: d1.flushed_seq, suspended: 0 };
    this.store.saveFunds(this.funds);
  }

  /** The alarm, at the earliest of: a flush due, the oldest hold's expiry, the oldest usage
   *  row's retention, and the reservation's idle return (after each alarm). */
  private async schedule(): Promise<void> {
    const cfg = config(this.env);
    const oldestHold = this.store.oldestHold();
    const oldestUsage = this.store.oldestUsage();
    const candidates = [
      this.flushDueAt,
      oldestHold === null ? null : oldestHold + cfg.HOLD_TIMEOUT_MINUTES * 60_000,
      oldestUsage === null ? null : Date.parse(oldestUsage) + cfg.USAGE_RETENTION_DAYS * 86_400_000,
      this.funds && this.funds.reserved > 0 ? this.lastActive + cfg.RESERVE_IDLE_SECONDS * 1000 : null,
    ].filter((t): t is number => t !== null);
    if (candidates.length > 0) await this.alarmBy(Math.min(...candidates));
  }

  /** Makes sure the alarm comes no later than `at` (the alarm itself then schedules the next). */
  private async alarmBy(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }
}
