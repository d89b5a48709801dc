import { runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { holdMicros, holdSize } from '../../src/billing/hold';
import { measurePrompt } from '../../src/billing/prompt';
import type { ModelRow } from '../../src/db/catalog';
import {
  accountObject, adminCall, balanceOf, call, db, disconnectMidStream, expectLedgerInvariant, newAccount, newKey, newModel, openHolds,
  NO_UNIT_PRICES, recordedRequests, unique, usageCount, usageRow,
} from './helpers';

const PRICES = { input_price: 2, output_price: 8, cached_input_price: 0.5 };
const hello = [{ role: 'user', content: 'Say hello' }];

async function ledger(accountId: string) {
  const { results } = await db.prepare('SELECT kind, amount, requests FROM ledger WHERE account_id = ? ORDER BY id').bind(accountId).all<{ kind: string; amount: number; requests: number | null }>();
  return results;
}

/** A model row as the catalog holds it, from the dollar prices the admin API was given. */
const row = (id: string, p: { input_price: number; output_price: number; cached_input_price?: number; max_output_tokens?: number }): ModelRow => ({
  id, input_price: p.input_price * 1e6, output_price: p.output_price * 1e6, cached_input_price: p.cached_input_price === undefined ? null : p.cached_input_price * 1e6, cache_write_price: null,
  max_output_tokens: p.max_output_tokens ?? null, owned_by: 'tokengate', groups: null, created_at: '', ...NO_UNIT_PRICES,
});

async function customer(fixture: string, options = '', credit = 10, prices: Record<string, unknown> = PRICES) {
  const account = await newAccount({ credit });
  const key = await newKey(account.id);
  const { model } = await newModel([{ fixture, options }], prices);
  return { account, key: key.key, keyId: key.id, keyName: key.name, model };
}

describe('exact cost for each recorded usage shape', () => {
  const shapes: Array<[string, string, number]> = [
    // µ$ at $2 input, $0.50 cached input, $8 output per 1M tokens
    ['OpenAI usage chunk: 16 in, 300 out', 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', 32 + 2400],
    ['DeepSeek cache hit: 339 in (320 cached), 83 out', 'deepseek/chat-stream-deepseek-reasoner-tool-call-cache-hit.chunks.txt', 38 + 160 + 664],
    ['xAI reasoning outside completion: 12 in (11 cached), 342 out, rounded up', 'xai/chat-stream-grok-3-mini-reasoning-include-usage.chunks.txt', Math.ceil(2 + 5.5 + 2736)],
    ['Groq x_groq usage: 210 in, 15 out', 'groq/chat-stream-llama-3.3-70b-tool-call-x-groq-usage.chunks.txt', 420 + 120],
    ['GLM usage on the last chunk: 13 in, 564 out', 'zhipu-glm/zai-chat-stream-glm-4.7-thinking-include-usage.sse', 26 + 4512],
    ['OpenAI non-stream: 14 in, 37 out', 'openai/chat-nonstream-text-gpt-4o.json', 28 + 296],
  ];
  for (const [name, fixture, expected] of shapes) {
    it(`charges exactly: ${name}`, async () => {
      const { account, key, model } = await customer(fixture);
      const before = await balanceOf(account.id);
      const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello, stream: !fixture.endsWith('.json') } });
      expect(res.status).toBe(200);
      await res.text();
      const requestId = res.headers.get('x-request-id')!;
      const row = await usageRow(requestId);
      expect(row.cost).toBe(expected);
      expect(before - (await balanceOf(account.id))).toBe(expected);
      // One settlement row for the flush that charged it, naming how many requests it covers.
      expect(await ledger(account.id)).toEqual([
        { kind: 'adjustment', amount: 10_000_000, requests: null },
        { kind: 'settlement', amount: -expected, requests: 1 },
      ]);
      await expectLedgerInvariant(account.id);
    });
  }
});

