import { describe, expect, inject, it } from 'vitest';
import {
  adminCall, balanceOf, call, ledgerInvariantAfterEachTest, newAccount, newKey, recordedRequests, unique, usageRow,
} from './helpers';

/**
 * POST /v1/responses: passed through to channels with the Responses API (every recorded
 * stream shape, byte for byte, billed from response.completed), translated onto chat
 * completions for channels without it, and the fallback when a channel answers 404.
 */
const PRICES = { input_price: 2, output_price: 8, cached_input_price: 0.5 };
const costOf = (t: { input: number; cached: number; output: number }) =>
  Math.ceil(((t.input - t.cached) * 2_000_000 + t.cached * 500_000 + t.output * 8_000_000) / 1_000_000);

/** Every account a test makes: the ledger invariant is checked on each after every test. */
const accounts = ledgerInvariantAfterEachTest();

/** A customer, and a model on one channel of the fake upstream (`responses: false` where it has no Responses API). */
async function customer(fixture: string, o: { options?: string; responses?: boolean; credit?: number } = {}) {
  const account = await newAccount({ credit: o.credit ?? 10 });
  accounts.push(account.id);
  const { key } = await newKey(account.id);
  const model = unique('model');
  await adminCall('PUT', `/models/${model}`, PRICES);
  const channel = unique('ch');
  const res = await adminCall('PUT', `/channels/${channel}`, {
    kind: 'openai', base_url: `${inject('upstreamUrl')}/o:${o.options ?? ''}/${fixture}`, api_key_secret: 'FAKE_UPSTREAM_KEY',
    models: { [model]: 'upstream-model' }, responses: o.responses ?? true,
  });
  expect(res.status).toBe(200);
  return { account, key, model, channel };
}

const post = (key: string, json: unknown) => call('/v1/responses', { method: 'POST', key, json });
const direct = async (fixture: string) => (await fetch(`${inject('upstreamUrl')}/o:/${fixture}/responses`, { method: 'POST', body: '{}' })).text();

function events(text: string): Array<{ event: string | undefined; data: any }> {
  return text.split(/\n\n/).filter((e) => e.trim() !== '').map((raw) => {
    const lines = raw.split('\n');
    return { event: lines.find((l) => l.startsWith('event:'))?.slice(6).trim(), data: JSON.parse(lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n')) };
  });
}

const streamShapes: Array<[string, string, { input: number; cached: number; output: number }]> = [
  ['text', 'openai-responses/responses-stream-text-gpt-4.1-nano.chunks.txt', { input: 44, cached: 0, output: 4 }],
  ['cached prompt and reasoning, two message items', 'openai-responses/responses-stream-text-cached-reasoning-gpt-5.3-codex.chunks.txt', { input: 7112, cached: 3072, output: 463 }],
  ['function call arguments', 'openai-responses/responses-stream-function-call-gpt-5.4.chunks.txt', { input: 467, cached: 0, output: 26 }],
  ['Azure: function call', 'openai-responses/azure-responses-stream-function-call-gpt-5.1.chunks.txt', { input: 45, cached: 0, output: 24 }],
];

describe('POST /v1/responses on a channel with the Responses API: passed through', () => {
  it.each(streamShapes)('%s: the events as sent (model renamed), billed from response.completed', async (_name, fixture, t) => {
    const { key, model, channel } = await customer(fixture);
    const res = await post(key, { model, input: 'long '.repeat(8000), stream: true });
    expect(res.status).toBe(200);
    const upstream = await direct(fixture);
    const upstreamModel = /"model":"([^"]+)"/.exec(upstream)![1]!;
    expect(await res.text()).toBe(upstream.split(`"model":"${upstreamModel}"`).join(`"model":"${model}"`));
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({
      status: 'success', channel, input_tokens: t.input, cached_tokens: t.cached, output_tokens: t.output, cost: costOf(t), estimated: false,
    });
  });

  it.each([
    ['openai-responses/responses-nonstream-text-gpt-4.1-nano.json', { input: 44, cached: 0, output: 4 }],
    ['openai-responses/responses-nonstream-text-cached-reasoning-gpt-5.3-codex.json', null],
    ['openai-responses/responses-nonstream-reasoning-item-gpt-5-mini.json', null],
    ['openai-responses/azure-responses-nonstream-function-call-gpt-5.1.json', null],
  ] as const)('a whole response (%s) under the public model id, billed from its usage', async (fixture, counts) => {
    const { key, model } = await customer(fixture);
    const res = await post(key, { model, input: 'long '.repeat(8000), store: true });
    expect(res.status).toBe(200);
    const recorded = JSON.parse(await direct(fixture));
    expect(await res.json()).toEqual({ ...recorded, model });
    const t = counts ?? { input: recorded.usage.input_tokens, cached: recorded.usage.input_tokens_details.cached_tokens, output: recorded.usage.output_tokens };
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ input_tokens: t.input, cached_tokens: t.cached, output_tokens: t.output, cost: costOf(t) });
  });

  it('sends the body as the client sent it, store and previous_response_id included, with the output cap it was held for', async () => {
    const tag = unique('req');
    const { key, model } = await customer('openai-responses/responses-nonstream-text-gpt-4.1-nano.json', { options: `id=${tag}` });
    const first = (await (await post(key, { model, input: 'hi' })).json()) as { id: string };
    const body = { model, input: [{ role: 'user', content: 'hi' }], store: true, previous_response_id: first.id, tools: [{ type: 'web_search' }] };
    expect((await post(key, body)).status).toBe(200);
    const [, seen] = await recordedRequests(tag);
    expect(seen!.path).toMatch(/\/responses$/);
    expect(seen!.body).toEqual({ ...body, model: 'upstream-model', max_output_tokens: 16_384 });
    // The client's own text (spacing, key order, escapes), with the model and the cap spliced in.
    const raw = `{"input" : [ {"role":"user", "content":"caf\\u00e9 \\"hi\\""} ],\n "model": ${JSON.stringify(model)} }`;
    expect((await call('/v1/responses', { method: 'POST', key, body: raw, headers: { 'content-type': 'application/json' } })).status).toBe(200);
    const [sent] = (await recordedRequests(tag)).slice(-1);
    expect(sent!.raw).toBe(`{"input" : [ {"role":"user", "content":"caf\\u00e9 \\"hi\\""} ],\n "model": "upstream-model" ,"max_output_tokens":16384}`);
  });

  it('falls back to chat completions on a channel that answers 404 to /responses, and remembers it', async () => {
    const tag = unique('req');
    const { key, model } = await customer('openai/chat-nonstream-text-gpt-4o.json', { options: `id=${tag},no_responses` });
    for (let i = 0; i < 2; i++) expect((await post(key, { model, input: 'Hello' })).status).toBe(200);
    expect((await recordedRequests(tag)).map((r) => r.path.split('/').at(-1))).toEqual(['responses', 'completions', 'completions']);
  });

  it('learns from a 404 even when the request cannot be translated: the next one is refused before anything is held', async () => {
    const tag = unique('req');
    const { key, model } = await customer('openai/chat-nonstream-text-gpt-4o.json', { options: `id=${tag},no_responses` });
    const hosted = { model, input: 'Hello', background: true };
    expect((await post(key, hosted)).status).toBe(502); // the upstream's 404: it has no Responses API
    const res = await post(key, hosted);
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.param).toBe('background');
    expect((await recordedRequests(tag)).length).toBe(1);
  });
});

