import type { Unit } from '../billing/units';
import type { DailyTotal, HourlyTotal } from '../db/ledger';

/**
 * The SQLite storage of an account's object (object.ts): what it must still know after an
 * eviction or a restart. Every query the object runs is here; its tables and their history
 * are in migrations.ts. Money is integer µ$, times are ms since the epoch except
 * usage.created_at (ISO 8601, as the API shows it).
 */


/** OpenAI keeps stored responses 30 days. */
export const STORED_RETENTION_MS = 30 * 86_400_000;

export type UsageStatus = 'success' | 'failed' | 'cancelled' | 'timeout';

/** One request, as its usage row holds it. cost is µ$. */
export interface UsageRow {
  request_id: string;
  key_id: string;
  key_name: string;
  model: string;
  channel: string | null;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  /** The part of input_tokens written to the provider's cache. */
  cache_write_tokens: number;
  /** µ$ charged: reported_cost, capped at the request's hold. */
  cost: number;
  /** µ$ the reported (or estimated) tokens cost at the model's prices. */
  reported_cost: number;
  /** The charge was capped at the hold (reported_cost > cost). */
  capped: boolean;
  /** What the request was priced in (billing/units.ts), and how many of it where that is
   *  not tokens (images, characters, seconds of audio); null for tokens. */
  unit: Unit;
  quantity: number | null;
  status: UsageStatus;
  latency_ms: number;
  first_byte_ms: number | null;
  estimated: boolean;
  created_at: string;
}

/** Which usage rows to read; from/to are ISO times (to exclusive). */
export interface UsageFilter {
  limit: number;
  before?: number | null;
  keyId?: string | null;
  model?: string | null;
  channel?: string | null;
  status?: UsageStatus | null;
  from?: string | null;
  to?: string | null;
}

export interface Funds {
  account_id: string;
  balance: number;
  reserved: number;
  seq: number;
  suspended: number;
}

export interface Hold {
  request_id: string;
  key_id: string;
  key_name: string;
  model: string;
  amount: number;
  tokens: number;
  tpm: number | null;
  /** The account's tpm when admitted (null: none, or a hold placed before version 2). */
  account_tpm: number | null;
  created_at: number;
}

type StoredUsage = Omit<UsageRow, 'capped' | 'estimated'> & { capped: number; estimated: number; flush: number | null };

const fromStored = ({ flush: _flush, ...r }: StoredUsage): UsageRow => ({ ...r, capped: r.capped === 1, estimated: r.estimated === 1 });

/** Reads of keys, windows and open holds are served from memory (this object is their
 *  only writer); every write goes to SQLite at once. */
export class AccountStorage {
  private readonly keys = new Map<string, { spent: number; revoked: boolean }>();
  private readonly windowsByKey = new Map<string, { requests: number; tokens: number }>();
  /** Open holds by key: what admit() asks of them on every request, without a query. */
  private readonly holdsByKey = new Map<string, Map<string, Pick<Hold, 'amount' | 'created_at'>>>();

  /** `sql` at this version's schema (migrations.ts brought it there). */
  constructor(private readonly sql: SqlStorage) {
    for (const h of sql.exec<Hold & Record<string, SqlStorageValue>>('SELECT key_id, request_id, amount, created_at FROM holds')) this.remember(h);
  }

  funds(): Funds | null {
    return this.sql.exec<Funds & Record<string, SqlStorageValue>>('SELECT account_id, balance, reserved, seq, suspended FROM funds').toArray()[0] ?? null;
  }

  saveFunds(f: Funds): void {
    this.sql.exec(
      `INSERT INTO funds (id, account_id, balance, reserved, seq, suspended) VALUES (1, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET balance = excluded.balance, reserved = excluded.reserved, seq = excluded.seq, suspended = excluded.suspended`,
      f.account_id, f.balance, f.reserved, f.seq, f.suspended,
    );
  }

