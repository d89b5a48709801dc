import { env } from 'cloudflare:workers';
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { settle } from '../../src/billing/settle';
import worker from '../../src/index';
import { sweepHolds } from '../../src/billing/sweeper';
import type { Env } from '../../src/config';
import { getModel } from '../../src/db/catalog';
import { holdMicros } from '../../src/billing/hold';
import { hashKey } from '../../src/auth/keys';
import { holdStatements, readHold, type HoldSize } from '../../src/db/ledger';
import { adminCall, balanceOf, call, db, disconnectMidStream, expectLedgerInvariant, newAccount, newKey, newModel, recordedRequests, unique, usageRow } from './helpers';

const PRICES = { input_price: 2, output_price: 8, cached_input_price: 0.5 };
const hello = [{ role: 'user', content: 'Say hello' }];


async function ledgerKinds(accountId: string, requestId: string) {
  const { results } = await db.prepare('SELECT kind, amount FROM ledger WHERE account_id = ? AND request_id = ? ORDER BY id').bind(accountId, requestId).all<{ kind: string; amount: number }>();
  return results;
}

/** Places a hold the way a request's pre-flight does, without the request. */
async function placeHold(key: string, modelId: string, requestId: string, size: HoldSize, defaultMaxOutput = 0) {
  const results = await db.batch(holdStatements(db, { requestId, keyHash: await hashKey(key), modelId, size, defaultMaxOutput }));
  return readHold(results);
}
const promptOnly = (promptTokens: number): HoldSize => ({ promptTokens, outputCap: 0, choices: 1 });

