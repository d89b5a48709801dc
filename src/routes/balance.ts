import { Hono } from 'hono';
import type { AppEnv } from '../context';
import { toDollars } from '../money';

/** Every authenticated answer carries the account's balance (dollars) in this header:
 *  after the request's hold on chat and embeddings, as read on the other routes. */
export const BALANCE_HEADER = 'x-tokengate-balance';

/** GET /v1/billing/balance */
export const balance = new Hono<AppEnv>();

balance.get('/billing/balance', async (c) => {
  const principal = await c.var.principal;
  return c.json({ balance: toDollars(principal.balance), currency: 'usd' });
});