  /** The key as this object knows it: created, when first seen, with what D1 says it spent;
   *  `spent` counts every charge, applied to D1 (`appliedSeq`) or not. */
  key(id: string, spentInD1: number, appliedSeq: number): { spent: number; revoked: boolean } {
    let key = this.keys.get(id);
    if (!key) {
      this.sql.exec('INSERT INTO keys (id, spent) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', id, spentInD1);
      const row = this.sql
        .exec<{ spent: number; revoked: number }>(
          `SELECT spent + (SELECT COALESCE(SUM(cost), 0) FROM usage WHERE key_id = ?1 AND (flush IS NULL OR flush > ?2)) AS spent, revoked
           FROM keys WHERE id = ?1`,
          id, appliedSeq,
        )
        .one();
      key = { spent: row.spent, revoked: row.revoked === 1 };
      this.keys.set(id, key);
    }
    return key;
  }

  revokeKey(id: string): void {
    this.sql.exec('INSERT INTO keys (id, spent, revoked) VALUES (?, 0, 1) ON CONFLICT (id) DO UPDATE SET revoked = 1', id);
    this.keys.delete(id);
  }

  /** A settled charge: in memory now, in the keys table once its flush is applied. */
  addKeySpend(id: string, amount: number): void {
    const key = this.keys.get(id);
    if (key) key.spent += amount;
  }

  /** Flush `seq` was applied: what it charged each key is theirs for good. */
  applyKeySpend(seq: number): void {
    this.sql.exec(
      `UPDATE keys SET spent = spent + (SELECT COALESCE(SUM(cost), 0) FROM usage WHERE flush = ?1 AND key_id = keys.id)
       WHERE id IN (SELECT key_id FROM usage WHERE flush = ?1)`,
      seq,
    );
  }

  /** A key's windows (0 = never used). */
  windows(keyId: string): { requests: number; tokens: number } {
    let w = this.windowsByKey.get(keyId);
    if (!w) {
      w = this.sql.exec<{ requests: number; tokens: number }>('SELECT requests, tokens FROM windows WHERE key_id = ?', keyId).toArray()[0]
        ?? { requests: 0, tokens: 0 };
      this.windowsByKey.set(keyId, w);
    }
    return w;
  }

  setWindows(keyId: string, w: { requests: number; tokens: number }): void {
    this.sql.exec(
      'INSERT INTO windows (key_id, requests, tokens) VALUES (?, ?, ?) ON CONFLICT (key_id) DO UPDATE SET requests = excluded.requests, tokens = excluded.tokens',
      keyId, w.requests, w.tokens,
    );
    this.windowsByKey.set(keyId, w);
  }

  /** µ$ held by open holds: in all, and for one key. */
  held(): number {
    let sum = 0;
    for (const keyId of this.holdsByKey.keys()) sum += this.heldByKey(keyId);
    return sum;
  }

  heldByKey(keyId: string): number {
    let sum = 0;
    for (const h of this.holdsByKey.get(keyId)?.values() ?? []) sum += h.amount;
    return sum;
  }

  /** All the account's holds younger than `sinceMs`: its requests in flight. */
  inFlightAll(sinceMs: number): number {
    let n = 0;
    for (const keyId of this.holdsByKey.keys()) n += this.inFlight(keyId, sinceMs);
    return n;
  }

  /** The key's holds younger than `sinceMs`: its requests in flight. */
  inFlight(keyId: string, sinceMs: number): number {
    let n = 0;
    for (const h of this.holdsByKey.get(keyId)?.values() ?? []) if (h.created_at > sinceMs) n++;
    return n;
  }

  addHold(h: Hold): void {
    this.sql.exec(
      'INSERT INTO holds (request_id, key_id, key_name, model, amount, tokens, tpm, account_tpm, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      h.request_id, h.key_id, h.key_name, h.model, h.amount, h.tokens, h.tpm, h.account_tpm, h.created_at,
    );
    this.remember(h);
  }

