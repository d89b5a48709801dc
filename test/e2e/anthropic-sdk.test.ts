import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * The whole worker driven by the official @anthropic-ai/sdk (and the openai SDK for chat on
 * an `anthropic` channel), in front of the fake upstream replaying the recordings: both
 * channel kinds, stream and not, the SDK's error classes, and billing to the micro-dollar.
 */
const ADMIN = 'e2e-admin-token';
let worker: RunningWorker;

const admin = (method: string, path: string, body?: unknown) => worker.admin(method, path, body);

/** $3 in, $0.30 cached, $3.75 cache write, $15 out per 1M tokens. */
const CLAUDE = { input_price: 3, output_price: 15, cached_input_price: 0.3, cache_write_price: 3.75 };

async function model(id: string, kind: 'anthropic' | 'openai', fixture: string, options = '') {
  await admin('PUT', `/models/${id}`, CLAUDE);
  await admin('PUT', `/channels/${id}`, {
    kind, base_url: `${inject('upstreamUrl')}/o:${options}/${fixture}`, api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [id]: 'claude-upstream' },
  });
}

async function customer(credit: number, key: Record<string, unknown> = {}) {
  const account = await admin('POST', '/accounts', { email: `${crypto.randomUUID()}@example.com`, credit });
  const { key: apiKey } = await admin('POST', `/accounts/${account.id}/keys`, { name: 'sdk', ...key });
  return { id: account.id as string, apiKey: apiKey as string };
}

const anthropic = (apiKey: string) => new Anthropic({ apiKey, baseURL: worker.url, maxRetries: 0 });
const ask = { max_tokens: 1024, messages: [{ role: 'user' as const, content: 'Hello' }] };

/** The balance (what the account can spend, charges included at once) and the ledger's
 *  sum, once the charges have been flushed to the ledger (within FLUSH_DELAY_SECONDS). */
async function settled(accountId: string): Promise<{ balance: number; ledgerSum: number }> {
  for (let i = 0; ; i++) {
    const ledger = (await admin('GET', `/accounts/${accountId}/ledger`)).data as Array<{ amount: number; kind: string }>;
    const { balance } = await admin('GET', `/accounts/${accountId}`);
    const ledgerSum = Math.round(ledger.reduce((s, r) => s + r.amount, 0) * 1e6) / 1e6;
    if ((ledger.some((r) => r.kind === 'settlement') && Math.abs(ledgerSum - balance) < 1e-7) || i > 80) return { balance, ledgerSum };
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: ADMIN, FAKE_UPSTREAM_KEY: 'sk-upstream-e2e', FLUSH_DELAY_SECONDS: '1' });
  await model('claude-whole', 'anthropic', 'anthropic/messages-nonstream-tool-use-haiku-4-5.json');
  await model('claude-tools', 'anthropic', 'anthropic/messages-stream-raw-sse-text-then-tool-use-sonnet-4.sse');
  await model('claude-cache', 'anthropic', 'anthropic/messages-stream-prompt-cache-server-tool.chunks.txt', 'count=321');
  await model('claude-both', 'anthropic', 'anthropic/messages-nonstream-text-then-tool-use-no-args.json',
    'stream=anthropic~messages-stream-raw-sse-text-then-tool-use-sonnet-4.sse');
  await model('gpt-as-claude', 'openai', 'openai/chat-nonstream-text-gpt-4o.json', 'stream=openai~chat-stream-parallel-tool-calls-gpt-4o.sse');
});

afterAll(async () => {
  await worker?.dispose();
});

