import { suspendedStatement } from './accounts';
import { newId, now } from './ids';
import { cappedDebitStatements, ledgerStatements } from './ledger';

/** Top-ups, Stripe events and disputes. Each webhook effect is one batch whose first
 *  statement records the event; every later statement runs only if that insert did. */
export interface TopupRow {
  id: string;
  account_id: string;
  amount_cents: number;
  amount: number;
  status: 'pending' | 'paid' | 'failed';
  session_id: string | null;
  payment_intent: string | null;
  refunded: number;
  created_at: string;
  paid_at: string | null;
}

export const CENT = 10_000; // micro-dollars

export async function createTopup(db: D1Database, accountId: string, cents: number): Promise<TopupRow> {
  const row: TopupRow = {
    id: newId('top'), account_id: accountId, amount_cents: cents, amount: cents * CENT, status: 'pending',
    session_id: null, payment_intent: null, refunded: 0, created_at: now(), paid_at: null,
  };
  await db
    .prepare('INSERT INTO topups (id, account_id, amount_cents, amount, status, created_at) VALUES (?, ?, ?, ?, ?, ?)')
    .bind(row.id, row.account_id, row.amount_cents, row.amount, row.status, row.created_at)
    .run();
  return row;
}

export async function setSession(db: D1Database, topupId: string, sessionId: string): Promise<void> {
  await db.prepare('UPDATE topups SET session_id = ? WHERE id = ? AND session_id IS NULL').bind(sessionId, topupId).run();
}

export function getTopup(db: D1Database, id: string): Promise<TopupRow | null> {
  return db.prepare('SELECT * FROM topups WHERE id = ?').bind(id).first<TopupRow>();
}

export function topupByPaymentIntent(db: D1Database, paymentIntent: string): Promise<TopupRow | null> {
  return db.prepare('SELECT * FROM topups WHERE payment_intent = ?').bind(paymentIntent).first<TopupRow>();
}

const recordEvent = (db: D1Database, id: string, type: string) =>
  db.prepare('INSERT INTO stripe_events (id, type, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').bind(id, type, now());

/**
 * Credits a paid top-up: event recorded, status pending → paid, a 'topup' ledger row keyed
 * by the top-up id, balance raised — all or nothing, once. A replayed event, a second
 * event for the same session (completed, then async_payment_succeeded) or one whose
 * amount does not match the top-up changes nothing. Returns whether it credited.
 */
export async function creditTopup(
  db: D1Database, eventId: string, eventType: string, t: TopupRow, session: { id: string; paymentIntent: string | null; amountCents: number },
): Promise<boolean> {
  const [, paid, , balance] = await db.batch([
    recordEvent(db, eventId, eventType),
    db
      .prepare(
        `UPDATE topups SET status = 'paid', session_id = ?2, payment_intent = ?3, paid_at = ?4
         WHERE id = ?1 AND status = 'pending' AND amount_cents = ?5 AND (session_id IS NULL OR session_id = ?2) AND changes() = 1`,
      )
      .bind(t.id, session.id, session.paymentIntent, now(), session.amountCents),
    ...ledgerStatements(db, { accountId: t.account_id, kind: 'topup', amount: t.amount, requestId: t.id, reason: `Stripe ${session.id}` }, {
      sql: "EXISTS (SELECT 1 FROM topups WHERE id = ?7 AND status = 'paid') AND changes() = 1", binds: [t.id],
    }),
  ]);
  return (paid?.meta.changes ?? 0) > 0 && (balance?.results.length ?? 0) > 0;
}

/** Marks a top-up whose asynchronous payment failed; it will never credit. */
export async function failTopup(db: D1Database, eventId: string, eventType: string, topupId: string): Promise<void> {
  await db.batch([
    recordEvent(db, eventId, eventType),
    db.prepare("UPDATE topups SET status = 'failed' WHERE id = ? AND status = 'pending' AND changes() = 1").bind(topupId),
  ]);
}

/** Notes the payment intent of a session that completed unpaid (async payment pending). */
export async function notePaymentIntent(db: D1Database, topupId: string, sessionId: string, paymentIntent: string | null): Promise<void> {
  await db
    .prepare("UPDATE topups SET session_id = COALESCE(session_id, ?2), payment_intent = COALESCE(payment_intent, ?3) WHERE id = ?1")
    .bind(topupId, sessionId, paymentIntent)
    .run();
}

/**
 * Takes refunded credit back. Stripe reports the charge's cumulative amount_refunded, so
 * the debit is what it adds to what was already taken; it is capped at the balance (the
 * credit may be spent already; the balance never goes below zero).
 */
export async function refundTopup(db: D1Database, eventId: string, eventType: string, t: TopupRow, refundedCents: number): Promise<void> {
  const refunded = Math.min(refundedCents * CENT, t.amount);
  await db.batch([
    recordEvent(db, eventId, eventType),
    ...cappedDebitStatements(db, { accountId: t.account_id, kind: 'refund', max: refunded - t.refunded, requestId: eventId, reason: `Stripe refund of ${t.id}` }, {
      sql: 'EXISTS (SELECT 1 FROM topups WHERE id = ?7 AND refunded = ?8) AND changes() = 1', binds: [t.id, t.refunded],
    }),
    db
      .prepare("UPDATE topups SET refunded = ?2 WHERE id = ?1 AND EXISTS (SELECT 1 FROM ledger WHERE request_id = ?3 AND kind = 'refund')")
      .bind(t.id, refunded, eventId),
  ]);
}

/** A dispute opened or closed. Out of order is fine: a 'closed' seen first stays closed.
 *  A lost dispute takes the disputed credit back (capped at the balance). Returns whether
 *  the account is suspended now: a dispute open, or the operator's suspension. */
export async function recordDispute(
  db: D1Database, eventId: string, eventType: string, d: { id: string; accountId: string; amountCents: number; status: string },
): Promise<boolean> {
  const open = d.status !== 'won' && d.status !== 'lost' && d.status !== 'warning_closed';
  const amount = d.amountCents * CENT;
  const results = await db.batch([
    recordEvent(db, eventId, eventType),
    db
      .prepare(
        `INSERT INTO disputes (id, account_id, amount, status, updated_at) SELECT ?1, ?2, ?3, ?4, ?5 WHERE changes() = 1
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at WHERE disputes.status = 'open'`,
      )
      .bind(d.id, d.accountId, amount, open ? 'open' : d.status, now()),
    ...cappedDebitStatements(db, { accountId: d.accountId, kind: 'refund', max: d.status === 'lost' ? amount : 0, requestId: d.id, reason: 'Stripe dispute lost' }, {
      sql: 'EXISTS (SELECT 1 FROM stripe_events WHERE id = ?7)', binds: [eventId],
    }),
    suspendedStatement(db, d.accountId),
  ]);
  return (results.at(-1)?.results.length ?? 0) > 0;
}
