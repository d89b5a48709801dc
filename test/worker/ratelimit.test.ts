import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/config';
import { admit, duration } from '../../src/ratelimit/client';
import type { Limits, RateLimiter } from '../../src/ratelimit/limiter';
import { adminCall, call, db, newAccount, newKey, newModel, recordedRequests, unique, usageRow } from './helpers';

const ns = (env as unknown as { RATE_LIMITER: DurableObjectNamespace<RateLimiter> }).RATE_LIMITER;
const limiter = () => ns.get(ns.idFromName(unique('key')));
const only = (l: Partial<Limits>): Limits => ({ rpm: null, tpm: null, concurrency: null, ...l });
const T0 = 1_800_000_000_000; // a fixed clock, in ms

describe('the RateLimiter object (GCRA)', () => {
  it('admits exactly L of a burst of N > L arriving together', async () => {
    const stub = limiter();
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await stub.admit(`r${i}`, only({ rpm: 7 }), 0, T0));
    expect(results.filter((d) => d.allowed)).toHaveLength(7);
    expect(results.map((d) => d.requests!.remaining).slice(0, 7)).toEqual([6, 5, 4, 3, 2, 1, 0]);
    const refused = results[7]!;
    expect(refused).toMatchObject({ allowed: false, reason: 'requests' });
    // one slot comes back every 60/7 s
    expect(refused.retryAfterMs).toBe(Math.ceil(60_000 / 7));
  });

  it('refills one slot per interval and lets no double burst through at a window edge', async () => {
    const stub = limiter();
    const limits = only({ rpm: 6 }); // one per 10 s
    for (let i = 0; i < 6; i++) expect((await stub.admit(`a${i}`, limits, 0, T0 + 59_900)).allowed).toBe(true);
    // 200 ms later a fixed one-minute window would have reset; GCRA has refilled nothing yet
    expect((await stub.admit('edge', limits, 0, T0 + 60_100)).allowed).toBe(false);
    // one interval later, exactly one more
    expect((await stub.admit('b1', limits, 0, T0 + 69_900)).allowed).toBe(true);
    expect((await stub.admit('b2', limits, 0, T0 + 69_900)).allowed).toBe(false);
    // a full minute after the burst, the whole allowance again
    const later = [];
    for (let i = 0; i < 7; i++) later.push((await stub.admit(`c${i}`, limits, 0, T0 + 130_000)).allowed);
    expect(later.filter(Boolean)).toHaveLength(6);
  });

  it('keeps its windows across eviction', async () => {
    const stub = limiter();
    for (let i = 0; i < 3; i++) await stub.admit(`r${i}`, only({ rpm: 5 }), 0, T0);
    await evictDurableObject(stub);
    const next = await stub.admit('after', only({ rpm: 5 }), 0, T0);
    expect(next.requests!.remaining).toBe(1);
  });

  it('counts tokens, and corrects them with the real usage at the end', async () => {
    const stub = limiter();
    const limits = only({ tpm: 1000 });
    expect((await stub.admit('a', limits, 600, T0)).allowed).toBe(true);
    const refused = await stub.admit('b', limits, 600, T0);
    expect(refused).toMatchObject({ allowed: false, reason: 'tokens' });
    await stub.finish('a', limits, 600, 100, false, T0); // used 100 of the 600 reserved
    expect((await stub.admit('b', limits, 600, T0)).allowed).toBe(true);
    expect((await stub.admit('c', limits, 400, T0)).allowed).toBe(false);
  });

  it('limits concurrent requests until they finish, and a refused request consumes nothing', async () => {
    const stub = limiter();
    const limits = only({ concurrency: 2, rpm: 100 });
    expect((await stub.admit('a', limits, 0, T0)).allowed).toBe(true);
    expect((await stub.admit('b', limits, 0, T0)).allowed).toBe(true);
    const third = await stub.admit('c', limits, 0, T0);
    expect(third).toMatchObject({ allowed: false, reason: 'concurrency' });
    await stub.finish('a', limits, 0, 0, false, T0);
    const fourth = await stub.admit('c', limits, 0, T0);
    expect(fourth.allowed).toBe(true);
    expect(fourth.requests!.remaining).toBe(97); // the refused attempt took no request slot
  });

  it('cleans up by alarm: expired leases go, running the alarm twice is harmless', async () => {
    const stub = limiter();
    await stub.admit('a', only({ concurrency: 1 }), 0, Date.now() - 16 * 60_000); // lease already expired
    await stub.admit('b', only({ rpm: 60 }), 0);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runDurableObjectAlarm(stub);
    const { leases } = await runInDurableObject(stub, (_instance, state) => ({
      leases: state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM leases').one().n,
    }));
    expect(leases).toBe(0);
    expect((await stub.admit('c', only({ concurrency: 1 }), 0)).allowed).toBe(true);
  });
});

