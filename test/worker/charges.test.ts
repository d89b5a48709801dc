import { describe, expect, inject, it } from 'vitest';
import { holdMicros, holdSize } from '../../src/billing/hold';
import { measurePrompt } from '../../src/billing/prompt';
import type { ModelRow } from '../../src/db/catalog';
import { estimateTokens } from '../../src/proxy/estimate';
import {
  accountObject, adminCall, balanceOf, call, ledgerInvariantAfterEachTest, newAccount, newKey, recordedRequests, sleep, unique, usageRow,
} from './helpers';

/**
 * No output or prompt reaches a customer without being paid for (issue 23's holes): each
 * test replays a recording through a fake upstream that reports real usage, shows what the
 * gateway used to charge and what it charges now, to the micro-dollar, with the ledger
 * invariant checked after every test.
 */
const accounts = ledgerInvariantAfterEachTest();

/** Claude's prices ($3 in, $15 out per 1M), and a GPT's ($2 in, $8 out). */
const CLAUDE = { input_price: 3, output_price: 15 };
const GPT = { input_price: 2, output_price: 8 };
const micros = (p: { input_price: number; output_price: number }, input: number, output: number) =>
  Math.ceil((input * p.input_price * 1e6 + output * p.output_price * 1e6) / 1e6);

async function customer(channel: { fixture: string; options?: string; kind?: string; upstream?: string }, prices = GPT, o: { credit?: number; maxOutput?: number } = {}) {
  const account = await newAccount({ credit: o.credit ?? 50 });
  accounts.push(account.id);
  const { key } = await newKey(account.id);
  const model = unique('model');
  expect((await adminCall('PUT', `/models/${model}`, { ...prices, max_output_tokens: o.maxOutput ?? null })).status).toBe(200);
  const tag = unique('req');
  const res = await adminCall('PUT', `/channels/${unique('ch')}`, {
    kind: channel.kind ?? 'openai', base_url: `${inject('upstreamUrl')}/o:id=${tag},${channel.options ?? ''}/${channel.fixture}`,
    api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [model]: channel.upstream ?? 'upstream-model' },
  });
  expect(res.status).toBe(200);
  return { account, key, model, tag };
}

const post = (path: string, key: string, json: unknown, signal?: AbortSignal) => call(path, { method: 'POST', key, json, signal });

/** Reads a stream until the upstream has gone quiet (it stalls on purpose), then leaves. */
async function readThenLeave(res: Response, controller: AbortController): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const next = await Promise.race([reader.read(), sleep(400).then(() => null)]);
    if (next === null || next.done) break;
    text += decoder.decode(next.value, { stream: true });
  }
  controller.abort();
  await reader.cancel().catch(() => {});
  return text;
}

/** The first `count` events of an SSE recording, as the fake upstream sends them. */
async function recordedEvents(fixture: string, count: number): Promise<any[]> {
  const text = await (await fetch(`${inject('upstreamUrl')}/__fixture/${fixture}`)).text();
  return text.split(/\r?\n\r?\n/).filter((e) => e.trim() !== '').slice(0, count).map((raw) => {
    const data = raw.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
    return JSON.parse(data);
  });
}

/** The output a Messages meter counts for these events: text, thinking and tool input. */
const anthropicRelayed = (events: any[]) =>
  estimateTokens(events.map((e) => (e.type === 'content_block_delta' ? ['text', 'partial_json', 'thinking', 'content'].map((f) => e.delta[f] ?? '').join('') : '')).join(''));

