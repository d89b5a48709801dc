import { Hono } from 'hono';
import { confirmedPrincipal } from '../auth/customer';
import type { AppEnv } from '../context';
import { accountState } from '../account/client';
import type { UsageRow } from '../account/storage';
import { toDollars } from '../money';
import { parse } from '../validate';
import { LimitQuerySchema } from './schemas';

/** A usage row as the API shows it: cost in dollars, `model` the public id. */
export const usageView = (r: UsageRow) => ({
  request_id: r.request_id,
  created_at: r.created_at,
  key_name: r.key_name,
  model: r.model,
  channel: r.channel,
  input_tokens: r.input_tokens,
  output_tokens: r.output_tokens,
  cached_tokens: r.cached_tokens,
  cache_write_tokens: r.cache_write_tokens,
  cost: toDollars(r.cost),
  reported_cost: toDollars(r.reported_cost),
  capped: r.capped,
  unit: r.unit,
  quantity: r.quantity,
  status: r.status,
  latency_ms: r.latency_ms,
  first_byte_ms: r.first_byte_ms,
  estimated: r.estimated,
});

/** GET /v1/usage?limit=: the key's account's own rows, newest first, from its object (at once,
 *  before they are flushed). */
export const usage = new Hono<AppEnv>();

usage.get('/usage', async (c) => {
  const principal = await confirmedPrincipal(c);
  const { limit } = parse(LimitQuerySchema, c.req.query());
  const rows = await accountState(c.env, principal.accountId).usage(principal.accountId, limit);
  return c.json({ data: rows.map(usageView) });
});