async function customer(fixture: string, options = '', credit = 10, prices: Record<string, unknown> = PRICES) {
  const account = await newAccount({ credit });
  const key = await newKey(account.id);
  const { model } = await newModel([{ fixture, options }], prices);
  return { account, key: key.key, keyId: key.id, model };
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
      const kinds = await ledgerKinds(account.id, requestId);
      expect(kinds.map((k) => k.kind)).toEqual(['hold', 'release', 'settlement']);
      expect(kinds[0]!.amount + kinds[1]!.amount).toBe(0);
      expect(kinds[2]!.amount).toBe(-expected);
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
    const rows = await db.prepare('SELECT kind FROM ledger WHERE account_id = ?').bind(account.id).all();
    expect(rows.results).toEqual([{ kind: 'adjustment' }]);
    expect(await db.prepare('SELECT 1 FROM usage WHERE account_id = ?').bind(account.id).first()).toBeNull();
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

describe('the hold, placed in SQL', () => {
  it('holds exactly what holdMicros computes, for every way the bound is sized', async () => {
    const account = await newAccount({ credit: 1000 });
    const key = await newKey(account.id);
    const cases: Array<[Record<string, unknown>, HoldSize]> = [
      [{ input_price: 2, output_price: 8, cached_input_price: 0.5 }, { promptTokens: 1234, outputCap: 77, choices: 3 }],
      [{ input_price: 0.075, output_price: 0.3 }, { promptTokens: 999, outputCap: null, choices: 1 }],
      [{ input_price: 0.075, output_price: 0.3, max_output_tokens: 4096 }, { promptTokens: 999, outputCap: null, choices: 2 }],
      [{ input_price: 0.1, output_price: 0.4, cached_input_price: 0.9 }, { promptTokens: 17, outputCap: 0, choices: 1 }],
    ];
    for (const [prices, size] of cases) {
      const { model: modelId } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], prices);
      const model = (await getModel(db, modelId))!;
      const placed = await placeHold(key.key, modelId, crypto.randomUUID(), size, 16_384);
      expect(placed!.held).toBe(holdMicros(model, size, 16_384));
    }
    expect(await db.prepare('SELECT COUNT(*) AS n FROM holds WHERE account_id = ?').bind(account.id).first()).toEqual({ n: cases.length });
    await expectLedgerInvariant(account.id, false);
  });

  it('places no hold for a revoked or expired key, and releases it when access is refused', async () => {
    const account = await newAccount({ credit: 1 });
    const revoked = await newKey(account.id);
    await adminCall('DELETE', `/keys/${revoked.id}`);
    const expired = await newKey(account.id, { expires_at: new Date(Date.now() - 1000).toISOString() });
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    expect(await placeHold(revoked.key, model, crypto.randomUUID(), promptOnly(10))).toBeNull();
    expect(await placeHold(expired.key, model, crypto.randomUUID(), promptOnly(10))).toBeNull();
    const limited = await newKey(account.id, { models: ['some-other-model'] });
    const res = await call('/v1/chat/completions', { method: 'POST', key: limited.key, json: { model, messages: hello } });
    expect(res.status).toBe(403);
    expect(await balanceOf(account.id)).toBe(1_000_000);
    expect(await db.prepare('SELECT COUNT(*) AS n FROM holds WHERE account_id = ?').bind(account.id).first()).toEqual({ n: 0 });
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
    expect((await ledgerKinds(account.id, requestId)).map((k) => k.kind)).toEqual(['hold', 'release']);
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
    const { model: modelId } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    const model = (await getModel(db, modelId))!;
    const requestId = crypto.randomUUID();
    const principal = { accountId: account.id, keyId: key.id, keyName: key.name };
    // 2500 prompt tokens at $2 per 1M: 5000 µ$
    expect(await placeHold(key.key, modelId, requestId, promptOnly(2500))).toEqual({ held: 5000, balance: 995_000 });
    const ctx = { requestId, principal, model, startedAt: Date.now(), promptEstimate: 10, held: 5000 };
    const ending = { status: 'success' as const, channel: 'c', usage: { input_tokens: 100, output_tokens: 100, cached_tokens: 0 }, estimatedOutput: null, firstByteMs: 1 };
    await Promise.all([settle(db, ctx, ending), settle(db, ctx, ending), settle(db, ctx, ending)]);
    await settle(db, ctx, { ...ending, usage: { input_tokens: 1, output_tokens: 1, cached_tokens: 0 } });
    expect(await balanceOf(account.id)).toBe(1_000_000 - 1000);
    expect((await ledgerKinds(account.id, requestId)).map((k) => k.kind)).toEqual(['hold', 'release', 'settlement']);
    await expectLedgerInvariant(account.id);
  });

  it("runs the sweeper from the Worker's cron trigger", async () => {
    const account = await newAccount({ credit: 1 });
    const key = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    const requestId = crypto.randomUUID();
    await placeHold(key.key, model, requestId, promptOnly(1000));
    // as if its isolate had died two hours ago
    await db.prepare('UPDATE holds SET created_at = ? WHERE request_id = ?').bind(new Date(Date.now() - 2 * 3_600_000).toISOString(), requestId).run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '*/10 * * * *' }), env as unknown as Env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await balanceOf(account.id)).toBe(1_000_000);
    expect((await usageRow(requestId)).status).toBe('failed');
    await expectLedgerInvariant(account.id);
  });

  it('sweeps a hold that no isolate settled: released in full, nothing charged, and a late settlement is a no-op', async () => {
    const account = await newAccount({ credit: 1 });
    const key = await newKey(account.id);
    const { model: modelId } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], PRICES);
    const requestId = crypto.randomUUID();
    expect(await placeHold(key.key, modelId, requestId, promptOnly(3500))).toEqual({ held: 7000, balance: 993_000 });
    await expectLedgerInvariant(account.id, false);
    expect(await sweepHolds(env as unknown as Env, Date.now() - 60 * 60_000)).toBe(0); // not stale yet
    expect(await sweepHolds(env as unknown as Env, Date.now() + 61 * 60_000)).toBeGreaterThanOrEqual(1);
    expect(await balanceOf(account.id)).toBe(1_000_000);
    const row = await usageRow(requestId);
    expect(row).toMatchObject({ status: 'failed', cost: 0 });
    const model = (await getModel(db, modelId))!;
    await settle(db, { requestId, principal: { accountId: account.id, keyId: key.id, keyName: key.name }, model, startedAt: 0, promptEstimate: 1, held: 7000 },
      { status: 'success', channel: 'c', usage: { input_tokens: 1000, output_tokens: 1000, cached_tokens: 0 }, estimatedOutput: null, firstByteMs: 1 });
    expect(await balanceOf(account.id)).toBe(1_000_000);
    await expectLedgerInvariant(account.id);
  });
});

describe('balance and cost are visible', () => {
  it('GET /v1/billing/balance answers dollars, and every answer carries the balance header', async () => {
    const { key, account, model } = await customer('openai/chat-nonstream-text-gpt-4o.json', '', 9.5);
    const res = await call('/v1/billing/balance', { key });
    expect(await res.json()).toEqual({ balance: 9.5, currency: 'usd' });
    expect(res.headers.get('x-tokengate-balance')).toBe('9.5');
    expect((await call('/v1/models', { key })).headers.get('x-tokengate-balance')).toBe('9.5');
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