describe('402: a request the balance cannot cover', () => {
  it('is refused before any upstream call, with what was needed and what is available, and changes nothing', async () => {
    const tag = unique('r');
    const account = await newAccount({ credit: 0.001 });
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}` }], PRICES);
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } });
    expect(res.status).toBe(402);
    expect(res.headers.get('x-should-retry')).toBe('false');
    const { error } = (await res.json()) as any;
    expect(error.type).toBe('insufficient_balance');
    expect(error.message).toMatch(/may cost up to \$[\d.]+ and your balance is \$0\.001/);
    expect(error.message).toMatch(/max_tokens of at most \d+ would fit/);
    expect(await recordedRequests(tag)).toEqual([]);
    expect(await balanceOf(account.id)).toBe(1000);
    expect((await ledger(account.id)).map((r) => r.kind)).toEqual(['adjustment']);
    expect(await usageCount(account.id)).toBe(0);
    await expectLedgerInvariant(account.id);
  });

  it('lets the suggested max_tokens through', async () => {
    const { account, key, model } = await customer('openai/chat-nonstream-text-gpt-4o.json', '', 0.001);
    const refused = (await (await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } })).json()) as any;
    const affordable = Number(/at most (\d+)/.exec(refused.error.message)![1]);
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello, max_tokens: affordable } });
    expect(res.status).toBe(200);
    await usageRow(res.headers.get('x-request-id')!);
    await expectLedgerInvariant(account.id);
  });

  it("enforces a key's spend limit the same way, leaving the account's other keys alone", async () => {
    const account = await newAccount({ credit: 10 });
    const limited = await newKey(account.id, { spend_limit: 0.0001 });
    const free = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    const res = await call('/v1/chat/completions', { method: 'POST', key: limited.key, json: { model, messages: hello } });
    expect(res.status).toBe(402);
    expect(((await res.json()) as any).error.code).toBe('spend_limit_reached');
    const ok = await call('/v1/chat/completions', { method: 'POST', key: free.key, json: { model, messages: hello } });
    expect(ok.status).toBe(200);
    await usageRow(ok.headers.get('x-request-id')!);
    await balanceOf(account.id); // flushed: the key's spend reaches D1 with the charge
    const spent = await db.prepare('SELECT spent FROM api_keys WHERE id = ?').bind(free.id).first<{ spent: number }>();
    expect(spent!.spent).toBe(324);
    await expectLedgerInvariant(account.id);
  });

  it('refuses a model that a channel serves but nobody priced, without calling it', async () => {
    const tag = unique('r');
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const unpriced = unique('unpriced');
    await adminCall('PUT', `/channels/${unique('ch')}`, {
      kind: 'openai', base_url: `http://127.0.0.1:9/o:id=${tag}`, api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [unpriced]: 'x' },
    });
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model: unpriced, messages: hello } });
    expect(res.status).toBe(400);
    expect(await balanceOf(account.id)).toBe(10_000_000);
  });
});

describe("the hold, placed by the account's object", () => {
  it('holds exactly what holdMicros computes for the request, until it ends', async () => {
    const prices = { input_price: 2, output_price: 8, cached_input_price: 0.5 };
    const { account, key, model } = await customer('openai/chat-stream-text-gpt-4o.sse', 'delay=20', 10, prices);
    const body = { model, messages: hello, stream: true, max_tokens: 400, n: 1 };
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: body });
    const reader = res.body!.getReader();
    await reader.read();
    const held = await accountObject(account.id).balance(account.id);
    const priced = row(model, prices);
    expect(10_000_000 - held).toBe(holdMicros(priced, holdSize(body, measurePrompt(body), priced, 16_384)));
    expect(await openHolds(account.id)).toBe(1);
    while (!(await reader.read()).done);
    await usageRow(res.headers.get('x-request-id')!);
    expect(await openHolds(account.id)).toBe(0);
    await expectLedgerInvariant(account.id);
  });

  it('places no hold for a revoked or expired key, or a model the key may not use', async () => {
    const account = await newAccount({ credit: 1 });
    const revoked = await newKey(account.id);
    await adminCall('DELETE', `/keys/${revoked.id}`);
    const expired = await newKey(account.id, { expires_at: new Date(Date.now() - 1000).toISOString() });
    const limited = await newKey(account.id, { models: ['some-other-model'] });
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    const post = (key: string) => call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } });
    expect((await post(revoked.key)).status).toBe(401);
    expect((await post(expired.key)).status).toBe(401);
    expect((await post(limited.key)).status).toBe(403);
    expect(await openHolds(account.id)).toBe(0);
    expect(await usageCount(account.id)).toBe(0);
    expect(await balanceOf(account.id)).toBe(1_000_000);
    await expectLedgerInvariant(account.id);
  });
});

