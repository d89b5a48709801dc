import { describe, expect, it } from 'vitest';
import { call, disconnectMidStream, newAccount, newKey, newModel, recordedRequests, setup, UPSTREAM_KEY, unique, usageRow } from './helpers';

const hello = [{ role: 'user', content: 'Say hello' }];
const post = (key: string, json: unknown, init: RequestInit = {}) => call('/v1/chat/completions', { method: 'POST', key, json, ...init });

async function sseEvents(res: Response): Promise<string[]> {
  return (await res.text()).split('\n\n').filter((e) => e.trim() !== '');
}

describe('POST /v1/chat/completions, whole responses', () => {
  it('relays the upstream body and records usage and cost from its prices', async () => {
    const { key, model, channel, account } = await setup('openai/chat-nonstream-text-gpt-4o.json');
    const res = await post(key, { model, messages: hello });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.object).toBe('chat.completion');
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({
      status: 'success', account_id: account.id, model, channel,
      input_tokens: body.usage.prompt_tokens, output_tokens: body.usage.completion_tokens, estimated: false,
    });
    // $2 / 1M input, $8 / 1M output, in micro-dollars, rounded up once.
    expect(row.cost).toBe(Math.ceil((body.usage.prompt_tokens * 2 + body.usage.completion_tokens * 8)));
  });

  it('sends the channel key and the mapped model upstream, and nothing of the client', async () => {
    const tag = unique('req');
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}` }]);
    const res = await post(key, { model, messages: hello, temperature: 0.3, some_future_field: { a: 1 } }, {
      headers: { 'x-secret-client-header': 'nope', connection: 'keep-alive', cookie: 'session=1' },
    });
    expect(res.status).toBe(200);
    const [seen] = await recordedRequests(tag);
    expect(seen!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(JSON.stringify(seen!.headers)).not.toContain(key);
    expect(seen!.headers['x-secret-client-header']).toBeUndefined();
    expect(seen!.headers.cookie).toBeUndefined();
    // …and the output cap the hold was sized for (DEFAULT_MAX_OUTPUT_TOKENS), which the client named none of
    expect(seen!.body).toEqual({ model: 'upstream-model', messages: hello, temperature: 0.3, some_future_field: { a: 1 }, max_tokens: 16_384 });
    const text = await res.text();
    expect(text).not.toContain(UPSTREAM_KEY);
    // The client's own text (spacing, key order, escapes), with the model and the cap spliced in.
    const raw = `{ "messages": [{"role":"user","content":"caf\\u00e9"}],\n"model":${JSON.stringify(model)} }`;
    expect((await call('/v1/chat/completions', { method: 'POST', key, body: raw, headers: { 'content-type': 'application/json' } })).status).toBe(200);
    const [, sent] = await recordedRequests(tag);
    const splicedIn = `{ "messages": [{"role":"user","content":"caf\\u00e9"}],\n"model":"upstream-model" ,"max_tokens":16384}`;
    expect(sent!.raw).toBe(splicedIn);
    // A byte-order mark before the JSON is read past, and what goes on is the text that was parsed.
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(raw)]);
    expect((await call('/v1/chat/completions', { method: 'POST', key, body: withBom, headers: { 'content-type': 'application/json' } })).status).toBe(200);
    expect((await recordedRequests(tag))[2]!.raw).toBe(splicedIn);
  });

  it('fails over to the next channel on 500 and on 429 before anything reached the client', async () => {
    const tag = unique('req');
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model, channelIds } = await newModel([
      { fixture: 'openai/error-400-unsupported-parameter-max-tokens.json', options: `id=${tag},status=500`, priority: 3 },
      { fixture: 'gemini/error-429-resource-exhausted-retry-info.json', options: `id=${tag},status=429`, priority: 2 },
      { fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}`, priority: 1 },
    ]);
    const res = await post(key, { model, messages: hello });
    expect(res.status).toBe(200);
    expect((await recordedRequests(tag)).length).toBe(3);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row.channel).toBe(channelIds[2]);
  });

  it('answers 502, costs nothing and records a failed row when every channel fails', async () => {
    const { key, model } = await setup('openai/error-400-unsupported-parameter-max-tokens.json', 'status=503');
    const res = await post(key, { model, messages: hello });
    expect(res.status).toBe(502);
    const body = (await res.json()) as any;
    expect(body.error.type).toBe('upstream_error');
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'failed', cost: 0, input_tokens: 0, output_tokens: 0 });
  });

  it('passes an upstream 400 back as a sanitised invalid_request_error, without failover', async () => {
    const tag = unique('req');
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([
      { fixture: 'openai/error-400-unsupported-parameter-max-tokens.json', options: `id=${tag},status=400`, priority: 2 },
      { fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}`, priority: 1 },
    ]);
    const res = await post(key, { model, messages: hello, max_tokens: 5 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toContain("Unsupported parameter: 'max_tokens'");
    expect(res.headers.get('x-should-retry')).toBe('false');
    expect((await recordedRequests(tag)).length).toBe(1);
  });

  it('answers 504 upstream_error when the upstream never answers', async () => {
    const { key, model } = await setup('openai/chat-nonstream-text-gpt-4o.json', 'hang');
    const res = await post(key, { model, messages: hello });
    expect(res.status).toBe(504);
    expect(((await res.json()) as any).error.type).toBe('upstream_error');
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'timeout', cost: 0 });
  });

  it('answers 503 channel_misconfigured when the channel names a secret that is not set, never naming it', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', secret: 'MISSING_PROVIDER_KEY' }]);
    const res = await post(key, { model, messages: hello });
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text).error.code).toBe('channel_misconfigured');
    expect(text).not.toContain('MISSING_PROVIDER_KEY');
  });
});

describe('POST /v1/chat/completions, streams', () => {
  it('streams the upstream events and removes the usage chunk the client did not ask for', async () => {
    const tag = unique('req');
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', options: `id=${tag}` }]);
    const res = await post(key, { model, messages: hello, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = await sseEvents(res);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events.some((e) => e.includes('"usage":{'))).toBe(false);
    const [seen] = await recordedRequests(tag);
    expect(seen!.body.stream_options).toEqual({ include_usage: true });
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'success', input_tokens: 16, output_tokens: 300, estimated: false });
    expect(row.first_byte_ms).not.toBeNull();
  });

  it('keeps the usage chunk when the client asked for include_usage', async () => {
    const { key, model } = await setup('openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt');
    const res = await post(key, { model, messages: hello, stream: true, stream_options: { include_usage: true } });
    const events = await sseEvents(res);
    const usageEvent = events.find((e) => e.includes('"choices":[]'));
    expect(JSON.parse(usageEvent!.slice('data: '.length)).usage.completion_tokens).toBe(300);
  });

  it('marks the row estimated when the upstream reports no usage', async () => {
    const { key, model } = await setup('openai/chat-stream-no-include-usage-gpt-5-nano.sse');
    const res = await post(key, { model, messages: hello, stream: true });
    await res.text();
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'success', estimated: true });
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(row.cost).toBeGreaterThan(0);
  });

  it('ends a stream that dies mid-way with an OpenAI-shaped error event, not [DONE]', async () => {
    const { key, model } = await setup('openai/chat-stream-text-gpt-4o.sse', 'die=5');
    const res = await post(key, { model, messages: hello, stream: true });
    expect(res.status).toBe(200);
    const events = await sseEvents(res);
    expect(events.some((e) => e.includes('[DONE]'))).toBe(false);
    const last = events.at(-1)!;
    expect(last.startsWith('event: error\ndata: ')).toBe(true);
    expect(JSON.parse(last.split('data: ')[1]!).error).toMatchObject({ type: 'upstream_error' });
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'failed', estimated: true });
    expect(row.output_tokens).toBeGreaterThan(0);
  });

  it('ends a stalled stream after the idle timeout with an error event and a timeout row', async () => {
    const { key, model } = await setup('openai/chat-stream-text-gpt-4o.sse', 'stall=3');
    const res = await post(key, { model, messages: hello, stream: true });
    const events = await sseEvents(res);
    expect(JSON.parse(events.at(-1)!.split('data: ')[1]!).error.code).toBe('upstream_timeout');
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row.status).toBe('timeout');
  });

  it('delivers the first event before the upstream has finished', async () => {
    const { key, model } = await setup('openai/chat-stream-text-gpt-4o.sse', 'delay=40');
    const started = Date.now();
    const res = await post(key, { model, messages: hello, stream: true });
    const reader = res.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    expect(new TextDecoder().decode(first.value)).toContain('chat.completion.chunk');
    while (!(await reader.read()).done);
    const totalAt = Date.now() - started;
    // 30+ events 40 ms apart: the first must arrive long before the last.
    expect(firstAt).toBeLessThan(totalAt / 4);
  });

  it('records a cancelled row, paying for what was generated, when the client disconnects', async () => {
    const { key, model } = await setup('openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', 'delay=30');
    const row = await usageRow(await disconnectMidStream(key, model, { abort: true, cancel: true }));
    expect(row.status).toBe('cancelled');
    expect(row.estimated).toBe(true);
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(row.output_tokens).toBeLessThan(300);
    expect(row.cost).toBeGreaterThan(0);
  });
});

describe('client disconnect, each way the runtime may report it', () => {
  it('settles as cancelled when only the response body is cancelled', async () => {
    const { key, model } = await setup('openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', 'delay=30');
    const row = await usageRow(await disconnectMidStream(key, model, { abort: false, cancel: true }));
    expect(row.status).toBe('cancelled');
    expect(row.cost).toBeGreaterThan(0);
  });

  it('settles as cancelled when only the request signal fires', async () => {
    const { key, model } = await setup('openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', 'delay=30');
    const row = await usageRow(await disconnectMidStream(key, model, { abort: true, cancel: false }));
    expect(row.status).toBe('cancelled');
    expect(row.output_tokens).toBeLessThan(300);
  });
});
