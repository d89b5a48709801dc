/** The console's figures, from the daily totals the account's object flushes to D1
 *  (usage_daily): a dashboard reads a few rows per day, never the requests themselves. */

export interface DayModelTotal {
  day: string;
  model: string;
  cost: number; // µ$
  tokens: number;
}

export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Cost and tokens per day and model from `sinceDay` on. */
export async function dailyByModel(db: D1Database, accountId: string, sinceDay: string): Promise<DayModelTotal[]> {
  const { results } = await db
    .prepare(
      `SELECT day, model, SUM(cost) AS cost, SUM(input_tokens + output_tokens) AS tokens FROM usage_daily
       WHERE account_id = ? AND day >= ? GROUP BY day, model ORDER BY day, model`,
    )
    .bind(accountId, sinceDay)
    .all<DayModelTotal>();
  return results;
}

/** µ$ spent and requests made from `sinceDay` on. */
export async function spentSince(db: D1Database, accountId: string, sinceDay: string): Promise<{ cost: number; requests: number }> {
  const row = await db
    .prepare('SELECT COALESCE(SUM(cost), 0) AS cost, COALESCE(SUM(requests), 0) AS requests FROM usage_daily WHERE account_id = ? AND day >= ?')
    .bind(accountId, sinceDay)
    .first<{ cost: number; requests: number }>();
  return row ?? { cost: 0, requests: 0 };
}
