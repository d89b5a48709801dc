export interface HoldRow {
  request_id: string;
  account_id: string;
  key_id: string;
  key_name: string;
  model: string;
  amount: number;
  created_at: string;
}

/** Holds placed before `cutoff` and never settled, oldest first, a bounded batch per run. */
export async function listStaleHolds(db: D1Database, cutoff: string, limit = 500): Promise<HoldRow[]> {
  const { results } = await db
    .prepare('SELECT * FROM holds WHERE created_at < ? ORDER BY created_at LIMIT ?')
    .bind(cutoff, limit)
    .all<HoldRow>();
  return results;
}