describe('@anthropic-ai/sdk against the running worker', () => {
  it('creates a message on an anthropic channel, with x-api-key', async () => {
    const { apiKey } = await customer(5);
    const message = await anthropic(apiKey).messages.create({ ...ask, model: 'claude-whole' });
    expect(message.model).toBe('claude-whole');
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content[0]).toMatchObject({ type: 'tool_use', name: 'json' });
    expect(message.usage).toMatchObject({ input_tokens: 1151, output_tokens: 87 });
  });

  it('streams a message with a tool call and assembles its input', async () => {
    const { apiKey } = await customer(5);
    const stream = anthropic(apiKey).messages.stream({ ...ask, model: 'claude-tools' });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const message = await stream.finalMessage();
    expect(texts.join('')).toBe("I'll check the current weather in Paris for you.");
    expect(message.content[1]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { location: 'Paris' } });
    expect(message.usage.output_tokens).toBe(65);
  });

  it('bills a stream with cache writes and reads exactly, and the ledger sums to the balance', async () => {
    const { id, apiKey } = await customer(5);
    const stream = anthropic(apiKey).messages.stream({
      model: 'claude-cache', max_tokens: 2048,
      // long enough that the hold covers what the recording reports
      system: [{ type: 'text', text: 'context '.repeat(2_000), cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'Sum the squares of 1 to 12' }],
    });
    const message = await stream.finalMessage();
    expect(message.usage).toMatchObject({ input_tokens: 6, cache_creation_input_tokens: 3337, cache_read_input_tokens: 6289, output_tokens: 198 });
    // (6 × $3 + 6,289 × $0.30 + 3,337 × $3.75 + 198 × $15) per 1M, rounded up once
    const cost = Math.ceil((6 * 3_000_000 + 6289 * 300_000 + 3337 * 3_750_000 + 198 * 15_000_000) / 1e6) / 1e6;
    const { balance, ledgerSum } = await settled(id);
    expect(balance).toBeCloseTo(5 - cost, 6);
    expect(ledgerSum).toBeCloseTo(balance, 6);
    const usage = await (await fetch(`${worker.url}/v1/usage`, { headers: { 'x-api-key': apiKey } })).json() as any;
    expect(usage.data[0]).toMatchObject({ model: 'claude-cache', input_tokens: 9632, cached_tokens: 6289, cache_write_tokens: 3337, cost });
  });

  it('counts tokens through the anthropic channel, free', async () => {
    const { apiKey } = await customer(5);
    expect(await anthropic(apiKey).messages.countTokens({ model: 'claude-cache', messages: ask.messages })).toEqual({ input_tokens: 321 });
  });

  it('uses a Bearer token as well (ANTHROPIC_AUTH_TOKEN)', async () => {
    const { apiKey } = await customer(5);
    const client = new Anthropic({ authToken: apiKey, apiKey: null, baseURL: worker.url, maxRetries: 0 });
    expect((await client.messages.create({ ...ask, model: 'claude-whole' })).type).toBe('message');
  });

  it('creates and streams messages on an OpenAI-format channel, translated', async () => {
    const { id, apiKey } = await customer(5);
    const client = anthropic(apiKey);
    const whole = await client.messages.create({ ...ask, model: 'gpt-as-claude' });
    expect(whole).toMatchObject({ type: 'message', model: 'gpt-as-claude', stop_reason: 'end_turn', content: [{ type: 'text' }] });
    const message = await client.messages.stream({
      ...ask, model: 'gpt-as-claude',
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }],
    }).finalMessage();
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content.map((b) => b.type)).toEqual(['tool_use', 'tool_use']);
    for (const block of message.content) expect(block.type === 'tool_use' && typeof block.input).toBe('object');
    expect(message.usage).toMatchObject({ input_tokens: 149, output_tokens: 60 });
    const { balance, ledgerSum } = await settled(id);
    expect(ledgerSum).toBeCloseTo(balance, 6);
    expect(balance).toBeLessThan(5);
  });

  it('surfaces every error as the SDK class Anthropic would give', async () => {
    const bad = await anthropic(`sk-${'x'.repeat(43)}`).messages.create({ ...ask, model: 'claude-whole' }).catch((e) => e);
    expect(bad).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(bad.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });

    const { apiKey } = await customer(5, { models: ['claude-whole'], rpm: 1 });
    const client = anthropic(apiKey);
    const invalid = await client.messages.create({ ...ask, model: 'claude-whole', max_tokens: 0 }).catch((e) => e);
    expect(invalid).toBeInstanceOf(Anthropic.BadRequestError);
    expect(invalid.message).toContain('max_tokens');
    expect(await client.messages.create({ ...ask, model: 'no-such-model' }).catch((e) => e)).toBeInstanceOf(Anthropic.NotFoundError);
    const denied = await client.messages.create({ ...ask, model: 'claude-tools' }).catch((e) => e);
    expect(denied).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect((await client.messages.create({ ...ask, model: 'claude-whole' })).type).toBe('message');
    expect(await client.messages.create({ ...ask, model: 'claude-whole' }).catch((e) => e)).toBeInstanceOf(Anthropic.RateLimitError);

    const poor = await customer(0.0001);
    const broke = await anthropic(poor.apiKey).messages.create({ ...ask, model: 'claude-whole' }).catch((e) => e);
    expect(broke).toBeInstanceOf(Anthropic.PaymentRequiredError);
    expect(broke.error.error.type).toBe('billing_error');

    await admin('PUT', '/models/claude-nowhere', CLAUDE);
    const overloaded = await anthropic((await customer(5)).apiKey).messages.create({ ...ask, model: 'claude-nowhere' }).catch((e) => e);
    expect(overloaded).toBeInstanceOf(Anthropic.OverloadedError);
    expect(overloaded.status).toBe(529);
  });
});

describe('the openai SDK on an anthropic channel', () => {
  it('gets tool calls from a whole message and from a stream', async () => {
    const { id, apiKey } = await customer(5);
    const client = new OpenAI({ apiKey, baseURL: `${worker.url}/v1`, maxRetries: 0 });
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }];
    const whole = await client.chat.completions.create({ model: 'claude-both', messages: [{ role: 'user', content: 'Update' }], tools });
    expect(whole.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { tool_calls: [{ type: 'function', function: { name: 'updateIssueList', arguments: '{}' } }] } });
    expect(whole.usage).toMatchObject({ prompt_tokens: 602, completion_tokens: 93 });

    const stream = await client.chat.completions.create({
      model: 'claude-both', messages: [{ role: 'user', content: 'Weather?' }], tools, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let args = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      args += chunk.choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("I'll check the current weather in Paris for you.");
    expect(JSON.parse(args)).toEqual({ location: 'Paris' });
    expect(finish).toBe('tool_calls');
    expect(usage).toMatchObject({ prompt_tokens: 377, completion_tokens: 65 });
    const { balance, ledgerSum } = await settled(id);
    expect(ledgerSum).toBeCloseTo(balance, 6);
    const cost = (Math.ceil((602 * 3_000_000 + 93 * 15_000_000) / 1e6) + Math.ceil((377 * 3_000_000 + 65 * 15_000_000) / 1e6)) / 1e6;
    expect(balance).toBeCloseTo(5 - cost, 6);
  });
});
