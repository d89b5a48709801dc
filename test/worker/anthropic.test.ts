import { describe, expect, inject, it } from 'vitest';
import {
  adminCall, balanceOf, call, db, expectLedgerInvariant, flushAccounts, ledgerInvariantAfterEachTest, newAccount, newKey, newModel,
  recordedRequests, unique, UPSTREAM_KEY, usageRow,
} from './helpers';

/**
 * Anthropic's Messages API: /v1/messages passed through to `anthropic` channels and
 * translated onto OpenAI-format ones, /v1/chat/completions translated onto `anthropic`
 * channels, count_tokens, and errors in each route's dialect. Upstreams replay the
 * recordings in test/fixtures/anthropic* (and the OpenAI ones for the translated side).
 */

/** Claude's prices, with the cache: $3 in, $0.30 cached, $3.75 cache write, $15 out. */
const CLAUDE = { input_price: 3, output_price: 15, cached_input_price: 0.3, cache_write_price: 3.75 };
const costOf = (t: { input: number; cached: number; written: number; output: number }) =>
  Math.ceil(((t.input - t.cached - t.written) * 3_000_000 + t.cached * 300_000 + t.written * 3_750_000 + t.output * 15_000_000) / 1_000_000);

const ANTHROPIC_HEADERS = { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31,interleaved-thinking-2025-05-14' };
const messages = (key: string, json: unknown, headers: Record<string, string> = ANTHROPIC_HEADERS, path = '/v1/messages') =>
  call(path, { method: 'POST', json, headers: { 'x-api-key': key, ...headers } });
const hello = { max_tokens: 1024, messages: [{ role: 'user', content: 'Hello' }] };

/** Every account a test makes: the ledger invariant is checked on each after every test. */
const accounts = ledgerInvariantAfterEachTest();

async function customer(channels: Array<{ fixture: string; options?: string; kind?: string; priority?: number }>, credit = 10) {
  const account = await newAccount({ credit });
  accounts.push(account.id);
  const key = await newKey(account.id);
  const { model, channelIds } = await newModel(channels.map((ch) => ({ kind: 'anthropic', ...ch })), CLAUDE);
  return { account, key: key.key, model, channelIds };
}

/** What the fake upstream sends for a fixture, as the gateway receives it. */
const direct = async (fixture: string) =>
  (await fetch(`${inject('upstreamUrl')}/o:/${fixture}/messages`, { method: 'POST', body: '{}' })).text();

interface SseEvent { event: string | undefined; data: any }
function events(text: string): SseEvent[] {
  return text.split(/\r?\n\r?\n/).filter((e) => e.trim() !== '').map((raw) => {
    const lines = raw.split(/\r?\n/);
    const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
    return { event: lines.find((l) => l.startsWith('event:'))?.slice(6).trim(), data: data === '[DONE]' ? data : JSON.parse(data) };
  });
}

/** Every recorded Anthropic stream shape: what its usage bills as. */
const streamShapes: Array<[string, string, { input: number; cached: number; written: number; output: number }]> = [
  ['text, older usage fields', 'anthropic/messages-stream-raw-sse-basic-text.sse', { input: 11, cached: 0, written: 0, output: 6 }],
  ['text, usage repeated in message_delta', 'anthropic/messages-stream-text-sonnet-4-5.chunks.txt', { input: 12, cached: 0, written: 0, output: 30 }],
  ['text then tool use with input_json_delta', 'anthropic/messages-stream-raw-sse-text-then-tool-use-sonnet-4.sse', { input: 377, cached: 0, written: 0, output: 65 }],
  ['tool use with no arguments, pings between', 'anthropic/messages-stream-text-then-tool-use-no-args.chunks.txt', { input: 565, cached: 0, written: 0, output: 48 }],
  ['tool use, input_json_delta fragments', 'anthropic/messages-stream-tool-use-input-json-delta-haiku-4-5.chunks.txt', { input: 849, cached: 0, written: 0, output: 47 }],
  ['extended thinking', 'anthropic/messages-stream-raw-sse-extended-thinking-sonnet-4.sse', { input: 43, cached: 0, written: 0, output: 282 }],
  ['whitespace padding inside the JSON', 'anthropic/messages-stream-raw-sse-sonnet-4-5-whitespace-padding.sse', { input: 20, cached: 0, written: 0, output: 5 }],
  // message_delta's cumulative counts replace message_start's: 6 + 3,337 written + 6,289 read.
  ['prompt cache write and read, server tool', 'anthropic/messages-stream-prompt-cache-server-tool.chunks.txt', { input: 9632, cached: 6289, written: 3337, output: 198 }],
  // Both iterations are billed: compaction (100 + 55,096 read, 83 out) and the answer (181, 8 out).
  ['cache read with compaction iterations', 'anthropic/messages-stream-raw-sse-cache-read-compaction-sonnet-4-6.sse', { input: 55377, cached: 55096, written: 0, output: 91 }],
  ['compatible provider correcting input in message_delta', 'anthropic-compatible/messages-stream-message-delta-input-tokens-differs.chunks.txt', { input: 61, cached: 0, written: 0, output: 2 }],
];

describe('POST /v1/messages on an anthropic channel: passed through', () => {
  it.each(streamShapes)('%s: the bytes as Anthropic sent them (model renamed), billed from its usage', async (_name, fixture, t) => {
    const { key, model, account, channelIds } = await customer([{ fixture }], 50);
    // The recordings' prompts were long: a hold for a short one would cap their charge.
    const res = await messages(key, { ...hello, model, stream: true, messages: [{ role: 'user', content: 'long '.repeat(12_000) }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const upstream = await direct(fixture);
    const upstreamModel = /"model":"([^"]+)"/.exec(upstream)![1];
    // (A recording whose last event lacks its blank line gets one: see the test after this.)
    const expected = upstream.replace(`"model":"${upstreamModel}"`, `"model":"${model}"`);
    expect(await res.text()).toBe(/\n\n$/.test(expected) ? expected : `${expected.replace(/\n$/, '')}\n\n`);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({
      status: 'success', channel: channelIds[0], estimated: false,
      input_tokens: t.input, cached_tokens: t.cached, cache_write_tokens: t.written, output_tokens: t.output, cost: costOf(t),
    });
    await flushAccounts();
    await expectLedgerInvariant(account.id);
  });

  it('ends a last event that the upstream left unterminated, so that clients dispatch it', async () => {
    const fixture = 'anthropic/messages-stream-raw-sse-text-then-tool-use-sonnet-4.sse';
    expect(await direct(fixture)).toMatch(/"message_stop"}$/); // the recording ends without a newline
    const { key, model } = await customer([{ fixture }]);
    const res = await messages(key, { ...hello, model, stream: true });
    expect(await res.text()).toMatch(/event: message_stop\ndata: {"type":"message_stop"}\n\n$/);
  });

  it('answers a whole message under the public model id, billed from its usage', async () => {
    const { key, model } = await customer([{ fixture: 'anthropic/messages-nonstream-text-then-tool-use-no-args.json' }]);
    const res = await messages(key, { ...hello, model });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const recorded = JSON.parse(await direct('anthropic/messages-nonstream-text-then-tool-use-no-args.json'));
    expect(body).toEqual({ ...recorded, model });
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ input_tokens: 602, output_tokens: 93, cost: costOf({ input: 602, cached: 0, written: 0, output: 93 }) });
  });

  it("sends the channel's key, the client's anthropic-version and anthropic-beta, and the body as the client sent it", async () => {
    const tag = unique('req');
    const { key, model } = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', options: `id=${tag}` }]);
    const body = {
      model, max_tokens: 32000, stream: false,
      system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral', ttl: '1h' } }] }],
      thinking: { type: 'enabled', budget_tokens: 2048 }, context_management: { edits: [] }, metadata: { user_id: 'u1' },
      tools: [{ name: 'Bash', description: 'run', input_schema: { type: 'object', properties: {} } }],
    };
    const res = await messages(key, body, ANTHROPIC_HEADERS, '/v1/messages?beta=true');
    expect(res.status).toBe(200);
    const [seen] = await recordedRequests(tag);
    expect(seen!.path).toMatch(/\/messages$/);
    expect(seen!.headers['x-api-key']).toBe(UPSTREAM_KEY);
    expect(seen!.headers.authorization).toBeUndefined();
    expect(seen!.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen!.headers['anthropic-beta']).toBe(ANTHROPIC_HEADERS['anthropic-beta']);
    expect(JSON.stringify(seen!.headers)).not.toContain(key);
    expect(seen!.body).toEqual({ ...body, model: 'upstream-model' });
  });

  it("moves role: 'system' messages into system, as Claude Code sends them for models it does not know", async () => {
    const tag = unique('req');
    const { key, model } = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', options: `id=${tag}` }]);
    const res = await messages(key, {
      model, max_tokens: 100, system: 'first', messages: [{ role: 'system', content: 'second' }, { role: 'user', content: 'hi' }],
    });
    expect(res.status).toBe(200);
    const [seen] = await recordedRequests(tag);
    expect(seen!.body.system).toEqual([{ type: 'text', text: 'first' }, { type: 'text', text: 'second' }]);
    expect(seen!.body.messages).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it('ends a stream that dies mid-way with an Anthropic error event, and charges only what was generated', async () => {
    const { key, model } = await customer([{ fixture: 'anthropic/messages-stream-raw-sse-text-then-tool-use-sonnet-4.sse', options: 'die=5' }]);
    const res = await messages(key, { ...hello, model, stream: true });
    const got = events(await res.text());
    expect(got.at(-1)).toEqual({ event: 'error', data: { type: 'error', error: { type: 'api_error', message: expect.any(String) } } });
    expect(got.some((e) => e.data.type === 'message_stop')).toBe(false);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row.status).toBe('failed');
    expect(row.input_tokens).toBe(377);
  });

  it('fails over before the first byte to the next channel', async () => {
    const { key, model, channelIds } = await customer([
      { fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', options: 'status=529', priority: 2 },
      { fixture: 'anthropic/messages-stream-raw-sse-basic-text.sse', priority: 1 },
    ]);
    const res = await messages(key, { ...hello, model, stream: true });
    expect(res.status).toBe(200);
    expect(events(await res.text()).at(-1)!.data.type).toBe('message_stop');
    expect((await usageRow(res.headers.get('x-request-id')!)).channel).toBe(channelIds[1]);
  });
});

describe('POST /v1/messages under concurrency', () => {
  it('40 concurrent streams on a balance that covers a few holds never overspend', async () => {
    // Each holds ~2,000 output tokens × $15 (≈ $0.03); each costs 11 × $3 + 6 × $15 per 1M = 123 µ$.
    const { key, model, account } = await customer([{ fixture: 'anthropic/messages-stream-raw-sse-basic-text.sse', options: 'delay=2' }], 0.1);
    const start = await balanceOf(account.id);
    const responses = await Promise.all(
      Array.from({ length: 40 }, () => messages(key, { ...hello, model, max_tokens: 2000, stream: true })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 402)).toBe(true);
    expect(statuses.filter((s) => s === 402).length).toBeGreaterThan(0);
    const successes = responses.filter((r) => r.status === 200);
    await Promise.all(responses.map((r) => r.text()));
    await Promise.all(successes.map((r) => usageRow(r.headers.get('x-request-id')!, 15_000)));
    const end = await balanceOf(account.id);
    expect(end).toBeGreaterThanOrEqual(0);
    expect(start - end).toBe(successes.length * costOf({ input: 11, cached: 0, written: 0, output: 6 }));
  });
});

describe('POST /v1/messages on an OpenAI-format channel: translated', () => {
  it('translates the request: system, images, tool use and results, tools, tool_choice, stop_sequences', async () => {
    const tag = unique('req');
    const { key, model } = await customer([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}`, kind: 'openai' }]);
    const res = await messages(key, {
      model, max_tokens: 300, system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
      temperature: 0.5, stop_sequences: ['END'], metadata: { user_id: 'user-7' }, thinking: { type: 'enabled', budget_tokens: 1024 },
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather here?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm', signature: 's' }, { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18C' }] }, { type: 'text', text: 'And so?' }] },
      ],
    });
    expect(res.status).toBe(200);
    const [seen] = await recordedRequests(tag);
    expect(seen!.path).toMatch(/\/chat\/completions$/);
    expect(seen!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(seen!.body).toEqual({
      model: 'upstream-model', max_tokens: 300, temperature: 0.5, stop: ['END'], user: 'user-7',
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      tool_choice: 'required', parallel_tool_calls: false,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Weather here?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
        { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
        { role: 'user', content: 'And so?' },
      ],
    });
  });

  it('answers a whole chat completion as an Anthropic message, billed from its usage', async () => {
    const { key, model } = await customer([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', kind: 'openai' }]);
    const res = await messages(key, { ...hello, model });
    const body = (await res.json()) as any;
    const recorded = JSON.parse(await (await fetch(`${inject('upstreamUrl')}/__fixture/openai/chat-nonstream-text-gpt-4o.json`)).text());
    expect(body).toMatchObject({
      type: 'message', role: 'assistant', model, stop_reason: 'end_turn', stop_sequence: null,
      content: [{ type: 'text', text: recorded.choices[0].message.content }],
      usage: { input_tokens: recorded.usage.prompt_tokens, output_tokens: recorded.usage.completion_tokens, cache_read_input_tokens: 0 },
    });
    expect(body.id).toMatch(/^msg_/);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ input_tokens: recorded.usage.prompt_tokens, output_tokens: recorded.usage.completion_tokens });
  });

  it('streams parallel tool calls as tool_use blocks, then message_delta with the usage and message_stop', async () => {
    const { key, model } = await customer([{ fixture: 'openai/chat-stream-parallel-tool-calls-gpt-4o.sse', kind: 'openai' }]);
    const res = await messages(key, { ...hello, model, stream: true });
    const got = events(await res.text());
    expect(got[0]).toMatchObject({ event: 'message_start', data: { type: 'message_start', message: { model, role: 'assistant', content: [] } } });
    const starts = got.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block);
    expect(starts.map((b) => b.type)).toEqual(['tool_use', 'tool_use']);
    for (const [i, block] of starts.entries()) {
      const json = got.filter((e) => e.event === 'content_block_delta' && e.data.index === i).map((e) => e.data.delta.partial_json).join('');
      expect(JSON.parse(json)).toBeTypeOf('object');
      expect(block.name).toBeTruthy();
    }
    expect(got.filter((e) => e.event === 'content_block_stop').length).toBe(2);
    expect(got.at(-2)).toMatchObject({ event: 'message_delta', data: { delta: { stop_reason: 'tool_use' }, usage: { input_tokens: 149, output_tokens: 60 } } });
    expect(got.at(-1)).toEqual({ event: 'message_stop', data: { type: 'message_stop' } });
    expect((await usageRow(res.headers.get('x-request-id')!))).toMatchObject({ input_tokens: 149, output_tokens: 60 });
  });

  it('streams reasoning as a thinking block before the text', async () => {
    const { key, model } = await customer([{ fixture: 'deepseek/chat-stream-deepseek-reasoner-raw.sse', kind: 'openai' }]);
    const res = await messages(key, { ...hello, model, stream: true });
    const got = events(await res.text());
    const blocks = got.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block.type);
    expect(blocks).toEqual(['thinking', 'text']);
    expect(got.at(-2)!.data.usage).toMatchObject({ input_tokens: 6, output_tokens: 212 });
  });

  it('refuses with a 400 naming the field what chat cannot take, before anything is held', async () => {
    const { key, model, account } = await customer([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', kind: 'openai' }]);
    const cases: Array<[unknown, string]> = [
      [{ ...hello, model, top_k: 5 }, 'top_k'],
      [{ ...hello, model, tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, 'tools[0].type'],
      [{ ...hello, model, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'f1' } }] }] }, 'messages[0].content[0].source.type'],
      [{ ...hello, model, messages: [{ role: 'user', content: [{ type: 'search_result', source: 'x', title: 't', content: [] }] }] }, 'messages[0].content[0].type'],
      [{ ...hello, model, mcp_servers: [] }, 'mcp_servers'],
    ];
    const before = await balanceOf(account.id);
    for (const [json, param] of cases) {
      const res = await messages(key, json);
      expect(res.status).toBe(400);
      const body = (await res.json()) as any;
      expect(body).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining(`'${param}'`) } });
    }
    expect(await balanceOf(account.id)).toBe(before);
  });
});

describe('POST /v1/chat/completions on an anthropic channel: translated', () => {
  it('translates the request into a Messages body', async () => {
    const tag = unique('req');
    const { key, model } = await customer([{ fixture: 'anthropic/messages-nonstream-tool-use-haiku-4-5.json', options: `id=${tag}` }]);
    const res = await call('/v1/chat/completions', {
      method: 'POST', key,
      json: {
        model, max_completion_tokens: 2000, temperature: 0.2, stop: 'END', user: 'u-1', reasoning_effort: 'low', n: 1,
        tools: [{ type: 'function', function: { name: 'json', description: 'Answer', parameters: { type: 'object' } } }],
        tool_choice: { type: 'function', function: { name: 'json' } }, parallel_tool_calls: false,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'Use JSON.' }] },
          { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'json', arguments: '{"a":1}' } }] },
          { role: 'tool', tool_call_id: 'call_1', content: 'done' },
        ],
      },
    });
    expect(res.status).toBe(200);
    const [seen] = await recordedRequests(tag);
    expect(seen!.path).toMatch(/\/messages$/);
    expect(seen!.headers['x-api-key']).toBe(UPSTREAM_KEY);
    expect(seen!.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen!.body).toEqual({
      model: 'upstream-model', max_tokens: 2000, temperature: 0.2, stop_sequences: ['END'], metadata: { user_id: 'u-1' },
      thinking: { type: 'enabled', budget_tokens: 1024 },
      system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Use JSON.' }],
      tools: [{ name: 'json', description: 'Answer', input_schema: { type: 'object' } }],
      tool_choice: { type: 'tool', name: 'json', disable_parallel_tool_use: true },
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'json', input: { a: 1 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'done' }] },
      ],
    });
  });

  it('gives max_tokens, which Anthropic requires, from the model or the default when the request has none', async () => {
    const tag = unique('req');
    const { key, model } = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', options: `id=${tag}` }]);
    await adminCall('PUT', `/models/${model}`, { ...CLAUDE, max_output_tokens: 777 });
    await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'hi' }] } });
    expect((await recordedRequests(tag))[0]!.body.max_tokens).toBe(777);
  });

  it('answers a whole message as a chat completion with tool calls and cached-token usage', async () => {
    const { key, model } = await customer([{ fixture: 'anthropic/messages-nonstream-text-then-tool-use-no-args.json' }]);
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'hi' }] } });
    const body = (await res.json()) as any;
    expect(body).toMatchObject({
      object: 'chat.completion', model,
      choices: [{ index: 0, finish_reason: 'tool_calls', message: {
        role: 'assistant', content: expect.stringContaining('update the current issue list'),
        tool_calls: [{ id: 'toolu_01LRmxn9vGM1d2DZSDBowdZ1', type: 'function', function: { name: 'updateIssueList', arguments: '{}' } }],
      } }],
      usage: { prompt_tokens: 602, completion_tokens: 93, total_tokens: 695, prompt_tokens_details: { cached_tokens: 0 } },
    });
    expect(body.usage.cost).toBe(costOf({ input: 602, cached: 0, written: 0, output: 93 }) / 1e6);
  });

  it('streams input_json_delta as tool_calls deltas, the stop reason as finish_reason, and the usage chunk when asked', async () => {
    const { key, model, account } = await customer([{ fixture: 'anthropic/messages-stream-prompt-cache-server-tool.chunks.txt' }]);
    const res = await call('/v1/chat/completions', {
      method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } },
    });
    const got = events(await res.text());
    expect(got.at(-1)!.data).toBe('[DONE]');
    const chunks = got.slice(0, -1).map((e) => e.data);
    expect(chunks.every((ch) => ch.object === 'chat.completion.chunk' && ch.model === model)).toBe(true);
    expect(chunks.map((ch) => ch.choices[0]?.delta?.content ?? '').join('')).toBe('The sum of the squares of the numbers 1 through 12 is **650**.');
    expect(chunks.find((ch) => ch.choices[0]?.finish_reason)!.choices[0].finish_reason).toBe('stop');
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 9632, completion_tokens: 198, prompt_tokens_details: { cached_tokens: 6289, cache_write_tokens: 3337 } });
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ input_tokens: 9632, cached_tokens: 6289, cache_write_tokens: 3337, cost: costOf({ input: 9632, cached: 6289, written: 3337, output: 198 }) });
    await flushAccounts();
    await expectLedgerInvariant(account.id);
  });

  it('streams a tool call whose arguments arrive in fragments', async () => {
    const { key, model } = await customer([{ fixture: 'anthropic/messages-stream-raw-sse-text-then-tool-use-sonnet-4.sse' }]);
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'hi' }], stream: true } });
    const chunks = events(await res.text()).slice(0, -1).map((e) => e.data);
    const calls = chunks.flatMap((ch) => ch.choices[0]?.delta?.tool_calls ?? []);
    expect(calls[0]).toMatchObject({ index: 0, id: 'toolu_01NRLabsLyVHZPKxbKvkfSMn', type: 'function', function: { name: 'get_weather' } });
    expect(JSON.parse(calls.map((c: any) => c.function.arguments).join(''))).toEqual({ location: 'Paris' });
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('tool_calls');
    expect(chunks.some((ch) => ch.usage)).toBe(false);
  });

  it('refuses with a 400 naming the field what Anthropic cannot take, before anything is held', async () => {
    const { key, model, account } = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json' }]);
    const base = { model, messages: [{ role: 'user', content: 'hi' }] };
    const cases: Array<[unknown, string]> = [
      [{ ...base, n: 2 }, 'n'],
      [{ ...base, temperature: 1.5 }, 'temperature'],
      [{ ...base, logit_bias: { '1': 2 } }, 'logit_bias'],
      [{ ...base, response_format: { type: 'json_object' } }, 'response_format.type'],
      [{ ...base, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }] }] }, 'messages[0].content[0].type'],
      [{ ...base, messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: 'not json' } }] }] }, 'messages[0].tool_calls[0].function.arguments'],
      [{ ...base, max_tokens: 500, reasoning_effort: 'high' }, 'reasoning_effort'],
    ];
    const before = await balanceOf(account.id);
    for (const [json, param] of cases) {
      const res = await call('/v1/chat/completions', { method: 'POST', key, json });
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error).toMatchObject({ type: 'invalid_request_error', param });
    }
    expect(await balanceOf(account.id)).toBe(before);
  });

  it("turns an Anthropic error into the chat route's OpenAI error", async () => {
    const { key, model } = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', options: 'status=400' }]);
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'hi' }] } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ type: 'invalid_request_error', code: 'upstream_rejected' });
  });
});

describe('errors on /v1/messages are Anthropic-shaped', () => {
  const shape = (type: string) => ({ type: 'error', error: { type, message: expect.any(String) } });

  it('401 authentication_error, 400 invalid_request_error, 404 not_found_error for an unknown model', async () => {
    let res = await messages('sk-not-a-real-key-000000000000000000000000000', { ...hello, model: 'x' });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual(shape('authentication_error'));
    const { key, model } = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json' }]);
    res = await messages(key, { model, messages: hello.messages });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') } });
    res = await messages(key, { ...hello, model: 'no-such-model' });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual(shape('not_found_error'));
  });

  it('402 billing_error when the balance cannot cover the hold, 403 permission_error for a suspended account', async () => {
    const { key, model, account } = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json' }], 0.001);
    let res = await messages(key, { ...hello, model, max_tokens: 32000 });
    expect(res.status).toBe(402);
    expect(await res.json()).toEqual(shape('billing_error'));
    await adminCall('PATCH', `/accounts/${account.id}`, { suspended: true });
    res = await messages(key, { ...hello, model });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(shape('permission_error'));
  });

  it('529 overloaded_error when no channel is available; 502 api_error when every channel failed', async () => {
    const account = await newAccount();
    accounts.push(account.id);
    const { key } = await newKey(account.id);
    const model = unique('model');
    await adminCall('PUT', `/models/${model}`, CLAUDE);
    let res = await messages(key, { ...hello, model });
    expect(res.status).toBe(529);
    expect(await res.json()).toEqual(shape('overloaded_error'));
    const failing = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', options: 'status=500' }]);
    res = await messages(failing.key, { ...hello, model: failing.model });
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual(shape('api_error'));
  });

  it('429 rate_limit_error with retry-after', async () => {
    const account = await newAccount();
    accounts.push(account.id);
    const { key } = await newKey(account.id, { rpm: 1 });
    const { model } = await newModel([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', kind: 'anthropic' }], CLAUDE);
    expect((await messages(key, { ...hello, model })).status).toBe(200);
    const res = await messages(key, { ...hello, model });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(await res.json()).toEqual(shape('rate_limit_error'));
  });

  it("passes an upstream's 400 back with Anthropic's message, as a 400", async () => {
    const { key, model } = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', options: 'status=400' }]);
    const res = await messages(key, { ...hello, model });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(shape('invalid_request_error'));
  });
});

describe('POST /v1/messages/count_tokens', () => {
  it("answers Anthropic's count on an anthropic channel and the gateway's estimate elsewhere, and costs nothing", async () => {
    const tag = unique('req');
    const { key, model, account } = await customer([{ fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', options: `id=${tag},count=4242` }]);
    const before = await balanceOf(account.id);
    let res = await messages(key, { model, messages: hello.messages, system: 'x' }, ANTHROPIC_HEADERS, '/v1/messages/count_tokens');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ input_tokens: 4242 });
    const [seen] = await recordedRequests(tag);
    expect(seen!.path).toMatch(/\/messages\/count_tokens$/);
    expect(seen!.body).toEqual({ model: 'upstream-model', messages: hello.messages, system: 'x' });

    const other = await customer([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', kind: 'openai' }]);
    res = await messages(other.key, { model: other.model, messages: hello.messages }, ANTHROPIC_HEADERS, '/v1/messages/count_tokens');
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).input_tokens).toBeGreaterThan(0);
    expect(await balanceOf(account.id)).toBe(before);
  });
});

describe('POST /v1/messages on an anthropic channel: the client’s own text', () => {
  it('goes on byte for byte but for the model (spacing, key order, escapes kept); a body the gateway changed is serialised', async () => {
    const { key, model, channelIds } = await customer([{ fixture: 'anthropic/messages-stream-text-sonnet-4-5.chunks.txt', options: 'id=raw-bytes' }]);
    const upstreamModel = (await db.prepare('SELECT models FROM channels WHERE id = ?').bind(channelIds[0]).first<{ models: string }>())!.models;
    const sentAs = JSON.parse(upstreamModel)[model] as string;
    const raw = `{ "max_tokens":64,\n  "model" : ${JSON.stringify(model)}, "stream":true,\n "messages":[{"role":"user","content":"caf\\u00e9 \\"quoted\\" \\\\ back"}], "zeta": {"model": "not this one"} }`;
    const res = await call('/v1/messages', { method: 'POST', body: raw, headers: { 'x-api-key': key, 'content-type': 'application/json', ...ANTHROPIC_HEADERS } });
    expect(res.status).toBe(200);
    await res.text();
    const [sent] = (await recordedRequests('raw-bytes')).slice(-1);
    expect(sent!.raw).toBe(raw.replace(`"model" : ${JSON.stringify(model)}`, `"model" : ${JSON.stringify(sentAs)}`));
    // A 'system' message moved into `system` changes the body: it is serialised anew.
    const moved = await messages(key, { model, max_tokens: 64, stream: true, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] });
    expect(moved.status).toBe(200);
    await moved.text();
    const [again] = (await recordedRequests('raw-bytes')).slice(-1);
    expect(again!.raw).toBe(JSON.stringify(again!.body));
    expect(again!.body).toMatchObject({ model: sentAs, system: [{ type: 'text', text: 'Be brief.' }] });
  });
});
