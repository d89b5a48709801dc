import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * The whole worker in workerd (Miniflare, the bundle `wrangler deploy` would ship), driven
 * over HTTP by the official openai SDK, in front of the fake upstream replaying fixtures.
 */
const ADMIN = 'e2e-admin-token';
let worker: RunningWorker;
let client: OpenAI;
let apiKey: string;

const admin = (method: string, path: string, body?: unknown) => worker.admin(method, path, body);

async function channel(model: string, fixture: string, options = '') {
  await admin('PUT', `/models/${model}`, { input_price: 2, output_price: 8 });
  await admin('PUT', `/channels/${model.replace(/[^\w]/g, '-')}`, {
    kind: 'openai',
    base_url: `${inject('upstreamUrl')}/o:${options}/${fixture}`,
    api_key_secret: 'FAKE_UPSTREAM_KEY',
    models: { [model]: 'gpt-4.1-nano' },
  });
}

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: ADMIN, FAKE_UPSTREAM_KEY: 'sk-upstream-e2e' });
  const account = await admin('POST', '/accounts', { email: 'e2e@example.com', credit: 5 });
  apiKey = (await admin('POST', `/accounts/${account.id}/keys`, { name: 'e2e' })).key;
  await channel('whole', 'openai/chat-nonstream-text-gpt-4o.json');
  await channel('streamed', 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt');
  client = new OpenAI({ apiKey, baseURL: `${worker.url}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await worker?.dispose();
});

describe('the official openai SDK against the running worker', () => {
  it('creates a whole chat completion', async () => {
    const completion = await client.chat.completions.create({ model: 'whole', messages: [{ role: 'user', content: 'Hello' }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toBeTruthy();
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('streams a chat completion without a usage chunk when not asked', async () => {
    const stream = await client.chat.completions.create({ model: 'streamed', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    let usageSeen = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usageSeen = true;
    }
    expect(text.length).toBeGreaterThan(100);
    expect(usageSeen).toBe(false);
  });

  it('streams with include_usage and gets the usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'streamed', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: 16, completion_tokens: 300 });
  });

  it('lists and retrieves models', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids.sort()).toEqual(['streamed', 'whole']);
    expect((await client.models.retrieve('whole')).id).toBe('whole');
    await expect(client.models.retrieve('nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('surfaces a bad key as AuthenticationError', async () => {
    const bad = new OpenAI({ apiKey: `sk-${'x'.repeat(43)}`, baseURL: `${worker.url}/v1`, maxRetries: 0 });
    const error = await bad.chat.completions.create({ model: 'whole', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error.status).toBe(401);
    expect(error.type).toBe('authentication_error');
  });

  it('surfaces a bad request as BadRequestError naming the field', async () => {
    const error = await client.chat.completions
      .create({ model: 'whole', messages: [{ role: 'robot' as 'user', content: 'x' }] })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe('messages[0].role');
    const unknown = await client.chat.completions.create({ model: 'no-such', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(unknown).toBeInstanceOf(OpenAI.BadRequestError);
    expect(unknown.code).toBe('model_not_found');
  });

  it("retries a 429 after the gateway's retry-after-ms and then succeeds", async () => {
    // One request at a time on this key: while a slow stream holds the slot, the next
    // request is refused with retry-after-ms, and the SDK's own retry gets through.
    await channel('slow', 'openai/chat-stream-text-gpt-4o.sse', 'delay=15');
    const account = await admin('POST', '/accounts', { email: 'e2e-limited@example.com', credit: 5 });
    const limitedKey = (await admin('POST', `/accounts/${account.id}/keys`, { name: 'limited', max_concurrency: 1, rpm: 100 })).key;
    const limited = new OpenAI({ apiKey: limitedKey, baseURL: `${worker.url}/v1`, maxRetries: 2 });
    const noRetry = new OpenAI({ apiKey: limitedKey, baseURL: `${worker.url}/v1`, maxRetries: 0 });

    const slow = await limited.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: 'x' }], stream: true });
    const refused = await noRetry.chat.completions.create({ model: 'whole', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(Number(refused.headers.get('retry-after-ms'))).toBeGreaterThan(0);

    const started = Date.now();
    const retried = limited.chat.completions.create({ model: 'whole', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    for await (const _chunk of slow); // the slow stream ends, freeing the slot
    const { data, response } = await retried;
    expect(data.object).toBe('chat.completion');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // it waited as told, then retried
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('100');
  });

  it('carries x-request-id on every response', async () => {
    const { response } = await client.chat.completions.create({ model: 'whole', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