describe('hole 1: a stream cut before its final usage pays for what it relayed', () => {
  const fixture = 'anthropic/messages-stream-raw-sse-extended-thinking-sonnet-4.sse';
  // 118 events; message_delta (the final usage: 43 in, 282 out) is the 117th. The upstream
  // sends the first 116 and stalls, as if the client left just before the end.
  const BEFORE_USAGE = 116;

  it('on /v1/messages: message_start\'s output_tokens: 1 is a placeholder, the relayed text is charged', async () => {
    const { key, model } = await customer({ fixture, kind: 'anthropic', options: `stall=${BEFORE_USAGE}` }, CLAUDE);
    const controller = new AbortController();
    const body = { model, max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'Are pedestrians safe here?' }] };
    const res = await post('/v1/messages', key, body, controller.signal);
    expect(res.status).toBe(200);
    const text = await readThenLeave(res, controller);
    expect(text).not.toContain('message_delta');
    const relayed = anthropicRelayed(await recordedEvents(fixture, BEFORE_USAGE));
    expect(relayed).toBeGreaterThan(200); // ~1,000 characters of thinking and answer
    const row = await usageRow(res.headers.get('x-request-id')!);
    // Before: 43 in + 1 out = 144 µ$. Now: the prompt (message_start's 43, above the
    // estimate of this short body) and every token of output the client received.
    expect(measurePrompt(body).estimate).toBeLessThan(43);
    expect(row).toMatchObject({ status: 'cancelled', input_tokens: 43, output_tokens: relayed, estimated: true, cost: micros(CLAUDE, 43, relayed) });
    expect(row.cost).toBeGreaterThan(micros(CLAUDE, 43, 1));
  });

  it('on /v1/chat/completions served by an anthropic channel, the same', async () => {
    const { key, model } = await customer({ fixture, kind: 'anthropic', options: `stall=${BEFORE_USAGE}` }, CLAUDE);
    const controller = new AbortController();
    const res = await post('/v1/chat/completions', key, { model, stream: true, messages: [{ role: 'user', content: 'Are pedestrians safe here?' }] }, controller.signal);
    expect(res.status).toBe(200);
    await readThenLeave(res, controller);
    const relayed = anthropicRelayed(await recordedEvents(fixture, BEFORE_USAGE));
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'cancelled', input_tokens: 43, output_tokens: relayed, cost: micros(CLAUDE, 43, relayed) });
  });

  it('read to the end, it pays the final usage and no estimate', async () => {
    const { key, model } = await customer({ fixture, kind: 'anthropic' }, CLAUDE);
    const res = await post('/v1/messages', key, { model, max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'Are pedestrians safe here?' }] });
    await res.text();
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ status: 'success', input_tokens: 43, output_tokens: 282, estimated: false, cost: micros(CLAUDE, 43, 282) });
  });
});

describe('hole 2: the output the hold was sized for is the output the upstream is asked for', () => {
  const hello = [{ role: 'user', content: 'Say hello' }];
  const sent = async (tag: string) => (await recordedRequests(tag)).at(-1)!.body;

  it('chat without max_tokens: the model\'s cap goes upstream, in the field its family takes', async () => {
    const plain = await customer({ fixture: 'openai/chat-nonstream-text-gpt-4o.json', upstream: 'gpt-4o' }, GPT, { maxOutput: 4096 });
    expect((await post('/v1/chat/completions', plain.key, { model: plain.model, messages: hello })).status).toBe(200);
    expect(await sent(plain.tag)).toMatchObject({ model: 'gpt-4o', max_tokens: 4096 });
    // OpenAI's reasoning families refuse max_tokens: the same cap as max_completion_tokens.
    const reasoning = await customer({ fixture: 'openai/chat-nonstream-text-gpt-4o.json', upstream: 'openai/gpt-5-mini' });
    expect((await post('/v1/chat/completions', reasoning.key, { model: reasoning.model, messages: hello })).status).toBe(200);
    const body = await sent(reasoning.tag);
    expect(body.max_completion_tokens).toBe(16_384); // DEFAULT_MAX_OUTPUT_TOKENS
    expect(body.max_tokens).toBeUndefined();
    // A client's own max_tokens to a reasoning family is renamed, not refused upstream.
    expect((await post('/v1/chat/completions', reasoning.key, { model: reasoning.model, messages: hello, max_tokens: 300 })).status).toBe(200);
    expect(await sent(reasoning.tag)).toMatchObject({ max_completion_tokens: 300 });
    expect((await sent(reasoning.tag)).max_tokens).toBeUndefined();
  });

  it('the Responses API gets max_output_tokens, and /v1/messages translated onto chat its family\'s field', async () => {
    const responses = await customer({ fixture: 'openai-responses/responses-nonstream-text-gpt-4.1-nano.json' }, GPT, { maxOutput: 2000 });
    expect((await post('/v1/responses', responses.key, { model: responses.model, input: 'hi' })).status).toBe(200);
    expect(await sent(responses.tag)).toMatchObject({ max_output_tokens: 2000 });
    const translated = await customer({ fixture: 'openai/chat-nonstream-text-gpt-4o.json', upstream: 'o4-mini' });
    expect((await post('/v1/messages', translated.key, { model: translated.model, max_tokens: 700, messages: hello })).status).toBe(200);
    expect(await sent(translated.tag)).toMatchObject({ model: 'o4-mini', max_completion_tokens: 700 });
  });

  it('an upstream that ignores the cap anyway is charged no more than the hold, and the excess is recorded and alerted', async () => {
    // The recording, claiming 40,000 completion tokens where 1,000 were asked for.
    const { key, model, account } = await customer({ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: 'completion_tokens=40000' }, GPT, { maxOutput: 1000 });
    const body = { model, messages: hello };
    const res = await post('/v1/chat/completions', key, body);
    expect(res.status).toBe(200);
    const priced = { input_price: 2e6, output_price: 8e6, cached_input_price: null, cache_write_price: null } as ModelRow;
    const held = holdMicros(priced, holdSize(body, measurePrompt(body), { ...priced, max_output_tokens: 1000 }, 16_384));
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ output_tokens: 40_000, reported_cost: micros(GPT, 14, 40_000), cost: held, capped: true });
    expect(await balanceOf(account.id)).toBe(50_000_000 - held);
    // The operator's overview counts it, and what went unbilled (usage_hourly, migration 0002).
    const overview = (await adminCall('GET', '/overview?period=24h')).body;
    expect(overview.by_model.find((r: any) => r.name === model)).toMatchObject({ capped: 1, uncharged: (micros(GPT, 14, 40_000) - held) / 1e6 });
  });
});

