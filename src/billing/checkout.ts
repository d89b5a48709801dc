import { z } from 'zod';
import { config, type Config, type Env } from '../config';
import { createTopup, setSession } from '../db/topups';
import { ApiError } from '../errors';
import { attempts, CHECKOUT_STARTS } from '../ratelimit/attempts';
import { stripe } from './stripe';

/** A top-up amount in dollars, within the deployment's bounds, in whole cents. */
export const topupAmount = (cfg: Config) =>
  z
    .number()
    .finite()
    .min(cfg.TOPUP_MIN_DOLLARS, `must be at least ${cfg.TOPUP_MIN_DOLLARS}`)
    .max(cfg.TOPUP_MAX_DOLLARS, `must be at most ${cfg.TOPUP_MAX_DOLLARS}`)
    .refine((d) => Math.round(d * 100) / 100 === d, 'must be whole cents (at most 2 decimals)');

/** A Stripe Checkout Session for a top-up of `dollars`: the API's and the wallet page's.
 *  Each start costs a call to Stripe and a pending top-up row, so an account may start only
 *  CHECKOUT_STARTS of them an hour. */
export async function startCheckout(env: Env, accountId: string, dollars: number): Promise<{ url: string | null; session_id: string }> {
  const cfg = config(env);
  const allowed = await attempts(env, `checkout:${accountId}`).begin(CHECKOUT_STARTS);
  if (!allowed.ok) {
    const seconds = Math.ceil(allowed.retryAfterMs / 1000);
    throw new ApiError('too_many_checkouts', `Too many top-ups started from this account; try again in ${Math.ceil(seconds / 60)} minutes.`, {
      headers: { 'retry-after': String(seconds) },
    });
  }
  const cents = Math.round(dollars * 100);
  const client = stripe(env);
  const topup = await createTopup(env.DB, accountId, cents);
  const ids = { topup_id: topup.id, account_id: accountId };
  let session;
  try {
    session = await client.checkout.sessions.create(
      {
        mode: 'payment',
        line_items: [{ quantity: 1, price_data: { currency: 'usd', unit_amount: cents, product_data: { name: `${cfg.SITE_NAME} credit ($${dollars})` } } }],
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
  await setSession(env.DB, topup.id, session.id);
  return { url: session.url, session_id: session.id };
}