describe('failures and disconnects', () => {
  it('refunds the whole hold when the upstream fails', async () => {
    const { account, key, model } = await customer('openai/error-400-unsupported-parameter-max-tokens.json', 'status=500');
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } });
    expect(res.status).toBe(502);
    const requestId = res.headers.get('x-request-id')!;
    expect((await usageRow(requestId)).cost).toBe(0);
    expect(await balanceOf(account.id)).toBe(10_000_000);
    expect((await ledger(account.id)).map((r) => r.kind)).toEqual(['adjustment']); // nothing to charge, no row
    await expectLedgerInvariant(account.id);
  });

  it('refunds the whole hold when the upstream answers headers and then goes silent', async () => {
    const { account, key, model } = await customer('openai/chat-nonstream-text-gpt-4o.json', 'stall');
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } });
    expect(res.status).toBe(504);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'timeout', cost: 0 });
    expect(await balanceOf(account.id)).toBe(10_000_000);
    await expectLedgerInvariant(account.id);
  });

  it('charges a client that disconnects mid-stream more than zero and at most the full stream', async () => {
    const fixture = 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt';
    const full = 32 + 2400;
    const { account, key, model } = await customer(fixture, 'delay=20');
    const row = await usageRow(await disconnectMidStream(key, model, { abort: true, cancel: true }, 6));
    expect(row.status).toBe('cancelled');
    expect(row.cost).toBeGreaterThan(0);
    expect(row.cost).toBeLessThanOrEqual(full);
    expect(10_000_000 - (await balanceOf(account.id))).toBe(row.cost);
    await expectLedgerInvariant(account.id);
  });

  it('settles exactly once however often settlement runs', async () => {
    const account = await newAccount({ credit: 1 });
    const key = await newKey(account.id);
    const stub = accountObject(account.id);
    const requestId = crypto.randomUUID();
    const terms = { id: key.id, name: key.name, limits: { rpm: null, tpm: null, concurrency: null }, spendLimit: null, spent: 0 };
    expect(await stub.admit({ accountId: account.id, requestId, key: terms, model: 'm', amount: 5000, tokens: 0 })).toMatchObject({ ok: true, available: 995_000 });
    const receipt = (cost: number) => ({
      channel: 'c', input_tokens: 100, output_tokens: 100, cached_tokens: 0, cache_write_tokens: 0, cost, reported_cost: cost, capped: false, unit: 'tokens' as const, quantity: null,
      status: 'success' as const, latency_ms: 1, first_byte_ms: 1, estimated: false, created_at: new Date().toISOString(), tokens_used: 200,
    });
    await Promise.all([stub.settle(account.id, requestId, receipt(1000)), stub.settle(account.id, requestId, receipt(1000)), stub.settle(account.id, requestId, receipt(1000))]);
    await stub.settle(account.id, requestId, receipt(7));
    expect(await balanceOf(account.id)).toBe(1_000_000 - 1000);
    expect((await usageRow(requestId, 1000, account.id)).cost).toBe(1000);
    await expectLedgerInvariant(account.id);
  });

  it('expires a hold that no isolate settled, by alarm: released in full, nothing charged, and a late settlement is a no-op', async () => {
    const account = await newAccount({ credit: 1 });
    const key = await newKey(account.id);
    const stub = accountObject(account.id);
    const terms = { id: key.id, name: key.name, limits: { rpm: null, tpm: null, concurrency: null }, spendLimit: null, spent: 0 };
    const stale = crypto.randomUUID();
    const fresh = crypto.randomUUID();
    // one placed as if its isolate had died two hours ago (HOLD_TIMEOUT_MINUTES is 60), one now
    await stub.admit({ accountId: account.id, requestId: stale, key: terms, model: 'm', amount: 7000, tokens: 0, nowMs: Date.now() - 2 * 3_600_000 });
    await stub.admit({ accountId: account.id, requestId: fresh, key: terms, model: 'm', amount: 3000, tokens: 0 });
    // The stale hold's expiry is past, so the object's alarm is due at once.
    expect(await usageRow(stale, 5000, account.id)).toMatchObject({ status: 'failed', cost: 0 });
    await runDurableObjectAlarm(stub); // running it again is harmless
    expect(await stub.balance(account.id)).toBe(997_000); // the fresh hold is still open
    await stub.settle(account.id, stale, {
      channel: 'c', input_tokens: 1000, output_tokens: 1000, cached_tokens: 0, cache_write_tokens: 0, cost: 7000, reported_cost: 7000, capped: false, unit: 'tokens', quantity: null,
      status: 'success', latency_ms: 1, first_byte_ms: 1, estimated: false, created_at: new Date().toISOString(), tokens_used: 2000,
    });
    expect(await balanceOf(account.id)).toBe(1_000_000);
    expect(await openHolds(account.id)).toBe(1);
    await expectLedgerInvariant(account.id, false);
  });
});

