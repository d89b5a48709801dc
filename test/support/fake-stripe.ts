import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { FIXTURES } from './fake-upstream.ts';

/**
 * A fake Stripe API on 127.0.0.1: POST /v1/checkout/sessions answers with Stripe's own
 * stripe-mock fixture of a Checkout Session (fixtures/stripe/), with the values that
 * request chose (id, url, amount, client_reference_id, metadata, …) filled in as Stripe
 * would; a repeated Idempotency-Key gets the first answer again, as on Stripe.
 * GET /__sessions lists what was asked (form fields and headers).
 */
export interface RecordedSession {
  form: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  response: Record<string, unknown>;
}

export async function startFakeStripe(port: number): Promise<Server> {
  const fixture = JSON.parse(readFileSync(join(FIXTURES, 'stripe/checkout-session-object.stripe-mock-fixture.json'), 'utf8'));
  const sessions: RecordedSession[] = [];
  const byIdempotencyKey = new Map<string, Record<string, unknown>>();
  let counter = 0;
  const server = createServer(async (req, res) => {
    if (req.method === 'GET' && req.url === '/__sessions') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(sessions));
      return;
    }
    if (req.method !== 'POST' || req.url !== '/v1/checkout/sessions') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${req.url})` } }));
      return;
    }
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const form = Object.fromEntries(new URLSearchParams(raw));
    const key = String(req.headers['idempotency-key'] ?? '');
    let response: Record<string, unknown> | undefined = key ? byIdempotencyKey.get(key) : undefined;
    if (response === undefined) {
      const id = `cs_test_${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 10)}`;
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(form)) {
        const m = /^metadata\[(.+)\]$/.exec(k);
        if (m) metadata[m[1] as string] = v;
      }
      const created: Record<string, unknown> = {
        ...fixture,
        id,
        url: `https://checkout.stripe.com/c/pay/${id}`,
        mode: form.mode,
        currency: form['line_items[0][price_data][currency]'],
        amount_subtotal: Number(form['line_items[0][price_data][unit_amount]']),
        amount_total: Number(form['line_items[0][price_data][unit_amount]']),
        client_reference_id: form.client_reference_id ?? null,
        metadata,
        success_url: form.success_url,
        cancel_url: form.cancel_url,
        status: 'open',
        payment_status: 'unpaid',
      };
      if (key) byIdempotencyKey.set(key, created);
      response = created;
    }
    const answer = response;
    sessions.push({ form, headers: req.headers, response: answer });
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_fake${counter}` });
    res.end(JSON.stringify(answer));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return server;
}

/** What Stripe sends once the customer has paid for the fake's latest Checkout Session:
 *  that session, completed and paid, posted to the worker's webhook signed with `secret`. */
export async function payLastCheckout(stripeUrl: string, workerUrl: string, secret: string): Promise<Response> {
  const recorded = (await (await fetch(`${stripeUrl}/__sessions`)).json()) as RecordedSession[];
  const session = recorded.at(-1)!.response;
  const envelope = JSON.parse(readFileSync(join(FIXTURES, 'stripe/event-envelope.stripe-mock-fixture.json'), 'utf8'));
  const body = JSON.stringify({
    ...envelope, id: `evt_e2e_${Date.now()}`, type: 'checkout.session.completed', created: Math.floor(Date.now() / 1000),
    data: { object: { ...session, status: 'complete', payment_status: 'paid' } },
  });
  const t = Math.floor(Date.now() / 1000);
  const signature = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return fetch(`${workerUrl}/v1/billing/webhook`, { method: 'POST', body, headers: { 'stripe-signature': `t=${t},v1=${signature}`, 'content-type': 'application/json' } });
}
