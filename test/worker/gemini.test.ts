import { describe, expect, inject, it } from 'vitest';
import {
  adminCall, balanceOf, call, ledgerInvariantAfterEachTest, newAccount, newKey, recordedRequests, unique, UPSTREAM_KEY, usageRow,
} from './helpers';

/**
 * /v1/chat/completions on `gemini` channels: Google's native generateContent and
 * streamGenerateContent?alt=sse, translated both ways, every recorded shape replayed by
 * the fake upstream; usage from usageMetadata, counted once however many chunks carry it.
 */
const PRICES = { input_price: 1.25, output_price: 10, cached_input_price: 0.3125 };
const costOf = (input: number, output: number) => Math.ceil((input * 1_250_000 + output * 10_000_000) / 1_000_000);

/** Every account a test makes: the ledger invariant is checked on each after every test. */
const accounts = ledgerInvariantAfterEachTest();

async function customer(fixture: string, options = '') {
  const account = await newAccount({ credit: 10 });
  accounts.push(account.id);
  const { key } = await newKey(account.id);
  const model = unique('model');
  await adminCall('PUT', `/models/${model}`, PRICES);
  const channel = unique('ch');
  const res = await adminCall('PUT', `/channels/${channel}`, {
    kind: 'gemini', base_url: `${inject('upstreamUrl')}/o:${options}/${fixture}`, api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [model]: 'gemini-upstream' },
  });
  expect(res.status).toBe(200);
  return { account, key, model, channel };
}

const chat = (key: string, json: Record<string, unknown>) =>
  call('/v1/chat/completions', { method: 'POST', key, json: { messages: [{ role: 'user', content: 'Hi' }], ...json } });

function chunks(text: string): any[] {
  const events = text.split('\n\n').filter((e) => e.trim() !== '').map((e) => e.replace(/^data: /, ''));
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e));
}

const streamShapes: Array<[string, string, { input: number; output: number; finish: string; text?: string; call?: [string, unknown] } | null]> = [
  ['text', 'gemini/streamGenerateContent-sse-text-gemini-3-pro-preview.chunks.txt', { input: 9, output: 208, finish: 'stop' }],
  ['thinking counted as output', 'gemini/streamGenerateContent-sse-reasoning-gemini-3-pro-preview.chunks.txt', { input: 9, output: 285, finish: 'stop' }],
  ['cumulative usage on every chunk, counted once', 'gemini/streamGenerateContent-sse-raw-gemini-2.5-flash-cumulative-usage.sse', { input: 18, output: 115, finish: 'stop' }],
  ['CRLF line endings', 'gemini/streamGenerateContent-sse-raw-gemini-2.0-flash-exp-crlf.sse', { input: 13, output: 8, finish: 'stop', text: 'The capital of France is Paris.\n' }],
  ['function call', 'gemini/streamGenerateContent-sse-function-call-gemini-3-pro-preview.chunks.txt',
    { input: 29, output: 60, finish: 'tool_calls', call: ['weather', { location: 'San Francisco' }] }],
  ['function call without arguments, raw SSE', 'gemini/streamGenerateContent-sse-raw-gemini-3-pro-function-call.sse',
    { input: 29, output: 212, finish: 'tool_calls', call: ['get_country', {}] }],
];

describe('chat completions on a gemini channel, streamed', () => {
  it.each(streamShapes)('%s', async (_name, fixture, t) => {
    const tag = unique('req');
    const { key, model, channel } = await customer(fixture, `id=${tag}`);
    const res = await chat(key, { model, stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    const got = chunks(await res.text());
    expect(got.every((ch) => ch.object === 'chat.completion.chunk' && ch.model === model)).toBe(true);
    expect(got.filter((ch) => ch.choices[0]?.finish_reason).map((ch) => ch.choices[0].finish_reason)).toEqual([t!.finish]);
    if (t!.text) expect(got.map((ch) => ch.choices[0]?.delta?.content ?? '').join('')).toBe(t!.text);
    expect(got.at(-1).usage).toMatchObject({ prompt_tokens: t!.input, completion_tokens: t!.output });
    if (t!.call) {
      const call = got.flatMap((ch) => ch.choices[0]?.delta?.tool_calls ?? [])[0];
      expect(call).toMatchObject({ index: 0, type: 'function', function: { name: t!.call[0] } });
      expect(JSON.parse(call.function.arguments)).toEqual(t!.call[1]);
    }
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({
      status: 'success', channel, input_tokens: t!.input, output_tokens: t!.output, cost: costOf(t!.input, t!.output), estimated: false,
    });
    const [seen] = await recordedRequests(tag);
    expect(seen!.path).toMatch(/\/models\/gemini-upstream:streamGenerateContent$/);
    expect(seen!.headers['x-goog-api-key']).toBe(UPSTREAM_KEY);
    expect(seen!.headers.authorization).toBeUndefined();
  });

  it('does not end at the first finishReason when every chunk carries one, and estimates what reports no usage', async () => {
    const { key, model } = await customer('gemini/legacy-streamGenerateContent-every-chunk-finishReason-STOP.sse');
    const res = await chat(key, { model, stream: true });
    const got = chunks(await res.text());
    expect(got.map((ch) => ch.choices[0]?.delta?.content ?? '').join('')).toHaveLength(3285);
    expect(got.filter((ch) => ch.choices[0]?.finish_reason).length).toBe(1);
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ status: 'success', estimated: true });
  });

  it('a safety stop is finish_reason content_filter; a blocked prompt too, and costs nothing', async () => {
    const stopped = await customer('gemini/legacy-streamGenerateContent-finish-reason-safety.sse');
    let got = chunks(await (await chat(stopped.key, { model: stopped.model, stream: true })).text());
    expect(got.map((ch) => ch.choices[0]?.delta?.content ?? '').join('')).toBe('No');
    expect(got.at(-1).choices[0].finish_reason).toBe('content_filter');

    const blocked = await customer('gemini/legacy-streamGenerateContent-prompt-blocked-safety.sse');
    const before = await balanceOf(blocked.account.id);
    const res = await chat(blocked.key, { model: blocked.model, stream: true });
    got = chunks(await res.text());
    expect(got.at(-1).choices[0].finish_reason).toBe('content_filter');
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ cost: 0 });
    expect(await balanceOf(blocked.account.id)).toBe(before);
  });

  it('ends a stream that dies mid-way with an error event, never [DONE]', async () => {
    const { key, model } = await customer('gemini/streamGenerateContent-sse-raw-gemini-2.5-flash-cumulative-usage.sse', 'die=1');
    const text = await (await chat(key, { model, stream: true })).text();
    expect(text).toContain('event: error');
    expect(text).not.toContain('[DONE]');
  });
});