  /** Removes and returns the request's hold; null if it was settled or expired already. */
  takeHold(requestId: string): Hold | null {
    const hold = this.sql.exec<Hold & Record<string, SqlStorageValue>>('DELETE FROM holds WHERE request_id = ? RETURNING *', requestId).toArray()[0] ?? null;
    if (hold) this.forget(hold);
    return hold;
  }

  /** Removes and returns the holds placed before `createdBeforeMs`. */
  takeHoldsBefore(createdBeforeMs: number): Hold[] {
    const holds = this.sql.exec<Hold & Record<string, SqlStorageValue>>('DELETE FROM holds WHERE created_at < ? RETURNING *', createdBeforeMs).toArray();
    for (const h of holds) this.forget(h);
    return holds;
  }

  private remember(h: Pick<Hold, 'key_id' | 'request_id' | 'amount' | 'created_at'>): void {
    let holds = this.holdsByKey.get(h.key_id);
    if (!holds) this.holdsByKey.set(h.key_id, (holds = new Map()));
    holds.set(h.request_id, { amount: h.amount, created_at: h.created_at });
  }

  private forget(h: Pick<Hold, 'key_id' | 'request_id'>): void {
    const holds = this.holdsByKey.get(h.key_id);
    holds?.delete(h.request_id);
    if (holds?.size === 0) this.holdsByKey.delete(h.key_id);
  }

  oldestHold(): number | null {
    return this.sql.exec<{ t: number | null }>('SELECT MIN(created_at) AS t FROM holds').one().t;
  }

  addUsage(u: UsageRow): void {
    this.sql.exec(
      `INSERT INTO usage (request_id, key_id, key_name, model, channel, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
         cost, reported_cost, capped, status, latency_ms, first_byte_ms, estimated, created_at, unit, quantity, flush)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (request_id) DO NOTHING`,
      u.request_id, u.key_id, u.key_name, u.model, u.channel, u.input_tokens, u.output_tokens, u.cached_tokens, u.cache_write_tokens, u.cost,
      u.reported_cost, u.capped ? 1 : 0, u.status, u.latency_ms, u.first_byte_ms, u.estimated ? 1 : 0, u.created_at,
      // A receipt from an isolate still running the previous version has neither: tokens.
      u.unit ?? 'tokens', u.quantity ?? null,
    );
  }

  /** µ$ charged by settled requests that D1 does not have yet: not flushed, or in flushes after `appliedSeq`. */
  unflushed(appliedSeq: number): number {
    return this.sql
      .exec<{ s: number }>('SELECT COALESCE(SUM(cost), 0) AS s FROM usage WHERE flush IS NULL OR flush > ?', appliedSeq)
      .one().s;
  }

  /** Puts every row not yet in a flush into flush `seq`. */
  stage(seq: number): void {
    this.sql.exec('UPDATE usage SET flush = ? WHERE flush IS NULL', seq);
  }

  /** Whether rows wait in flush `seq` (staged, not known to be applied). */
  isStaged(seq: number): boolean {
    return this.sql.exec('SELECT 1 FROM usage WHERE flush = ? LIMIT 1', seq).toArray().length > 0;
  }

