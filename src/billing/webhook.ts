import { z } from 'zod';
import { accountState, withReserveReleased } from '../account/client';
import type { Env } from '../config';
import { creditTopup, failTopup, getTopup, notePaymentIntent, recordDispute, refundTopup, topupByPaymentIntent } from '../db/topups';

/**
 * The parts of Stripe's objects that the events below act on. The signature proves an
 * event came from Stripe, not that its payload has the shape this code expects (API
 * versions change, test tools send odd payloads), so each is checked before anything is
 * read from it; one that does not fit is acknowledged and logged, never a 5xx that Stripe
 * would retry for days, and it credits nothing.
 */
const id = z.string().min(1).max(255);
const expandable = z.union([id, z.looseObject({ id })]).nullish().transform((v) => (typeof v === 'string' ? v : v?.id ?? null));
const cents = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER / 10_000);

const EventSchema = z.looseObject({ id, type: z.string().max(255), data: z.looseObject({ object: z.looseObject({}) }) });
const SessionSchema = z.looseObject({
  id,
  client_reference_id: z.string().max(255).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  payment_intent: expandable,
  payment_status: z.string(),
  currency: z.string().nullish(),
  amount_total: cents.nullish(),
});
const ChargeSchema = z.looseObject({ payment_intent: expandable, amount_refunded: cents });
const DisputeSchema = z.looseObject({ id, payment_intent: expandable, amount: cents, status: z.string().max(64) });

/**
 * What each Stripe event does. Credit comes only from here, never from the success
 * redirect. Debits (refunds, lost disputes) run while the account's object has given back
 * its unspent reservation, so they can take all the credit no request in flight needs. Every effect is one D1 batch keyed by the event id (and the top-up), so
 * replays, out-of-order deliveries and a second event for the same session change nothing.
 * Events that cannot be matched to a top-up of ours, and unknown types, are acknowledged
 * and ignored (Stripe would otherwise retry them for days).
 */
export async function handleStripeEvent(env: Env, payload: unknown): Promise<void> {
  const db = env.DB;
  const envelope = EventSchema.safeParse(payload);
  if (!envelope.success) return malformed(payload, 'event', envelope.error);
  const event = envelope.data;
  const object = event.data.object;
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const parsed = SessionSchema.safeParse(object);
      if (!parsed.success) return malformed(event, 'checkout session', parsed.error);
      const session = parsed.data;
      const topup = await getTopup(db, session.client_reference_id ?? session.metadata?.topup_id ?? '');
      if (!topup) return unmatched(event);
      if (session.payment_status !== 'paid') {
        // An asynchronous payment (bank debit, …) still pending: credit on async_payment_succeeded.
        await notePaymentIntent(db, topup.id, session.id, session.payment_intent);
        return;
      }
      if (session.currency !== 'usd' || session.amount_total !== topup.amount_cents) return unmatched(event);
      await creditTopup(db, event.id, event.type, topup, { id: session.id, paymentIntent: session.payment_intent, amountCents: session.amount_total });
      return;
    }
    case 'checkout.session.async_payment_failed': {
      const parsed = SessionSchema.safeParse(object);
      if (!parsed.success) return malformed(event, 'checkout session', parsed.error);
      const topup = await getTopup(db, parsed.data.client_reference_id ?? '');
      if (!topup) return unmatched(event);
      await failTopup(db, event.id, event.type, topup.id);
      return;
    }
    case 'charge.refunded': {
      const parsed = ChargeSchema.safeParse(object);
      if (!parsed.success) return malformed(event, 'charge', parsed.error);
      const topup = await byPaymentIntent(db, parsed.data.payment_intent);
      if (!topup || topup.status !== 'paid') return unmatched(event);
      await withReserveReleased(env, topup.account_id, () => refundTopup(db, event.id, event.type, topup, parsed.data.amount_refunded));
      return;
    }
    case 'charge.dispute.created':
    case 'charge.dispute.closed': {
      const parsed = DisputeSchema.safeParse(object);
      if (!parsed.success) return malformed(event, 'dispute', parsed.error);
      const dispute = parsed.data;
      const topup = await byPaymentIntent(db, dispute.payment_intent);
      if (!topup) return unmatched(event);
      const record = { id: dispute.id, accountId: topup.account_id, amountCents: dispute.amount, status: event.type === 'charge.dispute.created' ? 'open' : dispute.status };
      const apply = () => recordDispute(db, event.id, event.type, record);
      // Only a lost dispute takes credit back; only then must the object give its reservation up.
      const suspended = record.status === 'lost' ? await withReserveReleased(env, topup.account_id, apply) : await apply();
      // The account's object refuses its requests while a dispute is open, from the next one on.
      await accountState(env, topup.account_id).setSuspended(topup.account_id, suspended);
      return;
    }
    default:
      return;
  }
}

const byPaymentIntent = (db: D1Database, id: string | null) => (id ? topupByPaymentIntent(db, id) : Promise.resolve(null));

function unmatched(event: { id: string; type: string }): void {
  console.warn(JSON.stringify({ stripe_event_unmatched: event.id, type: event.type }));
}

function malformed(event: unknown, what: string, error: z.ZodError): void {
  const e = (typeof event === 'object' && event !== null ? event : {}) as { id?: unknown; type?: unknown };
  console.warn(JSON.stringify({
    stripe_event_malformed: typeof e.id === 'string' ? e.id.slice(0, 255) : null,
    type: typeof e.type === 'string' ? e.type.slice(0, 255) : null,
    what,
    issue: error.issues[0] ? `${error.issues[0].path.join('.')}: ${error.issues[0].message}` : null,
  }));
}
