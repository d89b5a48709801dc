import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * /v1/responses driven by the official openai SDK (`responses.create`) and by the Vercel
 * AI SDK's default OpenAI provider (`generateText`, `streamText`, which call the Responses
 * API), each on a channel that has the API (passed through) and one that has not
 * (translated onto chat completions), with the charge checked to the micro-dollar.
 */
const ADMIN = 'e2e-admin-token';
let worker: RunningWorker;
const admin = (method: string, path: string, body?: unknown) => worker.admin(method, path, body);

/** $2 in, $0.50 cached, $8 out per 1M tokens. */
const PRICES = { input_price: 2, output_price: 8, cached_input_price: 0.5 };
const cost = (input: number, cached: number, output: number) => Math.ceil(((input - cached) * 2_000_000 + cached * 500_000 + output * 8_000_000) / 1e6) / 1e6;

async function model(id: string, fixture: string, o: { stream?: string; responses?: boolean } = {}) {
  await admin('PUT', `/models/${id}`, PRICES);
  await admin('PUT', `/channels/${id}`, {
    kind: 'openai', base_url: `${inject('upstreamUrl')}/o:${o.stream ? `stream=${o.stream.replace(/\//g, '~')}` : ''}/${fixture}`,
    api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [id]: 'gpt-upstream' }, responses: o.responses ?? true,
  });
}

async function customer() {
  const account = await admin('POST', '/accounts', { email: `${crypto.randomUUID()}@example.com`, credit: 5 });
  const { key } = await admin('POST', `/accounts/${account.id}/keys`, { name: 'sdk' });
  return { id: account.id as string, key: key as string };
}

/** What the account was charged, once its charges reached the ledger, which then sums to the balance. */
async function charged(accountId: string): Promise<number> {
  for (let i = 0; ; i++) {
    const ledger = (await admin('GET', `/accounts/${accountId}/ledger`)).data as Array<{ amount: number; kind: string }>;
    const { balance } = await admin('GET', `/accounts/${accountId}`);
    const sum = Math.round(ledger.reduce((s, r) => s + r.amount, 0) * 1e6) / 1e6;
    if ((ledger.some((r) => r.kind === 'settlement') && Math.abs(sum - balance) < 1e-7) || i > 80) {
      expect(sum).toBeCloseTo(balance, 6);
      return Math.round((5 - balance) * 1e6) / 1e6;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A response's text, from its output items (output_text is only on whole responses). */
const textOf = (r: OpenAI.Responses.Response) =>
  r.output.flatMap((o) => (o.type === 'message' ? o.content : [])).map((c) => ('text' in c ? c.text : '')).join('');

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: ADMIN, FAKE_UPSTREAM_KEY: 'sk-upstream-e2e', FLUSH_DELAY_SECONDS: '1' });
  await model('native-text', 'openai-responses/responses-nonstream-text-gpt-4.1-nano.json', { stream: 'openai-responses/responses-stream-text-gpt-4.1-nano.chunks.txt' });
  await model('native-tools', 'openai-responses/azure-responses-nonstream-function-call-gpt-5.1.json', { stream: 'openai-responses/responses-stream-function-call-gpt-5.4.chunks.txt' });
  await model('chat-text', 'openai/chat-nonstream-text-gpt-4o.json', { stream: 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', responses: false });
  await model('chat-tools', 'groq/chat-nonstream-llama-3.3-70b-tool-call.json', { stream: 'openai/chat-stream-parallel-tool-calls-gpt-4o.sse', responses: false });
});

afterAll(async () => {
  await worker?.dispose();
});

describe('the openai SDK: responses.create', () => {
  it('whole and streamed, passed through and translated, billed exactly', async () => {
    const { id, key } = await customer();
    const client = new OpenAI({ apiKey: key, baseURL: `${worker.url}/v1`, maxRetries: 0 });
    const native = await client.responses.create({ model: 'native-text', input: 'Hello' });
    expect(native.output_text).toBe('Dummy PDF file');
    expect(native.model).toBe('native-text');
    const translated = await client.responses.create({ model: 'chat-text', input: 'Hello', store: false });
    expect(translated.output_text.length).toBeGreaterThan(0);
    expect(translated.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });

    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of await client.responses.create({ model: 'chat-text', input: 'Hello', stream: true, store: false })) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(textOf(completed!)).toBe(text);
    expect(completed?.usage).toMatchObject({ input_tokens: 16, output_tokens: 300 });

    const stream = client.responses.stream({ model: 'native-text', input: 'Hello' });
    expect(textOf(await stream.finalResponse())).toBe('Dummy PDF file');

    const recorded = await (await fetch(`${inject('upstreamUrl')}/__fixture/openai/chat-nonstream-text-gpt-4o.json`)).json() as any;
    expect(await charged(id)).toBeCloseTo(cost(44, 0, 4) * 2 + cost(recorded.usage.prompt_tokens, 0, recorded.usage.completion_tokens) + cost(16, 0, 300), 6);
  });

  it('function calls, passed through and translated', async () => {
    const { key } = await customer();
    const client = new OpenAI({ apiKey: key, baseURL: `${worker.url}/v1`, maxRetries: 0 });
    const tools: OpenAI.Responses.Tool[] = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: false }];
    const native = await client.responses.create({ model: 'native-tools', input: 'Weather?', tools });
    expect(native.output.find((o) => o.type === 'function_call')).toMatchObject({ type: 'function_call', name: expect.any(String) });
    const translated = await client.responses.create({ model: 'chat-tools', input: 'Weather?', tools, store: false });
    const call = translated.output.find((o) => o.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', call_id: expect.any(String), name: expect.any(String) });
    const calls: string[] = [];
    for await (const event of await client.responses.create({ model: 'chat-tools', input: 'Weather?', tools, stream: true, store: false })) {
      if (event.type === 'response.output_item.done' && event.item.type === 'function_call') calls.push(event.item.arguments);
    }
    expect(calls).toHaveLength(2);
    for (const args of calls) expect(JSON.parse(args)).toBeTypeOf('object');
  });
});