  /** What flush `seq` charges: in all, per key, per day, key and model, and per hour, model and channel. */
  flushContents(seq: number): {
    amount: number; requests: number; keys: Array<{ key_id: string; amount: number }>; daily: DailyTotal[]; hourly: HourlyTotal[];
  } {
    const totals = this.sql.exec<{ amount: number; requests: number }>(
      'SELECT COALESCE(SUM(cost), 0) AS amount, COUNT(*) AS requests FROM usage WHERE flush = ?', seq,
    ).one();
    const keys = this.sql
      .exec<{ key_id: string; amount: number }>('SELECT key_id, SUM(cost) AS amount FROM usage WHERE flush = ? GROUP BY key_id', seq)
      .toArray();
    const daily = this.sql
      .exec<DailyTotal & Record<string, SqlStorageValue>>(
        `SELECT substr(created_at, 1, 10) AS day, key_id, model, COUNT(*) AS requests, SUM(status != 'success') AS failed,
           SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cached_tokens) AS cached_tokens, SUM(cost) AS cost
         FROM usage WHERE flush = ? GROUP BY day, key_id, model`,
        seq,
      )
      .toArray();
    const hourly = this.sql
      .exec<HourlyTotal & Record<string, SqlStorageValue>>(
        `SELECT substr(created_at, 1, 13) AS hour, model, COALESCE(channel, '') AS channel, COUNT(*) AS requests,
           SUM(status != 'success') AS failed, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
           SUM(cached_tokens) AS cached_tokens, SUM(cost) AS cost, SUM(latency_ms) AS latency_ms,
           SUM(capped) AS capped, SUM(CASE WHEN capped = 1 THEN reported_cost - cost ELSE 0 END) AS uncharged
         FROM usage WHERE flush = ? GROUP BY hour, model, channel`,
        seq,
      )
      .toArray();
    return { ...totals, keys, daily, hourly };
  }

  hasUnflushed(): boolean {
    return this.sql.exec('SELECT 1 FROM usage WHERE flush IS NULL LIMIT 1').toArray().length > 0;
  }

  /** Newest first. */
  listUsage(limit: number): UsageRow[] {
    return this.findUsage({ limit }).rows;
  }

  /** Rows matching the filter, newest first, `limit` of them from before the `before` cursor;
   *  `next` is the cursor of the page after (null: no more). Rows arrive in time order, so
   *  the rowid is the cursor and no index on time is needed. */
  findUsage(f: UsageFilter): { rows: UsageRow[]; next: number | null } {
    const found = this.sql
      .exec<StoredUsage & { rid: number } & Record<string, SqlStorageValue>>(
        `SELECT rowid AS rid, * FROM usage WHERE (?1 IS NULL OR rowid < ?1) AND (?2 IS NULL OR key_id = ?2) AND (?3 IS NULL OR model = ?3)
           AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)
           AND (?8 IS NULL OR channel = ?8)
         ORDER BY rowid DESC LIMIT ?7`,
        f.before ?? null, f.keyId ?? null, f.model ?? null, f.status ?? null, f.from ?? null, f.to ?? null, f.limit + 1, f.channel ?? null,
      )
      .toArray();
    const page = found.slice(0, f.limit);
    return {
      rows: page.map(({ rid: _rid, ...r }) => fromStored(r)),
      next: found.length > f.limit ? page.at(-1)!.rid : null,
    };
  }

  /** Forgets rows older than `beforeIso` whose flush was applied (up to `appliedSeq`); the
   *  others stay until D1 has them. */
  dropUsageBefore(beforeIso: string, appliedSeq: number): void {
    this.sql.exec('DELETE FROM usage WHERE created_at < ? AND flush <= ?', beforeIso, appliedSeq);
  }

  /** The tokens of the stored state `ids` name, or the first id this account never stored. */
  storedTokens(ids: readonly string[]): { tokens: number; missing: null } | { tokens: null; missing: string } {
    let tokens = 0;
    for (const id of ids) {
      const row = this.sql.exec<{ tokens: number }>('SELECT tokens FROM stored WHERE id = ?', id).toArray()[0];
      if (!row) return { tokens: null, missing: id };
      tokens += row.tokens;
    }
    return { tokens, missing: null };
  }

  addStored(entries: ReadonlyArray<{ id: string; tokens: number }>, createdAt: number): void {
    for (const e of entries) {
      this.sql.exec('INSERT INTO stored (id, tokens, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING', e.id, e.tokens, createdAt);
    }
  }

  dropStoredBefore(createdBeforeMs: number): void {
    this.sql.exec('DELETE FROM stored WHERE created_at < ?', createdBeforeMs);
  }

  oldestUsage(): string | null {
    return this.sql.exec<{ t: string | null }>('SELECT created_at AS t FROM usage ORDER BY rowid LIMIT 1').toArray()[0]?.t ?? null;
  }
}
