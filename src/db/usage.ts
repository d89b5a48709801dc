export type UsageStatus = 'success' | 'failed' | 'cancelled' | 'timeout';

/** One row per request, written once when its response has ended. cost is micro-dollars. */
export interface UsageRow {
  request_id: string;
  account_id: string;
  key_id: string;
  key_name: string;
  model: string;
  channel: string | null;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  /** µ$ charged: reported_cost, capped at the request's hold. */
  cost: number;
  /** µ$ the reported (or estimated) tokens cost at the model's prices. */
  reported_cost: number;
  /** The charge was capped at the hold (reported_cost > cost). */
  capped: boolean;
  status: UsageStatus;
  latency_ms: number;
  first_byte_ms: number | null;
  estimated: boolean;
  created_at: string;
}

/** ON CONFLICT DO NOTHING: the request id is the primary key, so a retried write is a no-op. */
export function usageStatement(db: D1Database, u: UsageRow): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO usage (request_id, account_id, key_id, key_name, model, channel, input_tokens, output_tokens,
         cached_tokens, cost, reported_cost, capped, status, latency_ms, first_byte_ms, estimated, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`,
    )
    .bind(u.request_id, u.account_id, u.key_id, u.key_name, u.model, u.channel, u.input_tokens, u.output_tokens,
      u.cached_tokens, u.cost, u.reported_cost, u.capped ? 1 : 0, u.status, u.latency_ms, u.first_byte_ms, u.estimated ? 1 : 0, u.created_at);
}

export async function listUsage(db: D1Database, f: { accountId?: string; limit: number }): Promise<UsageRow[]> {
  const stmt = f.accountId
    ? db.prepare('SELECT * FROM usage WHERE account_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?').bind(f.accountId, f.limit)
    : db.prepare('SELECT * FROM usage ORDER BY created_at DESC, rowid DESC LIMIT ?').bind(f.limit);
  const { results } = await stmt.all<Omit<UsageRow, 'estimated' | 'capped'> & { estimated: number; capped: number }>();
  return results.map((r) => ({ ...r, estimated: r.estimated === 1, capped: r.capped === 1 }));
}
