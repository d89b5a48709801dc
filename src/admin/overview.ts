import { z } from 'zod';
import type { Env } from '../config';
import { costByBucketAndModel, hourOf, totalsBy, totalsByBucket, type Bucket, type BucketTotals, type Totals } from '../db/overview';
import { toDollars } from '../money';

/** The operator's overview for the last 24 hours (by hour), 7 or 30 days (by UTC day). */
export const PERIODS = ['24h', '7d', '30d'] as const;
export const PeriodSchema = z.enum(PERIODS).default('7d');
export type Period = (typeof PERIODS)[number];

const HOUR = 3_600_000;

/** The period's buckets, oldest first: their keys, and the first hour they cover. */
export function bucketsOf(period: Period, nowMs = Date.now()): { bucket: Bucket; keys: string[]; sinceHour: string } {
  if (period === '24h') {
    const keys = Array.from({ length: 24 }, (_, i) => hourOf(nowMs - (23 - i) * HOUR));
    return { bucket: 'hour', keys, sinceHour: keys[0]! };
  }
  const days = period === '7d' ? 7 : 30;
  const keys = Array.from({ length: days }, (_, i) => hourOf(nowMs - (days - 1 - i) * 24 * HOUR).slice(0, 10));
  return { bucket: 'day', keys, sinceHour: `${keys[0]!}T00` };
}

export interface Overview {
  period: Period;
  bucket: Bucket;
  /** Sums over the period; µ$ for money. */
  totals: BucketTotals;
  /** Every bucket of the period, empty ones included. */
  byBucket: BucketTotals[];
  byModel: Array<Totals & { name: string }>;
  byChannel: Array<Totals & { name: string }>;
  /** Spend and tokens per bucket and model, for the chart. */
  chart: Array<{ bucket: string; model: string; cost: number; tokens: number }>;
}

const empty = (bucket: string): BucketTotals => ({ bucket, requests: 0, failed: 0, tokens: 0, cost: 0, latency_ms: 0, capped: 0, uncharged: 0, revenue: 0 });

export async function overview(env: Env, period: Period): Promise<Overview> {
  const { bucket, keys, sinceHour } = bucketsOf(period);
  const [rows, byModel, byChannel, chart] = await Promise.all([
    totalsByBucket(env.DB, bucket, sinceHour),
    totalsBy(env.DB, 'model', sinceHour),
    totalsBy(env.DB, 'channel', sinceHour),
    costByBucketAndModel(env.DB, bucket, sinceHour),
  ]);
  const found = new Map(rows.map((r) => [r.bucket, r]));
  const byBucket = keys.map((k) => found.get(k) ?? empty(k));
  const totals = byBucket.reduce((sum, r) => ({
    bucket: period, requests: sum.requests + r.requests, failed: sum.failed + r.failed, tokens: sum.tokens + r.tokens,
    cost: sum.cost + r.cost, latency_ms: sum.latency_ms + r.latency_ms, capped: sum.capped + r.capped, uncharged: sum.uncharged + r.uncharged,
    revenue: sum.revenue + r.revenue,
  }), empty(period));
  return { period, bucket, totals, byBucket, byModel, byChannel, chart };
}

/** Failed requests as a share of all, or null with none. */
export const errorRate = (t: Totals): number | null => (t.requests === 0 ? null : t.failed / t.requests);
export const meanLatency = (t: Totals): number | null => (t.requests === 0 ? null : Math.round(t.latency_ms / t.requests));

function json<T extends Totals>(t: T) {
  const { latency_ms: _sum, cost, uncharged, ...rest } = t;
  return { ...rest, spend: toDollars(cost), uncharged: toDollars(uncharged), error_rate: errorRate(t), latency_ms: meanLatency(t) };
}

/** The overview as GET /admin/overview answers it: dollars, rates and mean latencies. */
export function overviewJson(o: Overview) {
  const withRevenue = (r: BucketTotals) => ({ ...json(r), revenue: toDollars(r.revenue) });
  return {
    period: o.period,
    bucket: o.bucket,
    totals: withRevenue(o.totals),
    by_bucket: o.byBucket.map(withRevenue),
    by_model: o.byModel.map(json),
    by_channel: o.byChannel.map(json),
  };
}