describe("the Vercel AI SDK's default OpenAI provider (the Responses API)", () => {
  const recorded = async (fixture: string) => (await fetch(`${inject('upstreamUrl')}/__fixture/${fixture}`)).json() as Promise<any>;
  /** What each call below costs: the usage its channel's recordings report. */
  const responsesCost = (u: any) => cost(u.input_tokens, u.input_tokens_details?.cached_tokens ?? 0, u.output_tokens);
  const chatCost = (u: any) => cost(u.prompt_tokens, u.prompt_tokens_details?.cached_tokens ?? 0, u.completion_tokens);
  const cases = [
    ['passed through', 'native-text', 'native-tools', async () => {
      const text = (await recorded('openai-responses/responses-nonstream-text-gpt-4.1-nano.json')).usage;
      const tools = (await recorded('openai-responses/azure-responses-nonstream-function-call-gpt-5.1.json')).usage;
      return 2 * responsesCost(text) + responsesCost(tools); // generateText, streamText (the same 44/4 recording), tools
    }],
    ['translated', 'chat-text', 'chat-tools', async () => {
      const text = (await recorded('openai/chat-nonstream-text-gpt-4o.json')).usage;
      const tools = (await recorded('groq/chat-nonstream-llama-3.3-70b-tool-call.json')).usage;
      return chatCost(text) + cost(16, 0, 300) + chatCost(tools);
    }],
  ] as const;
  for (const [label, textModel, toolModel, expected] of cases) {
    it(`generateText and streamText, ${label}, billed exactly`, async () => {
      const { id, key } = await customer();
      const openai = createOpenAI({ apiKey: key, baseURL: `${worker.url}/v1` });
      const whole = await generateText({ model: openai(textModel), prompt: 'Hello', maxRetries: 0 });
      expect(whole.text.length).toBeGreaterThan(0);
      expect(whole.usage.inputTokens).toBeGreaterThan(0);
      const streamed = streamText({ model: openai(textModel), prompt: 'Hello', maxRetries: 0 });
      let text = '';
      for await (const part of streamed.textStream) text += part;
      expect(text).toBe(await streamed.text);
      expect((await streamed.usage).outputTokens).toBeGreaterThan(0);
      const called = await generateText({
        model: openai(toolModel), prompt: 'Weather?', maxRetries: 0,
        tools: { get_weather: tool({ description: 'Weather', inputSchema: jsonSchema<{ location: string }>({ type: 'object', properties: { location: { type: 'string' } } }) }) },
      });
      expect(called.toolCalls.length).toBeGreaterThan(0);
      expect(await charged(id)).toBeCloseTo(await expected(), 6);
    });
  }
});
