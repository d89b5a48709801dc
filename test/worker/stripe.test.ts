import { describe, expect, inject, it } from 'vitest';
import { verifyWebhook } from '../../src/billing/stripe';
import type { Env } from '../../src/config';
import { balanceOf, call, signStripe as sign, WEBHOOK_SECRET, db, expectLedgerInvariant, newAccount, newKey, newModel } from './helpers';

/**
 * Stripe top-ups: Checkout sessions against a fake Stripe API replaying Stripe's own
 * fixture, and webhook events built on Stripe's event and session fixtures, signed the
 * way Stripe signs them.
 */

const fixture = async (path: string) => (await fetch(`${inject('upstreamUrl')}/__fixture/${path}`)).text();

let eventCounter = 0;
/** A Stripe event: the stripe-mock event envelope with `object` as its data.object. */
async function stripeEvent(type: string, object: Record<string, unknown>, id = `evt_test_${Date.now()}_${eventCounter++}`) {
  const envelope = JSON.parse(await fixture('stripe/event-envelope.stripe-mock-fixture.json'));
  return JSON.stringify({ ...envelope, id, type, created: Math.floor(Date.now() / 1000), data: { object } });
}

/** The stripe-mock Checkout Session, as a completed session of ours. */
async function session(overrides: Record<string, unknown>) {
  const base = JSON.parse(await fixture('stripe/checkout-session-object.stripe-mock-fixture.json'));
  return { ...base, status: 'complete', payment_status: 'paid', currency: 'usd', ...overrides };
}

async function deliver(body: string, signature?: string) {
  return call('/v1/billing/webhook', { method: 'POST', body, headers: { 'stripe-signature': signature ?? (await sign(body)), 'content-type': 'application/json' } });
}