describe('hole 3: everything a request sends is in its hold', () => {
  it('a 400 KB text.format schema description is held for, and charged in full from the provider\'s usage', async () => {
    // What 400 KB of description costs: about 100,000 prompt tokens, as the upstream reports.
    const { key, model } = await customer({ fixture: 'openai-responses/responses-nonstream-text-gpt-4.1-nano.json', options: 'input_tokens=100044' });
    const description = 'Each field must be described. '.repeat(13_500); // 405,000 bytes
    const body = { model, input: 'hi', text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object', description } } } };
    const res = await post('/v1/responses', key, body);
    expect(res.status).toBe(200);
    const row = await usageRow(res.headers.get('x-request-id')!);
    // Before: the hold counted `input` and `instructions` only, and the charge was cut at it ($0.000201).
    expect(row).toMatchObject({ input_tokens: 100_044, output_tokens: 4, capped: false, cost: micros(GPT, 100_044, 4) });
  });

  it('images, files and hosted tools are held at their documented bounds', async () => {
    const { key, model, tag } = await customer({ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }, GPT, { credit: 0.05 });
    const image = { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } };
    const text = { role: 'user', content: 'Say hello' };
    // 3 images × 6,000 tokens × $2/1M = $0.036, and 1,000 output tokens × $8/1M = $0.008: fits $0.05
    const three = { model, max_tokens: 1000, messages: [{ role: 'user', content: [image, image, image] }] };
    expect(measurePrompt(three).bound).toBeGreaterThan(18_000);
    expect((await post('/v1/chat/completions', key, three)).status).toBe(200);
    // A fourth image does not fit what is left: 402 before anything goes upstream.
    const four = { model, max_tokens: 1000, messages: [text, { role: 'user', content: [image, image, image, image] }] };
    const refused = await post('/v1/chat/completions', key, four);
    expect(refused.status).toBe(402);
    expect(await recordedRequests(tag)).toHaveLength(1);
    // A PDF: 100 pages × 3,000 tokens; a hosted tool: 32,000.
    expect(measurePrompt({ input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://example.com/a.pdf' }] }] }).bound).toBeGreaterThan(300_000);
    expect(measurePrompt({ input: 'hi', tools: [{ type: 'web_search' }] }).bound).toBeGreaterThan(32_000);
    expect(measurePrompt({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }] }] }).bound).toBeGreaterThan(300_000);
  });

  it('a stored history (previous_response_id) is held at what its response took and gave', async () => {
    // The first response's prompt was 100,044 tokens; continuing it carries them on.
    const { key, model, account } = await customer({ fixture: 'openai-responses/responses-nonstream-text-gpt-4.1-nano.json', options: 'input_tokens=100044' });
    const first = (await (await post('/v1/responses', key, { model, input: 'Summarise this. '.repeat(25_000) })).json()) as { id: string };
    const before = await accountObject(account.id).balance(account.id);
    const res = await post('/v1/responses', key, { model, input: 'and then?', previous_response_id: first.id, max_output_tokens: 100 });
    expect(res.status).toBe(200);
    const row = await usageRow(res.headers.get('x-request-id')!);
    // Before: held for "and then?" alone, and the charge cut there (under $0.001); now in full.
    expect(row).toMatchObject({ input_tokens: 100_044, capped: false, cost: micros(GPT, 100_044, 4) });
    expect(before - (await accountObject(account.id).balance(account.id))).toBe(row.cost);
  });
});