describe('balance and cost are visible', () => {
  it('GET /v1/billing/balance answers dollars, and every answer carries the balance header', async () => {
    const { key, account, model } = await customer('openai/chat-nonstream-text-gpt-4o.json', '', 9.5);
    const res = await call('/v1/billing/balance', { key });
    expect(await res.json()).toEqual({ balance: 9.5, currency: 'usd' });
    expect(res.headers.get('x-tokengate-balance')).toBe('9.5');
    const chat = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } });
    expect(Number(chat.headers.get('x-tokengate-balance'))).toBeLessThan(9.5);
    await usageRow(chat.headers.get('x-request-id')!);
    await expectLedgerInvariant(account.id);
  });

  it('puts our cost in usage.cost of a whole response', async () => {
    const { key, model } = await customer('openai/chat-nonstream-text-gpt-4o.json');
    const body = (await (await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } })).json()) as any;
    expect(body.usage.cost).toBe(0.000324);
    expect(body.usage.prompt_tokens).toBe(14);
  });

  it("puts our cost in the usage chunk the client asked for, replacing the upstream's own cost", async () => {
    const { key, model } = await customer('openrouter/chat-stream-with-reasoning-usage.sse');
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello, stream: true, stream_options: { include_usage: true } } });
    const text = await res.text();
    const usageEvent = text.split('\n\n').find((e) => e.includes('"usage"'))!;
    const usage = JSON.parse(usageEvent.slice('data: '.length)).usage;
    expect(usage.cost).toBe((9 * 2 + 104 * 8) / 1_000_000);
    expect(usage.cost_details).toBeUndefined();
    expect(usage.is_byok).toBeUndefined();
  });
});

describe('concurrency: a burst on one key cannot overspend', () => {
  it('100 concurrent requests on a balance that covers about 10 holds', async () => {
    // Each request holds prompt bound × $2 + 1000 output tokens × $8 (≈ $0.0082) and,
    // once settled, costs 14 × $2 + 37 × $8 per 1M = 324 µ$.
    const account = await newAccount({ credit: 0.085 });
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: 'delay=5' }], PRICES);
    const start = await balanceOf(account.id);
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello, max_tokens: 1000 } })),
    );
    const statuses = responses.map((r) => r.status);
    const successes = responses.filter((r) => r.status === 200);
    expect(statuses.every((s) => s === 200 || s === 402)).toBe(true);
    expect(successes.length).toBeGreaterThanOrEqual(10);
    expect(statuses.filter((s) => s === 402).length).toBeGreaterThan(0);
    await Promise.all(successes.map((r) => usageRow(r.headers.get('x-request-id')!, 15_000)));
    await Promise.all(responses.map((r) => r.body?.cancel()));
    const end = await balanceOf(account.id);
    const spent = start - end;
    const overspend = Math.max(0, -end);
    expect(overspend).toBe(0);
    expect(spent).toBe(successes.length * 324);
    await expectLedgerInvariant(account.id);
    console.log(`concurrency: ${successes.length} of 100 admitted, spent ${spent} µ$, overspend ${overspend} µ$`);
  });
});