/** A customer who has opened a $10 checkout; returns what the webhook needs. */
async function checkout(amount = 10, credit = 0) {
  const account = await newAccount({ credit });
  const { key } = await newKey(account.id);
  const res = await call('/v1/billing/checkout', { method: 'POST', key, json: { amount } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { url: string; session_id: string };
  const topup = (await db.prepare('SELECT * FROM topups WHERE session_id = ?').bind(body.session_id).first<{ id: string; amount_cents: number }>())!;
  return { account, key, sessionId: body.session_id, url: body.url, topupId: topup.id, cents: topup.amount_cents };
}

const completed = (c: Awaited<ReturnType<typeof checkout>>, extra: Record<string, unknown> = {}) =>
  session({ id: c.sessionId, client_reference_id: c.topupId, amount_total: c.cents, payment_intent: `pi_${c.topupId}`, metadata: { topup_id: c.topupId }, ...extra });

describe('webhook signatures', () => {
  const env = { STRIPE_WEBHOOK_SECRET: 'webhook_secret' } as unknown as Env;

  it("accepts Stripe's known-answer vector within the tolerance and refuses it outside", async () => {
    const payload = await fixture('stripe/webhook-signature-vector/event_test_signature.json');
    const vector = JSON.parse(await fixture('stripe/webhook-signature-vector/vector.json'));
    expect(await verifyWebhook(env, payload, vector.stripe_signature_header, vector.test_accepts_when_now_is * 1000)).not.toBeNull();
    expect(await verifyWebhook(env, payload, vector.stripe_signature_header, vector.test_rejects_when_now_is * 1000)).toBeNull();
    expect(await verifyWebhook(env, `${payload} `, vector.stripe_signature_header, vector.test_accepts_when_now_is * 1000)).toBeNull();
    // any v1 may match: a rotated-out signature first, the right one second
    const header = vector.stripe_signature_header.replace('v1=', `v1=${'0'.repeat(64)},v1=`);
    expect(await verifyWebhook(env, payload, header, vector.test_accepts_when_now_is * 1000)).not.toBeNull();
  });

  it('answers 400 to a forged, stale or missing signature, and changes nothing', async () => {
    const c = await checkout();
    const body = await stripeEvent('checkout.session.completed', await completed(c));
    expect((await deliver(body, await sign(body, 'whsec_wrong'))).status).toBe(400);
    expect((await deliver(body, await sign(body, WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 400))).status).toBe(400);
    expect((await call('/v1/billing/webhook', { method: 'POST', body })).status).toBe(400);
    expect((await deliver(body.replace('"paid"', '"paid" '), await sign(body))).status).toBe(400);
    expect(await balanceOf(c.account.id)).toBe(0);
    expect(await db.prepare('SELECT status FROM topups WHERE id = ?').bind(c.topupId).first()).toEqual({ status: 'pending' });
  });
});

describe('POST /v1/billing/checkout', () => {
  it('records a pending top-up and creates a Checkout Session with an idempotency key', async () => {
    const c = await checkout(12.5);
    expect(c.url).toContain(c.sessionId);
    expect(c.cents).toBe(1250);
    const sessions = (await (await fetch(`${inject('stripeUrl')}/__sessions`)).json()) as Array<{ form: Record<string, string>; headers: Record<string, string>; response: { id: string } }>;
    const sent = sessions.find((s) => s.response.id === c.sessionId)!;
    expect(sent.form).toMatchObject({
      mode: 'payment',
      'line_items[0][quantity]': '1',
      'line_items[0][price_data][currency]': 'usd',
      'line_items[0][price_data][unit_amount]': '1250',
      client_reference_id: c.topupId,
      'metadata[topup_id]': c.topupId,
      'metadata[account_id]': c.account.id,
      'payment_intent_data[metadata][topup_id]': c.topupId,
      success_url: 'https://gateway.example.com/console?topup=success&session_id={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://gateway.example.com/console?topup=cancelled',
    });
    expect(sent.headers['idempotency-key']).toBe(`checkout-${c.topupId}`);
    expect(sent.headers.authorization).toBe('Bearer sk_test_fake_0123456789');
    expect(await balanceOf(c.account.id)).toBe(0);
  });

  it('refuses non-numbers, zero, negatives, fractions of a cent and out-of-bounds amounts', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    for (const amount of ['10', 0, -5, 10.001, 4.99, 1000.01, null]) {
      const res = await call('/v1/billing/checkout', { method: 'POST', key, json: { amount } });
      expect(res.status, String(amount)).toBe(400);
      expect(((await res.json()) as any).error.param).toBe('amount');
    }
    expect(await db.prepare('SELECT COUNT(*) AS n FROM topups WHERE account_id = ?').bind(account.id).first()).toEqual({ n: 0 });
  });

  it('needs an API key', async () => {
    expect((await call('/v1/billing/checkout', { method: 'POST', json: { amount: 10 } })).status).toBe(401);
  });

  it('lets one account start 10 checkouts an hour; the 11th is 429 and reaches neither Stripe nor the database', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    for (let i = 0; i < 10; i++) expect((await call('/v1/billing/checkout', { method: 'POST', key, json: { amount: 10 } })).status).toBe(200);
    const refused = await call('/v1/billing/checkout', { method: 'POST', key, json: { amount: 10 } });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as any).error).toMatchObject({ type: 'rate_limit_error', code: 'too_many_checkouts' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(50 * 60);
    expect(await db.prepare('SELECT COUNT(*) AS n FROM topups WHERE account_id = ?').bind(account.id).first()).toEqual({ n: 10 });
    // Another account is not affected.
    const other = await newAccount();
    expect((await call('/v1/billing/checkout', { method: 'POST', key: (await newKey(other.id)).key, json: { amount: 10 } })).status).toBe(200);
  });
});

