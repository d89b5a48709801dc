import { Hono } from 'hono';
import { z } from 'zod';
import { accountState } from '../account/client';
import { stripe, verifyWebhook } from '../billing/stripe';
import { handleStripeEvent } from '../billing/webhook';
import { config } from '../config';
import { readCustomerJson } from '../auth/customer';
import type { AppEnv } from '../context';
import { createTopup, setSession } from '../db/topups';
import { ApiError } from '../errors';
import { toDollars } from '../money';

/** GET /v1/billing/balance and POST /v1/billing/checkout, behind the customer's key. */
export const billing = new Hono<AppEnv>();

billing.get('/billing/balance', async (c) => {
  const principal = await c.var.auth.principal();
  const balance = await accountState(c.env, principal.accountId).balance(principal.accountId);
  c.set('balance', balance);
  return c.json({ balance: toDollars(balance), currency: 'usd' });
});

billing.post('/billing/checkout', async (c) => {
  const cfg = config(c.env);
  const body = await readCustomerJson(c, z.object({
    amount: z
      .number()
      .finite()
      .min(cfg.TOPUP_MIN_DOLLARS, `must be at least ${cfg.TOPUP_MIN_DOLLARS}`)
      .max(cfg.TOPUP_MAX_DOLLARS, `must be at most ${cfg.TOPUP_MAX_DOLLARS}`)
      .refine((d) => Math.round(d * 100) / 100 === d, 'must be whole cents (at most 2 decimals)'),
  }));
  const principal = await c.var.auth.principal();
  const cents = Math.round(body.amount * 100);
  const client = stripe(c.env);
  const topup = await createTopup(c.env.DB, principal.accountId, cents);
  const ids = { topup_id: topup.id, account_id: principal.accountId };
  let session;
  try {
    session = await client.checkout.sessions.create(
      {
        mode: 'payment',
        line_items: [{ quantity: 1, price_data: { currency: 'usd', unit_amount: cents, product_data: { name: `Tokengate credit ($${body.amount})` } } }],
        client_reference_id: topup.id,
        metadata: ids,
        payment_intent_data: { metadata: ids },
        success_url: `${cfg.PUBLIC_URL}/console?topup=success&session_id={CHECKOUT_SESSION_ID}`,
        cancel_url: `${cfg.PUBLIC_URL}/console?topup=cancelled`,
      },
      // The same top-up never creates two sessions, however often this call is retried.
      { idempotencyKey: `checkout-${topup.id}` },
    );
  } catch (err) {
    throw new ApiError('payment_provider_error', 'Stripe could not create a checkout session.', {
      detail: `stripe: ${err instanceof Error ? err.message : String(err)}`,
    });
  }
  await setSession(c.env.DB, topup.id, session.id);
  return c.json({ url: session.url, session_id: session.id });
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