describe('POST /v1/responses on a channel without it: translated onto chat completions', () => {
  it('translates instructions, messages, images, function calls and their outputs, tools and settings', async () => {
    const tag = unique('req');
    const { key, model } = await customer('openai/chat-nonstream-text-gpt-4o.json', { options: `id=${tag}`, responses: false });
    const res = await post(key, {
      model, instructions: 'Be brief.', max_output_tokens: 300, temperature: 0.5, top_p: 0.9, parallel_tool_calls: false, user: 'u1',
      reasoning: { effort: 'low' }, store: false, text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' } } },
      tools: [{ type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: {} }, strict: true },
        { type: 'web_search', external_web_access: false }, { type: 'namespace', name: 'agents', tools: [] }],
      tool_choice: { type: 'function', name: 'get_weather' }, client_metadata: { turn_id: 't1' }, include: ['reasoning.encrypted_content'],
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'Weather?' }, { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'low' }] },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call', call_id: 'call_2', name: 'get_weather', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '18C' },
        { type: 'function_call_output', call_id: 'call_2', output: '25C' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Paris 18C, Rome 25C.' }] },
      ],
    });
    expect(res.status).toBe(200);
    const [seen] = await recordedRequests(tag);
    expect(seen!.path).toMatch(/\/chat\/completions$/);
    expect(seen!.body).toEqual({
      model: 'upstream-model', max_tokens: 300, temperature: 0.5, top_p: 0.9, parallel_tool_calls: false, user: 'u1', reasoning_effort: 'low',
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } },
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: {} }, strict: true } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } }] },
        { role: 'assistant', content: null, tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
        ] },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'tool', tool_call_id: 'call_2', content: '25C' },
        { role: 'assistant', content: 'Paris 18C, Rome 25C.' },
      ],
    });
  });

  it('answers a whole chat completion as a response object, billed from its usage', async () => {
    const { key, model } = await customer('openai/chat-nonstream-text-gpt-4o.json', { responses: false });
    const res = await post(key, { model, input: 'Hello' });
    const body = (await res.json()) as any;
    const recorded = JSON.parse(await (await fetch(`${inject('upstreamUrl')}/__fixture/openai/chat-nonstream-text-gpt-4o.json`)).text());
    expect(body).toMatchObject({
      object: 'response', status: 'completed', model, store: false,
      output: [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: recorded.choices[0].message.content }] }],
      usage: { input_tokens: recorded.usage.prompt_tokens, output_tokens: recorded.usage.completion_tokens, total_tokens: recorded.usage.total_tokens },
    });
    expect(body.id).toMatch(/^resp_/);
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ input_tokens: recorded.usage.prompt_tokens });
  });

  it('streams text as typed events ending in response.completed with the usage', async () => {
    const { key, model } = await customer('openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', { responses: false });
    const res = await post(key, { model, input: 'Hello', stream: true });
    const got = events(await res.text());
    expect(got.map((e) => e.event).filter((t, i, all) => t !== all[i - 1])).toEqual([
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed',
    ]);
    expect(got.every((e) => e.event === e.data.type)).toBe(true);
    expect(got.map((e) => e.data.sequence_number)).toEqual(got.map((_, i) => i));
    const text = got.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta).join('');
    const last = got.at(-1)!.data.response;
    expect(last).toMatchObject({ status: 'completed', incomplete_details: null, model, usage: { input_tokens: 16, output_tokens: 300 } });
    expect(last.output[0].content[0].text).toBe(text);
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ input_tokens: 16, output_tokens: 300 });
  });

  it('ends a stream cut by the output cap with response.incomplete', async () => {
    const { key, model } = await customer('openai/chat-stream-include-usage-finish-length-gpt-5-nano.sse', { responses: false });
    const got = events(await (await post(key, { model, input: 'Hello', stream: true, max_output_tokens: 100 })).text());
    expect(got.at(-1)).toMatchObject({
      event: 'response.incomplete',
      data: { response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, usage: { input_tokens: 12, output_tokens: 100 } } },
    });
  });

  it('streams parallel tool calls as function_call items with their arguments', async () => {
    const { key, model } = await customer('openai/chat-stream-parallel-tool-calls-gpt-4o.sse', { responses: false });
    const res = await post(key, { model, input: 'Weather in two cities?', stream: true, tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }] });
    const got = events(await res.text());
    const done = got.filter((e) => e.event === 'response.output_item.done').map((e) => e.data.item);
    expect(done.map((i) => i.type)).toEqual(['function_call', 'function_call']);
    for (const item of done) {
      const deltas = got.filter((e) => e.event === 'response.function_call_arguments.delta' && e.data.item_id === item.id).map((e) => e.data.delta).join('');
      expect(deltas).toBe(item.arguments);
      expect(JSON.parse(item.arguments)).toBeTypeOf('object');
      expect(item.call_id).toMatch(/^call_/);
    }
    expect(got.at(-1)).toMatchObject({ event: 'response.completed', data: { response: { status: 'completed', output: done, usage: { input_tokens: 149, output_tokens: 60 } } } });
  });

  it('streams reasoning as a reasoning item with its summary text', async () => {
    const { key, model } = await customer('deepseek/chat-stream-deepseek-reasoner-raw.sse', { responses: false });
    const got = events(await (await post(key, { model, input: 'Hi', stream: true })).text());
    const items = got.filter((e) => e.event === 'response.output_item.done').map((e) => e.data.item.type);
    expect(items).toEqual(['reasoning', 'message']);
    expect(got.some((e) => e.event === 'response.reasoning_summary_text.delta')).toBe(true);
  });

  it('refuses with a 400 naming the field what chat cannot take, before anything is held', async () => {
    const { key, model, account } = await customer('openai/chat-nonstream-text-gpt-4o.json', { responses: false });
    const cases: Array<[unknown, string]> = [
      [{ model, input: 'hi', previous_response_id: 'resp_1' }, 'previous_response_id'],
      [{ model, input: 'hi', store: true }, 'store'],
      [{ model, input: 'hi', tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'web_search' } }, 'tool_choice'],
      [{ model, input: [{ type: 'item_reference', id: 'x' }] }, 'input[0].type'],
      [{ model, input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'input[0].content[0].type'],
      [{ model, input: 'hi', background: true }, 'background'],
      [{ model }, 'input'],
    ];
    const before = await balanceOf(account.id);
    for (const [json, param] of cases) {
      const res = await post(key, json);
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error).toMatchObject({ type: 'invalid_request_error', param });
    }
    expect(await balanceOf(account.id)).toBe(before);
  });

  it('402 when the balance cannot cover max_output_tokens', async () => {
    const { key, model } = await customer('openai/chat-nonstream-text-gpt-4o.json', { responses: false, credit: 0.001 });
    const res = await post(key, { model, input: 'hi', max_output_tokens: 100_000 });
    expect(res.status).toBe(402);
    expect(((await res.json()) as any).error.type).toBe('insufficient_balance');
  });
});
