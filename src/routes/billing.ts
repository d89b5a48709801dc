import { Hono } from 'hono';
import { z } from 'zod';
import { accountState } from '../account/client';
import { startCheckout, topupAmount } from '../billing/checkout';
import { redeem } from '../billing/redeem';
import { verifyWebhook } from '../billing/stripe';
import { handleStripeEvent } from '../billing/webhook';
import { config } from '../config';
import { confirmedPrincipal, readCustomerJson } from '../auth/customer';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { toDollars } from '../money';

/** GET /v1/billing/balance, POST /v1/billing/checkout and /v1/billing/redeem, behind the customer's key. */
export const billing = new Hono<AppEnv>();

billing.get('/billing/balance', async (c) => {
  const principal = await confirmedPrincipal(c);
  const balance = await accountState(c.env, principal.accountId).balance(principal.accountId);
  c.set('balance', balance);
  return c.json({ balance: toDollars(balance), currency: 'usd' });
});

billing.post('/billing/checkout', async (c) => {
  const body = await readCustomerJson(c, z.object({ amount: topupAmount(config(c.env)) }));
  const principal = await confirmedPrincipal(c);
  return c.json(await startCheckout(c.env, principal.accountId, body.amount));
});

billing.post('/billing/redeem', async (c) => {
  const body = await readCustomerJson(c, z.object({ code: z.string().trim().min(1).max(100) }));
  const principal = await confirmedPrincipal(c);
  const { credited, balance } = await redeem(c.env, principal.accountId, body.code);
  c.set('balance', balance);
  return c.json({ balance: toDollars(balance), credited: toDollars(credited), currency: 'usd' });
});

/** POST /v1/billing/webhook: no API key; the Stripe signature is the authentication. */
export const stripeWebhook = new Hono<AppEnv>();

stripeWebhook.post('/', async (c) => {
  const raw = await c.req.text();
  const verified = await verifyWebhook(c.env, raw, c.req.header('stripe-signature'));
  if (!verified) throw new ApiError('invalid_signature', 'Invalid or stale Stripe signature.');
  await handleStripeEvent(c.env, verified.payload);
  return c.json({ received: true });
});