describe('hole 4: a cancelled stream pays for its tools and schemas', () => {
  it('the estimate of the prompt counts the tool list, as the hold does', async () => {
    const fixture = 'openai/chat-stream-text-gpt-4o.sse';
    const { key, model } = await customer({ fixture, options: 'stall=4' });
    const tools = Array.from({ length: 40 }, (_, i) => ({
      type: 'function', function: { name: `tool_${i}`, description: 'Looks things up in the company wiki. '.repeat(140), parameters: { type: 'object', properties: {} } },
    }));
    const body = { model, stream: true, messages: [{ role: 'user', content: 'Say hello' }], tools };
    const controller = new AbortController();
    const res = await post('/v1/chat/completions', key, body, controller.signal);
    const text = await readThenLeave(res, controller);
    const relayed = estimateTokens(text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)).choices[0]?.delta?.content ?? '').join(''));
    const prompt = measurePrompt(body).estimate;
    expect(prompt).toBeGreaterThan(50_000); // before: 13, the messages alone
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'cancelled', input_tokens: prompt, output_tokens: relayed, estimated: true, cost: micros(GPT, prompt, relayed) });
  });
});

describe("hole 6: stored Responses state is the account's own", () => {
  const fixture = 'openai-responses/responses-nonstream-text-gpt-4.1-nano.json';

  it("another account's previous response id is a 404, and nothing is held or sent", async () => {
    const owner = await customer({ fixture });
    const first = (await (await post('/v1/responses', owner.key, { model: owner.model, input: 'hi' })).json()) as { id: string; output: Array<{ id: string }> };
    const other = await newAccount();
    accounts.push(other.id);
    const otherKey = (await newKey(other.id)).key;
    const sentBefore = (await recordedRequests(owner.tag)).length;
    const res = await post('/v1/responses', otherKey, { model: owner.model, input: 'go on', previous_response_id: first.id });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error).toMatchObject({ code: 'previous_response_not_found', param: 'previous_response_id', type: 'invalid_request_error' });
    // Its output items are the owner's too.
    const item = await post('/v1/responses', otherKey, { model: owner.model, input: [{ type: 'item_reference', id: first.output[0]!.id }] });
    expect(item.status).toBe(404);
    expect(((await item.json()) as any).error.code).toBe('item_not_found');
    expect(await recordedRequests(owner.tag)).toHaveLength(sentBefore);
    expect(await balanceOf(other.id)).toBe(10_000_000);
    // The owner may go on, from the response and from its items.
    expect((await post('/v1/responses', owner.key, { model: owner.model, input: 'go on', previous_response_id: first.id })).status).toBe(200);
    expect((await post('/v1/responses', owner.key, { model: owner.model, input: [{ type: 'item_reference', id: first.output[0]!.id }] })).status).toBe(200);
  });

  it('a response stored from a stream is owned too; store: false stores nothing', async () => {
    const owner = await customer({ fixture, options: 'stream=openai-responses~responses-stream-text-gpt-4.1-nano.chunks.txt' });
    const streamed = await post('/v1/responses', owner.key, { model: owner.model, input: 'hi', stream: true });
    const id = /"response":\{"id":"(resp_[^"]+)"/.exec(await streamed.text())![1]!;
    await usageRow(streamed.headers.get('x-request-id')!);
    expect((await post('/v1/responses', owner.key, { model: owner.model, input: 'go on', previous_response_id: id })).status).toBe(200);

    const unstored = await customer({ fixture });
    const answer = (await (await post('/v1/responses', unstored.key, { model: unstored.model, input: 'hi', store: false })).json()) as { id: string };
    expect((await post('/v1/responses', unstored.key, { model: unstored.model, input: 'go on', previous_response_id: answer.id })).status).toBe(404);
  });

  it('refuses a conversation (not served here) with 404, and a stored prompt template by name', async () => {
    const { key, model, tag } = await customer({ fixture });
    const conversation = await post('/v1/responses', key, { model, input: 'hi', conversation: 'conv_123' });
    expect(conversation.status).toBe(404);
    expect(((await conversation.json()) as any).error).toMatchObject({ code: 'conversation_not_found', param: 'conversation' });
    const prompt = await post('/v1/responses', key, { model, prompt: { id: 'pmpt_123' } });
    expect(prompt.status).toBe(400);
    expect(((await prompt.json()) as any).error.param).toBe('prompt');
    expect(await recordedRequests(tag)).toHaveLength(0);
  });
});
