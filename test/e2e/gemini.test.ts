import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * The openai SDK's chat completions on `gemini` channels (Google's native API, translated),
 * replaying the recorded Gemini answers: tool calls whole and streamed, the safety-blocked
 * recordings, and what they cost.
 */
const ADMIN = 'e2e-admin-token';
let worker: RunningWorker;
const admin = (method: string, path: string, body?: unknown) => worker.admin(method, path, body);

async function model(id: string, fixture: string, stream?: string) {
  await admin('PUT', `/models/${id}`, { input_price: 1.25, output_price: 10 });
  await admin('PUT', `/channels/${id}`, {
    kind: 'gemini', base_url: `${inject('upstreamUrl')}/o:${stream ? `stream=${stream.replace(/\//g, '~')}` : ''}/${fixture}`,
    api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [id]: 'gemini-3-pro-preview' },
  });
}

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: ADMIN, FAKE_UPSTREAM_KEY: 'sk-upstream-e2e' });
  await model('gemini-tools', 'gemini/generateContent-function-call-gemini-3-pro-preview.json', 'gemini/streamGenerateContent-sse-function-call-gemini-3-pro-preview.chunks.txt');
  await model('gemini-blocked', 'gemini/legacy-generateContent-prompt-blocked-safety.json', 'gemini/legacy-streamGenerateContent-prompt-blocked-safety.sse');
  await model('gemini-unsafe', 'gemini/generateContent-text-gemini-3-pro-preview.json', 'gemini/legacy-streamGenerateContent-finish-reason-safety.sse');
});

afterAll(async () => {
  await worker?.dispose();
});

describe('the openai SDK on a gemini channel', () => {
  it('gets tool calls whole and streamed, with usage (thinking as output)', async () => {
    const account = await admin('POST', '/accounts', { email: 'gemini@example.com', credit: 5 });
    const { key } = await admin('POST', `/accounts/${account.id}/keys`, { name: 'sdk' });
    const client = new OpenAI({ apiKey: key, baseURL: `${worker.url}/v1`, maxRetries: 0 });
    const tools = [{ type: 'function' as const, function: { name: 'weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }];
    const messages = [{ role: 'user' as const, content: 'Weather in San Francisco?' }];
    const whole = await client.chat.completions.create({ model: 'gemini-tools', messages, tools });
    expect(whole.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { tool_calls: [{ type: 'function', function: { name: 'weather', arguments: '{"location":"San Francisco"}' } }] } });
    expect(whole.usage).toMatchObject({ prompt_tokens: 29, completion_tokens: 908 });

    const stream = await client.chat.completions.create({ model: 'gemini-tools', messages, tools, stream: true, stream_options: { include_usage: true } });
    let args = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      args += chunk.choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(JSON.parse(args)).toEqual({ location: 'San Francisco' });
    expect(finish).toBe('tool_calls');
    expect(usage).toMatchObject({ prompt_tokens: 29, completion_tokens: 60 });
    const rows = (await (await fetch(`${worker.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json()) as any;
    expect(rows.data.map((r: any) => r.cost)).toEqual([Math.ceil(29 * 1.25 + 60 * 10) / 1e6, Math.ceil(29 * 1.25 + 908 * 10) / 1e6]);
  });

  it('reports safety blocks as finish_reason content_filter, whole and streamed', async () => {
    const account = await admin('POST', '/accounts', { email: 'gemini-safety@example.com', credit: 5 });
    const { key } = await admin('POST', `/accounts/${account.id}/keys`, { name: 'sdk' });
    const client = new OpenAI({ apiKey: key, baseURL: `${worker.url}/v1`, maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'Something unsafe' }];
    const blocked = await client.chat.completions.create({ model: 'gemini-blocked', messages });
    expect(blocked.choices[0]).toMatchObject({ finish_reason: 'content_filter', message: { content: null } });
    for (const model of ['gemini-blocked', 'gemini-unsafe']) {
      let finish: string | null = null;
      for await (const chunk of await client.chat.completions.create({ model, messages, stream: true })) finish = chunk.choices[0]?.finish_reason ?? finish;
      expect(finish).toBe('content_filter');
    }
  });
});
