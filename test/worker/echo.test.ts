import { describe, expect, it } from 'vitest';
import { adminCall, call, newAccount, newKey, unique, usageRow } from './helpers';

async function echoModel() {
  const model = unique('echo');
  await adminCall('PUT', `/models/${model}`, { input_price: 1, output_price: 2 });
  await adminCall('PUT', `/channels/${unique('echo-ch')}`, { kind: 'echo', base_url: 'http://echo.invalid', api_key_secret: 'NONE', models: { [model]: 'echo' } });
  const account = await newAccount();
  return { model, key: (await newKey(account.id)).key };
}

describe('the built-in echo channel', () => {
  it('answers with the last user message and honest usage, with no provider key', async () => {
    const { model, key } = await echoModel();
    const res = await call('/v1/chat/completions', {
      method: 'POST', key,
      json: { model, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'first' }, { role: 'user', content: 'Hello there, gateway!' }] },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.choices[0].message).toEqual({ role: 'assistant', content: 'Hello there, gateway!', refusal: null });
    expect(body.choices[0].finish_reason).toBe('stop');
    expect(body.usage.completion_tokens).toBe(6);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'success', output_tokens: 6, input_tokens: body.usage.prompt_tokens, estimated: false });
  });

  it('streams word by word and ends with [DONE]', async () => {
    const { model, key } = await echoModel();
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'one two three' }], stream: true, stream_options: { include_usage: true } } });
    const events = (await res.text()).split('\n\n').filter(Boolean);
    const chunks = events.filter((e) => e !== 'data: [DONE]').map((e) => JSON.parse(e.slice(6)));
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('one two three');
    expect(chunks.at(-1).usage.completion_tokens).toBeGreaterThan(0);
    expect(events.at(-1)).toBe('data: [DONE]');
  });

  it('honours max_tokens with finish_reason length', async () => {
    const { model, key } = await echoModel();
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, max_tokens: 2, messages: [{ role: 'user', content: 'alpha beta gamma delta epsilon' }] } });
    const body = (await res.json()) as any;
    expect(body.choices[0].finish_reason).toBe('length');
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(2);
  });

  it('answers embeddings with a deterministic vector', async () => {
    const { model, key } = await echoModel();
    const one = (await (await call('/v1/embeddings', { method: 'POST', key, json: { model, input: ['a', 'b'] } })).json()) as any;
    const two = (await (await call('/v1/embeddings', { method: 'POST', key, json: { model, input: ['a', 'b'] } })).json()) as any;
    expect(one.data).toHaveLength(2);
    expect(one.data).toEqual(two.data);
    expect(one.usage.prompt_tokens).toBe(2);
  });
});