describe('chat completions on a gemini channel, whole', () => {
  it('text, with thinking billed as output', async () => {
    const { key, model } = await customer('gemini/generateContent-text-gemini-3-pro-preview.json');
    const res = await chat(key, { model });
    const body = (await res.json()) as any;
    expect(body).toMatchObject({
      object: 'chat.completion', model,
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: expect.stringContaining("There are **3** r's") } }],
      usage: { prompt_tokens: 9, completion_tokens: 272, total_tokens: 281 },
    });
    expect(body.usage.cost).toBe(costOf(9, 272) / 1e6);
  });

  it('a function call as tool_calls', async () => {
    const { key, model } = await customer('gemini/generateContent-function-call-gemini-3-pro-preview.json');
    const body = (await (await chat(key, { model, tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }] })).json()) as any;
    expect(body.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: { content: null, tool_calls: [{ type: 'function', function: { name: 'weather', arguments: '{"location":"San Francisco"}' } }] },
    });
  });

  it('a blocked prompt as content_filter, at no cost', async () => {
    const { key, model, account } = await customer('gemini/legacy-generateContent-prompt-blocked-safety.json');
    const before = await balanceOf(account.id);
    const res = await chat(key, { model });
    expect(((await res.json()) as any).choices[0]).toMatchObject({ finish_reason: 'content_filter', message: { content: null } });
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ cost: 0 });
    expect(await balanceOf(account.id)).toBe(before);
  });

  it('translates the request: roles, systemInstruction, images, tools and their results, generationConfig', async () => {
    const tag = unique('req');
    const { key, model } = await customer('gemini/generateContent-text-gemini-3-pro-preview.json', `id=${tag}`);
    const res = await chat(key, {
      model, max_tokens: 500, temperature: 0.3, top_p: 0.8, stop: ['END'], n: 1, seed: 7, presence_penalty: 0.1, reasoning_effort: 'low',
      response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' } } },
      tools: [{ type: 'function', function: { name: 'weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }],
      tool_choice: 'required',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"location":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":18}' },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      ],
    });
    expect(res.status).toBe(200);
    const [seen] = await recordedRequests(tag);
    expect(seen!.path).toMatch(/\/models\/gemini-upstream:generateContent$/);
    expect(seen!.body).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Look' }, { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } }] },
        { role: 'model', parts: [{ functionCall: { name: 'weather', args: { location: 'Paris' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { temp: 18 } } }, { functionResponse: { name: 'weather', response: { content: 'sunny' } } }] },
      ],
      tools: [{ functionDeclarations: [{ name: 'weather', description: 'Weather', parametersJsonSchema: { type: 'object', properties: { location: { type: 'string' } } } }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY' } },
      generationConfig: {
        maxOutputTokens: 500, temperature: 0.3, topP: 0.8, stopSequences: ['END'], candidateCount: 1, seed: 7, presencePenalty: 0.1,
        responseMimeType: 'application/json', responseJsonSchema: { type: 'object' }, thinkingConfig: { thinkingBudget: 1024 },
      },
    });
  });

  it('refuses with a 400 naming the field what Gemini cannot take, before anything is held', async () => {
    const { key, model, account } = await customer('gemini/generateContent-text-gemini-3-pro-preview.json');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ model, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] }, 'messages[0].content[0].image_url.url'],
      [{ model, logprobs: true }, 'logprobs'],
      [{ model, messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }] }, 'messages[0].tool_call_id'],
      [{ model, tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0].type'],
    ];
    const before = await balanceOf(account.id);
    for (const [json, param] of cases) {
      const res = await chat(key, json);
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error).toMatchObject({ type: 'invalid_request_error', param });
    }
    expect(await balanceOf(account.id)).toBe(before);
  });
});
