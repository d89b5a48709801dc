import { describe, expect, inject, it } from 'vitest';
import { adminCall, call, newAccount, newKey, newModel, recordedRequests, sleep, unique, usageRow } from './helpers';

/**
 * Channel health against a fake upstream that fails, recovers and fails again (its
 * /__fail switch), asserting which channel served each request and which were tried. The
 * worker runs with HEALTH_COOL_DOWN_MS 1000 and HEALTH_REPORT_MS 20 (vitest.config.ts).
 */
const COOL_DOWN_MS = 1000;
const hello = [{ role: 'user', content: 'Say hello' }];

async function twoChannels() {
  const [a, b] = [unique('a'), unique('b')];
  const account = await newAccount();
  const { key } = await newKey(account.id);
  const { model, channelIds } = await newModel([
    { fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${a}`, priority: 2 },
    { fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${b}`, priority: 1 },
  ]);
  const fail = (tag: string, status: number) => fetch(`${inject('upstreamUrl')}/__fail?id=${tag}&status=${status}`, { method: 'POST' });
  const tried = async (tag: string) => (await recordedRequests(tag)).length;
  /** Sends one request; which channel served it (null: none did) and its status. */
  const send = async () => {
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } });
    const row = await usageRow(res.headers.get('x-request-id')!);
    return { status: res.status, channel: res.status === 200 ? row.channel : null };
  };
  return { a, b, A: channelIds[0]!, B: channelIds[1]!, fail, tried, send };
}

describe('channel health', () => {
  it('takes a failing channel out of rotation, probes it back in, and cools it down longer while it keeps failing', async () => {
    const { a, A, B, fail, tried, send } = await twoChannels();
    expect(await send()).toEqual({ status: 200, channel: A });

    await fail(a, 500);
    for (let i = 0; i < 3; i++) expect(await send()).toEqual({ status: 200, channel: B }); // A tried and failed over each time
    expect(await tried(a)).toBe(4);
    expect(await send()).toEqual({ status: 200, channel: B }); // A is cooling down: not tried
    expect(await tried(a)).toBe(4);

    // The shared view has it: the isolate reports what is pending in the waitUntil of its
    // next request (at most one report per HEALTH_REPORT_MS).
    await sleep(50);
    expect(await send()).toEqual({ status: 200, channel: B });
    await sleep(150);
    const listed = (await adminCall('GET', '/channels')).body.data.find((ch: any) => ch.id === A);
    expect(listed.health).toMatchObject({ state: 'cooling', consecutive_failures: 3, recent: { attempts: 4, success_rate: 0.25 } });
    expect(listed.health.recent.latency_ms).toBeGreaterThanOrEqual(0);
    expect(Date.parse(listed.health.cool_down_until)).toBeGreaterThan(Date.now());

    // Cooled down, still broken: one request probes it (not every request), and fails over.
    await sleep(COOL_DOWN_MS + 50);
    const burst = await Promise.all(Array.from({ length: 5 }, () => send()));
    expect(burst.every((r) => r.status === 200 && r.channel === B)).toBe(true);
    expect(await tried(a)).toBe(5);
    // That failure doubled the cool-down (2 s): not tried again before it ends...
    await sleep(COOL_DOWN_MS + 50);
    expect(await send()).toEqual({ status: 200, channel: B });
    expect(await tried(a)).toBe(5);

    // ...and once it has, a recovered channel takes its traffic back at the first probe.
    await fail(a, 0);
    await sleep(COOL_DOWN_MS + 100);
    expect(await send()).toEqual({ status: 200, channel: A });
    expect(await send()).toEqual({ status: 200, channel: A });

    // Failing again: out again, from the first cool-down (a success ended the streak).
    await fail(a, 503);
    for (let i = 0; i < 4; i++) expect(await send()).toEqual({ status: 200, channel: B });
    expect(await tried(a)).toBe(10);
    await sleep(50);
    expect(await send()).toEqual({ status: 200, channel: B });
    await sleep(150);
    const again = (await adminCall('GET', '/channels')).body.data.find((ch: any) => ch.id === A);
    expect(again.health).toMatchObject({ state: 'cooling', consecutive_failures: 3 });
    await fail(a, 0);
  });

  it('still tries the least bad channel when every one is cooling down, rather than answering 503', async () => {
    const { a, b, B, fail, tried, send } = await twoChannels();
    await fail(a, 500);
    await fail(b, 502);
    for (let i = 0; i < 3; i++) expect((await send()).status).toBe(502);
    expect([await tried(a), await tried(b)]).toEqual([3, 3]);
    // Both cooling down: both are still tried, and the answer is the upstreams' 502, not 503 no_channel.
    expect((await send()).status).toBe(502);
    expect([await tried(a), await tried(b)]).toEqual([4, 4]);
    // B recovers while cooling down: the next request is served.
    await fail(b, 0);
    expect(await send()).toEqual({ status: 200, channel: B });
    await fail(a, 0);
  });

  it('a 429 with a short retry-after is pacing, not failing; one without takes the channel out', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const [slow, out] = [unique('paced'), unique('limited')];
    const { model: paced, channelIds: [P] } = await newModel([
      { fixture: 'gemini/error-429-resource-exhausted-retry-info.json', options: `id=${slow},status=429,retry_after=1`, priority: 2 },
      { fixture: 'openai/chat-nonstream-text-gpt-4o.json', priority: 1 },
    ]);
    // The recorded Gemini 429 (RESOURCE_EXHAUSTED with a RetryInfo) has no retry-after header: it counts.
    const { model: limited, channelIds: [L] } = await newModel([
      { fixture: 'gemini/error-429-resource-exhausted-retry-info.json', options: `id=${out},status=429`, priority: 2 },
      { fixture: 'openai/chat-nonstream-text-gpt-4o.json', priority: 1 },
    ]);
    const send = (model: string) => call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: hello } });
    for (let i = 0; i < 4; i++) for (const model of [paced, limited]) expect((await send(model)).status).toBe(200);
    expect((await recordedRequests(slow)).length).toBe(4); // tried every time
    expect((await recordedRequests(out)).length).toBe(3); // out after three
    await sleep(50);
    await send(paced); // its waitUntil reports what is pending
    await sleep(150);
    const channels = (await adminCall('GET', '/channels')).body.data;
    expect(channels.find((ch: any) => ch.id === L).health.state).toBe('cooling');
    expect(channels.find((ch: any) => ch.id === P).health).toMatchObject({ state: 'healthy', consecutive_failures: 0 });
  });
});