describe('the unreachable-limiter policy', () => {
  it('admits (fails open) when the object cannot be reached, and never calls it for unlimited keys', async () => {
    let calls = 0;
    const broken = {
      ...env,
      RATE_LIMITER: {
        idFromName: () => ({}),
        get: () => ({
          admit: () => {
            calls++;
            throw new Error('Durable Object overloaded');
          },
        }),
      },
    } as unknown as Env;
    expect(await admit(broken, 'key', 'req', only({ rpm: 1 }), 0)).toBeNull();
    expect(calls).toBe(1);
    expect(await admit(broken, 'key', 'req', only({}), 0)).toBeNull();
    expect(calls).toBe(1);
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
    expect(await db.prepare('SELECT 1 FROM holds WHERE account_id = ?').bind(account.id).first()).toBeNull();
    expect((await recordedRequests(tag)).length).toBe(2);
    const sum = await db.prepare('SELECT SUM(amount) AS s FROM ledger WHERE account_id = ?').bind(account.id).first<{ s: number }>();
    expect(sum!.s / 1e6).toBe(before);
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

  it('stays exact when the limiter is asked alongside D1 (a key this isolate has seen)', async () => {
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
    // The limiter's refunds run in waitUntil after each 402: wait until its request window is empty.
    const stub = ns.get(ns.idFromName(key.id));
    const busy = () =>
      runInDurableObject(stub, (_i, state) => {
        const row = state.storage.sql.exec<{ tat: number }>("SELECT tat FROM windows WHERE name = 'requests'").toArray()[0];
        return row !== undefined && row.tat > Date.now() * 1000;
      });
    for (let tries = 0; (await busy()) && tries < 100; tries++) await new Promise((r) => setTimeout(r, 20));
    expect((await chat(key.key, model)).status).toBe(200);
    expect((await chat(key.key, model)).status).toBe(200);
    expect((await chat(key.key, model)).status).toBe(429);
  });

  it("applies the account's default, which a key may narrow but not widen", async () => {
    const { body: account } = await adminCall('POST', '/accounts', { email: `${unique('a')}@example.com`, credit: 10, rpm: 2 });
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const plain = await newKey(account.id);
    const wider = await newKey(account.id, { rpm: 50 });
    const narrower = await newKey(account.id, { rpm: 1 });
    expect((await chat(plain.key, model)).headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect((await chat(wider.key, model)).headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect((await chat(narrower.key, model)).headers.get('x-ratelimit-limit-requests')).toBe('1');
  });

  it('counts the real usage of a recorded stream against the token limit', async () => {
    // The recorded stream uses 16 + 300 tokens; the request reserves only its prompt estimate.
    const account = await newAccount({ credit: 10 });
    const key = await newKey(account.id, { tpm: 600 });
    const { model } = await newModel([{ fixture: 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt' }]);
    const stub = ns.get(ns.idFromName(key.id));
    const usedTokens = async () =>
      runInDurableObject(stub, (_i, state) => {
        const row = state.storage.sql.exec<{ tat: number }>("SELECT tat FROM windows WHERE name = 'tokens'").toArray()[0];
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
