import { env } from 'cloudflare:workers';
import { createExecutionContext, evictDurableObject, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Receipt } from '../../src/account/object';
import type { Env } from '../../src/config';
import worker from '../../src/index';
import { duration } from '../../src/ratelimit/headers';
import type { Limits } from '../../src/ratelimit/windows';
import { accountObject, adminCall, balanceOf, call, expectLedgerInvariant, newAccount, newKey, newModel, openHolds, recordedRequests, unique, usageRow } from './helpers';

const only = (l: Partial<Limits>): Limits => ({ rpm: null, tpm: null, concurrency: null, ...l });
const T0 = 1_800_000_000_000; // a fixed clock, in ms

/** A fresh account's object and a key id to limit on it. */
async function limiter() {
  const account = await newAccount({ credit: 10 });
  const stub = accountObject(account.id);
  const keyId = unique('key');
  const admit = (requestId: string, limits: Limits, tokens: number, nowMs?: number) =>
    stub.admit({ accountId: account.id, requestId, key: { id: keyId, name: 'k', limits, spendLimit: null, spent: 0 }, model: 'm', amount: 0, tokens, nowMs })
      .then((a) => (a.ok ? { ...a.rate, allowed: true } : a.reason === 'rate' ? a.rate : { allowed: false, reason: a.reason }));
  const finish = (requestId: string, used: number, nowMs?: number) => stub.settle(account.id, requestId, receipt(used), nowMs);
  return { stub, keyId, admit, finish };
}

const receipt = (tokens: number): Receipt => ({
  channel: 'c', input_tokens: tokens, output_tokens: 0, cached_tokens: 0, cache_write_tokens: 0, cost: 0, reported_cost: 0, capped: false, unit: 'tokens', quantity: null,
  status: 'success', latency_ms: 1, first_byte_ms: 1, estimated: false, created_at: new Date().toISOString(), tokens_used: tokens,
});

describe("the rate windows in the account's object (GCRA)", () => {
  it('admits exactly L of a burst of N > L arriving together', async () => {
    const { admit } = await limiter();
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await admit(`r${i}`, only({ rpm: 7 }), 0, T0));
    expect(results.filter((d) => d.allowed)).toHaveLength(7);
    expect(results.map((d) => (d as any).requests!.remaining).slice(0, 7)).toEqual([6, 5, 4, 3, 2, 1, 0]);
    const refused = results[7]! as any;
    expect(refused).toMatchObject({ allowed: false, reason: 'requests' });
    // one slot comes back every 60/7 s
    expect(refused.retryAfterMs).toBe(Math.ceil(60_000 / 7));
  });

  it('refills one slot per interval and lets no double burst through at a window edge', async () => {
    const { admit } = await limiter();
    const limits = only({ rpm: 6 }); // one per 10 s
    for (let i = 0; i < 6; i++) expect((await admit(`a${i}`, limits, 0, T0 + 59_900)).allowed).toBe(true);
    // 200 ms later a fixed one-minute window would have reset; GCRA has refilled nothing yet
    expect((await admit('edge', limits, 0, T0 + 60_100)).allowed).toBe(false);
    // one interval later, exactly one more
    expect((await admit('b1', limits, 0, T0 + 69_900)).allowed).toBe(true);
    expect((await admit('b2', limits, 0, T0 + 69_900)).allowed).toBe(false);
    // a full minute after the burst, the whole allowance again
    const later = [];
    for (let i = 0; i < 7; i++) later.push((await admit(`c${i}`, limits, 0, T0 + 130_000)).allowed);
    expect(later.filter(Boolean)).toHaveLength(6);
  });

  it('keeps its windows across eviction', async () => {
    const { stub, admit } = await limiter();
    for (let i = 0; i < 3; i++) await admit(`r${i}`, only({ rpm: 5 }), 0, T0);
    await evictDurableObject(stub);
    const next = (await admit('after', only({ rpm: 5 }), 0, T0)) as any;
    expect(next.requests!.remaining).toBe(1);
  });

  it('counts tokens, and corrects them with the real usage at the end', async () => {
    const { admit, finish } = await limiter();
    const limits = only({ tpm: 1000 });
    expect((await admit('a', limits, 600, T0)).allowed).toBe(true);
    expect(await admit('b', limits, 600, T0)).toMatchObject({ allowed: false, reason: 'tokens' });
    await finish('a', 100, T0); // used 100 of the 600 reserved
    expect((await admit('b', limits, 600, T0)).allowed).toBe(true);
    expect((await admit('c', limits, 400, T0)).allowed).toBe(false);
  });

  it('limits concurrent requests until they finish, and a refused request consumes nothing', async () => {
    const { admit, finish } = await limiter();
    const limits = only({ concurrency: 2, rpm: 100 });
    expect((await admit('a', limits, 0)).allowed).toBe(true);
    expect((await admit('b', limits, 0)).allowed).toBe(true);
    expect(await admit('c', limits, 0)).toMatchObject({ allowed: false, reason: 'concurrency' });
    await finish('a', 0);
    const fourth = (await admit('c', limits, 0)) as any;
    expect(fourth.allowed).toBe(true);
    expect(fourth.requests!.remaining).toBe(97); // the refused attempt took no request slot
  });

  it('stops counting a request that never finished as in flight after its lease', async () => {
    const { admit } = await limiter();
    expect((await admit('lost', only({ concurrency: 1 }), 0, Date.now() - 16 * 60_000)).allowed).toBe(true);
    expect((await admit('next', only({ concurrency: 1 }), 0)).allowed).toBe(true);
    expect((await admit('third', only({ concurrency: 1 }), 0)).allowed).toBe(false);
  });
});

