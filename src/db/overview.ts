/**
 * The operator's overview, from the cross-account hourly totals the account objects flush
 * (usage_hourly) and the ledger's top-up and refund rows: a few rows per hour, never the
 * requests themselves. Buckets are UTC hours ('YYYY-MM-DDTHH') or days ('YYYY-MM-DD').
 */

export type Bucket = 'hour' | 'day';

/** Totals of requests for one bucket, model or channel. cost and revenue are µ$. */
export interface Totals {
  requests: number;
  failed: number;
  tokens: number;
  cost: number;
  latency_ms: number; // summed
  /** Requests whose charge was cut at their hold, and the µ$ their reported usage cost above it. */
  capped: number;
  uncharged: number;
}

export interface BucketTotals extends Totals {
  bucket: string;
  revenue: number;
}

const length = (b: Bucket) => (b === 'hour' ? 13 : 10);
const SUMS = `SUM(requests) AS requests, SUM(failed) AS failed, SUM(input_tokens + output_tokens) AS tokens, SUM(cost) AS cost,
  SUM(latency_ms) AS latency_ms, SUM(capped) AS capped, SUM(uncharged) AS uncharged`;

/** The usage_hourly key of the hour `ms` falls in. */
export const hourOf = (ms: number): string => new Date(ms).toISOString().slice(0, 13);

/** Per bucket from `sinceHour` on: usage, and revenue (top-ups less refunds and lost disputes). */
export async function totalsByBucket(db: D1Database, bucket: Bucket, sinceHour: string): Promise<BucketTotals[]> {
  const n = length(bucket);
  const [usage, money] = await db.batch<Record<string, unknown>>([
    db.prepare(`SELECT substr(hour, 1, ?1) AS bucket, ${SUMS} FROM usage_hourly WHERE hour >= ?2 GROUP BY bucket`).bind(n, sinceHour),
    db
      .prepare(
        `SELECT substr(created_at, 1, ?1) AS bucket, SUM(amount) AS revenue FROM ledger
         WHERE kind IN ('topup', 'refund') AND created_at >= ?2 GROUP BY bucket`,
      )
      .bind(n, sinceHour),
  ]);
  const byBucket = new Map<string, BucketTotals>();
  const of = (key: string) => {
    let t = byBucket.get(key);
    if (!t) byBucket.set(key, (t = { bucket: key, requests: 0, failed: 0, tokens: 0, cost: 0, latency_ms: 0, capped: 0, uncharged: 0, revenue: 0 }));
    return t;
  };
  for (const r of (usage?.results ?? []) as unknown as BucketTotals[]) Object.assign(of(r.bucket), { ...r, revenue: 0 });
  for (const r of (money?.results ?? []) as unknown as { bucket: string; revenue: number }[]) of(r.bucket).revenue = r.revenue;
  return [...byBucket.values()].sort((a, b) => a.bucket.localeCompare(b.bucket));
}

/** Per bucket and model from `sinceHour` on: what the chart stacks. */
export async function costByBucketAndModel(
  db: D1Database, bucket: Bucket, sinceHour: string,
): Promise<Array<{ bucket: string; model: string; cost: number; tokens: number }>> {
  const { results } = await db
    .prepare(
      `SELECT substr(hour, 1, ?1) AS bucket, model, SUM(cost) AS cost, SUM(input_tokens + output_tokens) AS tokens
       FROM usage_hourly WHERE hour >= ?2 GROUP BY bucket, model ORDER BY bucket, model`,
    )
    .bind(length(bucket), sinceHour)
    .all<{ bucket: string; model: string; cost: number; tokens: number }>();
  return results;
}

/** Per model, or per channel ('' = none reached), from `sinceHour` on, biggest spend first. */
export async function totalsBy(db: D1Database, column: 'model' | 'channel', sinceHour: string): Promise<Array<Totals & { name: string }>> {
  const { results } = await db
    .prepare(`SELECT ${column} AS name, ${SUMS} FROM usage_hourly WHERE hour >= ? GROUP BY ${column} ORDER BY cost DESC, requests DESC`)
    .bind(sinceHour)
    .all<Totals & { name: string }>();
  return results;
}
