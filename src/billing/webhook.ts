import type Stripe from 'stripe';
import { creditTopup, failTopup, getTopup, notePaymentIntent, recordDispute, refundTopup, topupByPaymentIntent } from '../db/topups';

/**
 * What each Stripe event does. Credit comes only from here, never from the success
 * redirect. Every effect is one D1 batch keyed by the event id (and the top-up), so
 * replays, out-of-order deliveries and a second event for the same session change nothing.
 * Events that cannot be matched to a top-up of ours, and unknown types, are acknowledged
 * and ignored (Stripe would otherwise retry them for days).
 */
export async function handleStripeEvent(db: D1Database, event: Stripe.Event): Promise<void> {
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = event.data.object;
      const topup = await getTopup(db, session.client_reference_id ?? session.metadata?.topup_id ?? '');
      if (!topup) return unmatched(event);
      const paymentIntent = typeof session.payment_intent === 'string' ? session.payment_intent : session.payment_intent?.id ?? null;
      if (session.payment_status !== 'paid') {
        // An asynchronous payment (bank debit, …) still pending: credit on async_payment_succeeded.
        await notePaymentIntent(db, topup.id, session.id, paymentIntent);
        return;
      }
      if (session.currency !== 'usd' || session.amount_total !== topup.amount_cents) return unmatched(event);
      await creditTopup(db, event.id, event.type, topup, { id: session.id, paymentIntent, amountCents: session.amount_total });
      return;
    }
    case 'checkout.session.async_payment_failed': {
      const session = event.data.object;
      const topup = await getTopup(db, session.client_reference_id ?? '');
      if (!topup) return unmatched(event);
      await failTopup(db, event.id, event.type, topup.id);
      return;
    }
    case 'charge.refunded': {
      const charge = event.data.object;
      const topup = await byPaymentIntent(db, charge.payment_intent);
      if (!topup || topup.status !== 'paid') return unmatched(event);
      await refundTopup(db, event.id, event.type, topup, charge.amount_refunded);
      return;
    }
    case 'charge.dispute.created':
    case 'charge.dispute.closed': {
      const dispute = event.data.object;
      const topup = await byPaymentIntent(db, dispute.payment_intent);
      if (!topup) return unmatched(event);
      await recordDispute(db, event.id, event.type, {
        id: dispute.id, accountId: topup.account_id, amountCents: dispute.amount,
        status: event.type === 'charge.dispute.created' ? 'open' : dispute.status,
      });
      return;
    }
    default:
      return;
  }
}

function byPaymentIntent(db: D1Database, pi: string | { id: string } | null) {
  const id = typeof pi === 'string' ? pi : pi?.id;
  return id ? topupByPaymentIntent(db, id) : Promise.resolve(null);
}

function unmatched(event: Stripe.Event): void {
  console.warn(JSON.stringify({ stripe_event_unmatched: event.id, type: event.type }));
}