describe("the unreachable-object policy", () => {
  it('fails closed: 503 account_unavailable, nothing sent upstream, nothing charged', async () => {
    const tag = unique('down');
    const account = await newAccount({ credit: 10 });
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}` }]);
    const broken = {
      ...env,
      ACCOUNTS: { idFromName: () => ({}), get: () => ({ admit: () => Promise.reject(new Error('Durable Object overloaded')) }) },
    } as unknown as Env;
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request('http://gateway.test/v1/chat/completions', {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    }), broken, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(503);
    const { error } = (await res.json()) as any;
    expect(error.code).toBe('account_unavailable');
    expect(error.message).not.toMatch(/overloaded/);
    expect(await recordedRequests(tag)).toEqual([]);
    expect(await openHolds(account.id)).toBe(0);
  });
});

describe('rate limits through the gateway', () => {
  const hello = [{ role: 'user', content: 'hi' }];

  async function limitedCustomer(keyLimits: Record<string, number>) {
    const tag = unique('rl');
    const account = await newAccount({ credit: 10 });
    const key = await newKey(account.id, keyLimits);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}` }]);
    return { account, key, model, tag };
  }

  const chat = (key: string, model: string) => call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } });

  it('sends the x-ratelimit-* headers on success', async () => {
    const { key, model } = await limitedCustomer({ rpm: 10, tpm: 100_000 });
    const res = await chat(key.key, model);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('10');
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('9');
    expect(res.headers.get('x-ratelimit-reset-requests')).toBe('6s');
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('100000');
    expect(Number(res.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(100_000);
    await usageRow(res.headers.get('x-request-id')!);
  });

  it('answers 429 with Retry-After, costs nothing, leaves no hold and calls no upstream', async () => {
    const { account, key, model, tag } = await limitedCustomer({ rpm: 2 });
    for (let i = 0; i < 2; i++) {
      const ok = await chat(key.key, model);
      expect(ok.status).toBe(200);
      await usageRow(ok.headers.get('x-request-id')!);
    }
    const before = (await adminCall('GET', `/accounts/${account.id}`)).body.balance;
    const res = await chat(key.key, model);
    expect(res.status).toBe(429);
    const { error } = (await res.json()) as any;
    expect(error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_requests' });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(res.headers.get('x-should-retry')).toBeNull();
    expect((await adminCall('GET', `/accounts/${account.id}`)).body.balance).toBe(before);
    expect(await openHolds(account.id)).toBe(0);
    expect((await recordedRequests(tag)).length).toBe(2);
    expect((await balanceOf(account.id)) / 1e6).toBe(before);
    await expectLedgerInvariant(account.id);
  });

  it("leaves another key of the same account unaffected", async () => {
    const { account, key, model } = await limitedCustomer({ rpm: 1 });
    const other = await newKey(account.id, { rpm: 1 });
    expect((await chat(key.key, model)).status).toBe(200);
    expect((await chat(key.key, model)).status).toBe(429);
    expect((await chat(other.key, model)).status).toBe(200);
  });

  it('admits exactly L of N concurrent requests', async () => {
    const { key, model, tag } = await limitedCustomer({ rpm: 7 });
    const responses = await Promise.all(Array.from({ length: 25 }, () => chat(key.key, model)));
    expect(responses.filter((r) => r.status === 200)).toHaveLength(7);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(18);
    expect((await recordedRequests(tag)).length).toBe(7);
    await Promise.all(responses.map((r) => r.body?.cancel()));
  });

  it('stays exact from a warm isolate (the key already cached)', async () => {
    const { key, model, tag } = await limitedCustomer({ rpm: 5 });
    expect((await chat(key.key, model)).status).toBe(200); // the isolate now knows the key's limits
    const responses = await Promise.all(Array.from({ length: 12 }, () => chat(key.key, model)));
    expect(responses.filter((r) => r.status === 200)).toHaveLength(4);
    expect((await recordedRequests(tag)).length).toBe(5);
    await Promise.all(responses.map((r) => r.body?.cancel()));
  });

  it('does not count requests refused for money (402) against the key', async () => {
    const account = await newAccount({ credit: 0.000001 });
    const key = await newKey(account.id, { rpm: 2 });
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    for (let i = 0; i < 4; i++) expect((await chat(key.key, model)).status).toBe(402);
    await adminCall('POST', `/accounts/${account.id}/credit`, { amount: 5, reason: 'top up' });
    // A 402 is decided together with the window, so it took no request slot at all.
    expect((await chat(key.key, model)).status).toBe(200);
    expect((await chat(key.key, model)).status).toBe(200);
    expect((await chat(key.key, model)).status).toBe(429);
  });

  it("bounds the whole account by its limits: three keys get its rpm together, not three times it (hole 5)", async () => {
    const tag = unique('rl');
    const { body: account } = await adminCall('POST', '/accounts', { email: `${unique('a')}@example.com`, credit: 10, rpm: 3, max_concurrency: 10 });
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}` }]);
    const keys = [await newKey(account.id), await newKey(account.id, { rpm: 50 }), await newKey(account.id)];
    // Before, each key had the account's rpm of its own: 9 requests a minute. Now 3 in all.
    const answers = [];
    for (let round = 0; round < 3; round++) for (const k of keys) answers.push(await chat(k.key, model));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 429, 429, 429, 429, 429, 429]);
    expect(await recordedRequests(tag)).toHaveLength(3);
    const refused = answers[3]!;
    expect(((await refused.json()) as any).error).toMatchObject({ code: 'rate_limit_requests', message: expect.stringMatching(/account/) });
    // The headers show the window the next request meets: the account's, with none left.
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    await Promise.all(answers.map((r) => (r.bodyUsed ? null : r.body?.cancel())));
  });

  it("lets a key's own limit narrow its account's, never widen it", async () => {
    const { body: account } = await adminCall('POST', '/accounts', { email: `${unique('a')}@example.com`, credit: 10, rpm: 5 });
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const narrow = await newKey(account.id, { rpm: 1 });
    const wide = await newKey(account.id, { rpm: 50 });
    const first = await chat(narrow.key, model);
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('1');
    expect((await chat(narrow.key, model)).status).toBe(429);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await chat(wide.key, model)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429]); // the account's 5, one taken by the narrow key
  });

  it('limits requests in flight across the whole account', async () => {
    const { body: limited } = await adminCall('POST', '/accounts', { email: `${unique('a')}@example.com`, credit: 10, max_concurrency: 1 });
    const { model } = await newModel([{ fixture: 'openai/chat-stream-text-gpt-4o.sse', options: 'delay=20' }]);
    const a = await newKey(limited.id);
    const b = await newKey(limited.id);
    const streaming = await call('/v1/chat/completions', { method: 'POST', key: a.key, json: { model, messages: hello, stream: true } });
    expect(streaming.status).toBe(200);
    const other = await call('/v1/chat/completions', { method: 'POST', key: b.key, json: { model, messages: hello, stream: true } });
    expect(other.status).toBe(429);
    expect(((await other.json()) as any).error.code).toBe('rate_limit_concurrency');
    await streaming.text();
    await usageRow(streaming.headers.get('x-request-id')!, 5000, limited.id);
    const after = await call('/v1/chat/completions', { method: 'POST', key: b.key, json: { model, messages: hello, stream: true } });
    expect(after.status).toBe(200);
    await after.text();
  });

  it('bounds how many keys an account may hold (MAX_KEYS_PER_ACCOUNT, 20 in these tests)', async () => {
    const account = await newAccount();
    const made = [];
    for (let i = 0; i < 20; i++) made.push(await newKey(account.id));
    const over = await adminCall('POST', `/accounts/${account.id}/keys`, { name: 'one too many' });
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe('too_many_keys');
    expect((await adminCall('DELETE', `/keys/${made[0]!.id}`)).status).toBe(204);
    expect((await adminCall('POST', `/accounts/${account.id}/keys`, { name: 'in its place' })).status).toBe(201);
  });

  it('counts the real usage of a recorded stream against the token limit', async () => {
    // The recorded stream uses 16 + 300 tokens; the request reserves only its prompt estimate.
    const account = await newAccount({ credit: 10 });
    const key = await newKey(account.id, { tpm: 600 });
    const { model } = await newModel([{ fixture: 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt' }]);
    const stub = accountObject(account.id);
    const usedTokens = async () =>
      runInDurableObject(stub, (_i, state) => {
        const row = state.storage.sql.exec<{ tat: number }>('SELECT tokens AS tat FROM windows WHERE key_id = ?', key.id).toArray()[0];
        return row ? Math.round((row.tat - Date.now() * 1000) / (60_000_000 / 600)) : 0;
      });
    for (let i = 0; i < 2; i++) {
      const res = await call('/v1/chat/completions', { method: 'POST', key: key.key, json: { model, messages: hello, stream: true } });
      expect(res.status).toBe(200);
      await res.text();
      await usageRow(res.headers.get('x-request-id')!);
      for (let tries = 0; (await usedTokens()) < 316 * (i + 1) - 5 && tries < 100; tries++) await new Promise((r) => setTimeout(r, 20));
    }
    const res = await call('/v1/chat/completions', { method: 'POST', key: key.key, json: { model, messages: hello, stream: true } });
    expect(res.status).toBe(429);
    expect(((await res.json()) as any).error.code).toBe('rate_limit_tokens');
  });
});

describe('header formatting', () => {
  it('writes durations as OpenAI does', () => {
    expect(duration(20)).toBe('20ms');
    expect(duration(1500)).toBe('1.5s');
    expect(duration(360_000)).toBe('6m0s');
  });
});