describe('webhook: credit exactly once', () => {
  it('credits a paid session once, however often it is delivered (×5), answering 2xx each time', async () => {
    const c = await checkout();
    const body = await stripeEvent('checkout.session.completed', await completed(c));
    for (let i = 0; i < 5; i++) expect((await deliver(body)).status).toBe(200);
    expect(await balanceOf(c.account.id)).toBe(10_000_000);
    const rows = await db.prepare("SELECT amount, request_id FROM ledger WHERE account_id = ? AND kind = 'topup'").bind(c.account.id).all();
    expect(rows.results).toEqual([{ amount: 10_000_000, request_id: c.topupId }]);
    await expectLedgerInvariant(c.account.id);
  });

  it('credits once when completed and async_payment_succeeded both arrive, in either order', async () => {
    for (const order of [['checkout.session.async_payment_succeeded', 'checkout.session.completed'], ['checkout.session.completed', 'checkout.session.async_payment_succeeded']]) {
      const c = await checkout();
      for (const type of order) expect((await deliver(await stripeEvent(type, await completed(c)))).status).toBe(200);
      expect(await balanceOf(c.account.id)).toBe(10_000_000);
      await expectLedgerInvariant(c.account.id);
    }
  });

  it('waits for an asynchronous payment: no credit while unpaid, credit on success, none on failure', async () => {
    const ok = await checkout();
    await deliver(await stripeEvent('checkout.session.completed', await completed(ok, { payment_status: 'unpaid' })));
    expect(await balanceOf(ok.account.id)).toBe(0);
    await deliver(await stripeEvent('checkout.session.async_payment_succeeded', await completed(ok)));
    expect(await balanceOf(ok.account.id)).toBe(10_000_000);

    const bad = await checkout();
    await deliver(await stripeEvent('checkout.session.completed', await completed(bad, { payment_status: 'unpaid' })));
    await deliver(await stripeEvent('checkout.session.async_payment_failed', await completed(bad, { payment_status: 'unpaid' })));
    await deliver(await stripeEvent('checkout.session.async_payment_succeeded', await completed(bad)));
    expect(await balanceOf(bad.account.id)).toBe(0);
    await expectLedgerInvariant(bad.account.id);
  });

  it('ignores a session whose amount does not match the top-up, and unknown event types', async () => {
    const c = await checkout();
    expect((await deliver(await stripeEvent('checkout.session.completed', await completed(c, { amount_total: 999_999 })))).status).toBe(200);
    expect((await deliver(await stripeEvent('customer.created', { id: 'cus_1', object: 'customer' }))).status).toBe(200);
    expect(await balanceOf(c.account.id)).toBe(0);
  });

  it('never credits from the success redirect', async () => {
    const c = await checkout();
    await call(`/console?topup=success&session_id=${c.sessionId}`);
    await call(`/v1/billing/checkout?topup=success&session_id=${c.sessionId}`, { key: c.key });
    expect(await balanceOf(c.account.id)).toBe(0);
  });
});

describe('webhook: authentic events with malformed payloads', () => {
  it('acknowledges (2xx) or refuses (400) them, never a 5xx, and credits nothing', async () => {
    const c = await checkout();
    const good = await completed(c);
    const envelope = JSON.parse(await fixture('stripe/event-envelope.stripe-mock-fixture.json'));
    const payloads: unknown[] = [
      { ...envelope, id: 'evt_no_data', type: 'checkout.session.completed' },
      { ...envelope, id: 'evt_no_object', type: 'checkout.session.completed', data: {} },
      { ...envelope, id: 'evt_null_object', type: 'checkout.session.completed', data: { object: null } },
      { ...envelope, id: 12345, type: 'checkout.session.completed', data: { object: good } },
      { ...envelope, id: 'evt_numeric_session', type: 'checkout.session.completed', data: { object: { ...good, id: 42 } } },
      { ...envelope, id: 'evt_numeric_ref', type: 'checkout.session.completed', data: { object: { ...good, client_reference_id: ['x'] } } },
      { ...envelope, id: 'evt_string_amount', type: 'checkout.session.completed', data: { object: { ...good, amount_total: '1000' } } },
      { ...envelope, id: 'evt_float_amount', type: 'checkout.session.completed', data: { object: { ...good, amount_total: 1000.5 } } },
      { ...envelope, id: 'evt_huge_amount', type: 'checkout.session.completed', data: { object: { ...good, amount_total: 1e300 } } },
      { ...envelope, id: 'evt_refund_string', type: 'charge.refunded', data: { object: { payment_intent: 'pi_x', amount_refunded: 'all' } } },
      { ...envelope, id: 'evt_dispute_no_id', type: 'charge.dispute.created', data: { object: { amount: 5 } } },
      { ...envelope, id: 'evt_type_object', type: { nested: true }, data: { object: good } },
      { ...envelope, id: 'evt_unknown_type', type: 'made.up.event', data: { object: good } },
      [],
      'just a string',
      null,
    ];
    for (const payload of payloads) {
      const res = await deliver(JSON.stringify(payload));
      expect(res.status, JSON.stringify(payload).slice(0, 120)).toBeLessThan(500);
      expect([200, 400]).toContain(res.status);
    }
    const notJson = 'this is signed but not JSON';
    expect((await deliver(notJson)).status).toBe(400);
    expect(await balanceOf(c.account.id)).toBe(0);
    await expectLedgerInvariant(c.account.id);
    // The well-formed event still credits afterwards: nothing above consumed it.
    expect((await deliver(await stripeEvent('checkout.session.completed', good))).status).toBe(200);
    expect(await balanceOf(c.account.id)).toBe(10_000_000);
  });
});

describe('webhook: refunds and disputes', () => {
  async function paid(credit = 0) {
    const c = await checkout(10, credit);
    await deliver(await stripeEvent('checkout.session.completed', await completed(c)));
    return c;
  }
  const charge = (c: { topupId: string }, refundedCents: number) => ({
    id: `ch_${c.topupId}`, object: 'charge', amount: 1000, amount_refunded: refundedCents, currency: 'usd', payment_intent: `pi_${c.topupId}`, refunded: refundedCents === 1000,
  });

  it('takes refunded credit back as ledger rows, by the cumulative amount refunded, once per event', async () => {
    const c = await paid();
    const partial = await stripeEvent('charge.refunded', charge(c, 400));
    await deliver(partial);
    await deliver(partial);
    expect(await balanceOf(c.account.id)).toBe(6_000_000);
    await deliver(await stripeEvent('charge.refunded', charge(c, 1000)));
    expect(await balanceOf(c.account.id)).toBe(0);
    const rows = await db.prepare("SELECT amount FROM ledger WHERE account_id = ? AND kind = 'refund' ORDER BY id").bind(c.account.id).all();
    expect(rows.results).toEqual([{ amount: -4_000_000 }, { amount: -6_000_000 }]);
    await expectLedgerInvariant(c.account.id);
  });

  it('never takes the balance below zero when the refunded credit was already spent', async () => {
    const c = await paid();
    const { key } = await newKey(c.account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], { input_price: 1000, output_price: 1000 });
    await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'x' }], max_tokens: 100 } });
    await new Promise((r) => setTimeout(r, 300));
    const before = await balanceOf(c.account.id);
    expect(before).toBeLessThan(10_000_000);
    await deliver(await stripeEvent('charge.refunded', charge(c, 1000)));
    expect(await balanceOf(c.account.id)).toBe(0);
    await expectLedgerInvariant(c.account.id);
  });

  it('suspends API use with a clear 403 while a dispute is open, and lifts it when it is won', async () => {
    const c = await paid();
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const chat = () => call('/v1/chat/completions', { method: 'POST', key: c.key, json: { model, messages: [{ role: 'user', content: 'x' }] } });
    const dispute = (status: string) => ({ id: `dp_${c.topupId}`, object: 'dispute', amount: 1000, charge: `ch_${c.topupId}`, payment_intent: `pi_${c.topupId}`, status });
    await deliver(await stripeEvent('charge.dispute.created', dispute('needs_response')));
    const res = await chat();
    expect(res.status).toBe(403);
    const { error } = (await res.json()) as any;
    expect(error).toMatchObject({ type: 'permission_error', code: 'account_suspended' });
    expect(error.message).toContain('dispute');
    await deliver(await stripeEvent('charge.dispute.closed', dispute('won')));
    expect((await chat()).status).toBe(200);
    expect(await balanceOf(c.account.id)).toBeGreaterThan(9_000_000);
    await new Promise((r) => setTimeout(r, 200));
    await expectLedgerInvariant(c.account.id);
  });

  it('takes the credit back when a dispute is lost, and a late "created" does not reopen it', async () => {
    const c = await paid();
    const dispute = (status: string) => ({ id: `dp_${c.topupId}`, object: 'dispute', amount: 1000, payment_intent: `pi_${c.topupId}`, status });
    const lost = await stripeEvent('charge.dispute.closed', dispute('lost'));
    await deliver(lost);
    await deliver(lost);
    await deliver(await stripeEvent('charge.dispute.created', dispute('needs_response')));
    expect(await balanceOf(c.account.id)).toBe(0);
    expect(await db.prepare('SELECT status FROM disputes WHERE id = ?').bind(`dp_${c.topupId}`).first()).toEqual({ status: 'lost' });
    await expectLedgerInvariant(c.account.id);
  });
});
