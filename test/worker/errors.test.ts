import { describe, expect, it } from 'vitest';
import readme from '../../README.md?raw';
import { ERRORS } from '../../src/errors';
import { call, newAccount, newKey, setup, usageCount } from './helpers';

describe('the error catalogue', () => {
  it("is the README's error table, row for row", () => {
    const section = readme.slice(readme.indexOf('## Errors'), readme.indexOf('\n## ', readme.indexOf('## Errors') + 1));
    const rows = [...section.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| `([a-z_]+)` \| (yes|no) \|/gm)].map(([, code, status, type, retry]) => ({
      code, status: Number(status), type, retry: retry === 'yes',
    }));
    const catalogue = Object.entries(ERRORS).map(([code, e]) => ({ code, status: e.status, type: e.type, retry: e.retry }));
    expect(rows).toEqual(catalogue);
  });
});

async function expectError(res: Response, status: number, type: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  const body = (await res.json()) as any;
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error.type).toBe(type);
  return body.error as { message: string; type: string; param: string | null; code: string };
}

describe('errors are OpenAI-shaped with the right status, and change nothing', () => {
  it('malformed JSON → 400', async () => {
    const { key, account } = await setup('openai/chat-nonstream-text-gpt-4o.json');
    const res = await call('/v1/chat/completions', { method: 'POST', key, body: '{"model": ', headers: { 'content-type': 'application/json' } });
    const error = await expectError(res, 400, 'invalid_request_error');
    expect(error.code).toBe('invalid_json');
    expect(res.headers.get('x-should-retry')).toBe('false');
    expect(await usageCount(account.id)).toBe(0);
  });

  it('a schema violation names the field in the message and in param', async () => {
    const { key, model } = await setup('openai/chat-nonstream-text-gpt-4o.json');
    let res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'wizard', content: 'x' }] } });
    let error = await expectError(res, 400, 'invalid_request_error');
    expect(error.param).toBe('messages[0].role');
    expect(error.message).toContain('messages[0].role');

    res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [] } });
    error = await expectError(res, 400, 'invalid_request_error');
    expect(error.param).toBe('messages');

    res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'x' }], max_tokens: -1 } });
    expect((await expectError(res, 400, 'invalid_request_error')).param).toBe('max_tokens');

    res = await call('/v1/chat/completions', { method: 'POST', key, json: { messages: [{ role: 'user', content: 'x' }] } });
    expect((await expectError(res, 400, 'invalid_request_error')).param).toBe('model');

    res = await call('/v1/chat/completions', { method: 'POST', key, json: [1, 2] });
    await expectError(res, 400, 'invalid_request_error');
  });

  it('an unknown model → 400 model_not_found', async () => {
    const { key } = await setup('openai/chat-nonstream-text-gpt-4o.json');
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] } });
    const error = await expectError(res, 400, 'invalid_request_error');
    expect(error.code).toBe('model_not_found');
    expect(error.param).toBe('model');
  });

  it('an unknown route → 404, with or without a key', async () => {
    await expectError(await call('/nope'), 404, 'not_found_error');
    const { key } = await setup('openai/chat-nonstream-text-gpt-4o.json');
    await expectError(await call('/v1/nope', { key }), 404, 'not_found_error');
    await expectError(await call('/v1/chat/completions', { key }), 404, 'not_found_error');
  });

  it('a body over the limit → 413, with or without content-length', async () => {
    const { key, model, account } = await setup('openai/chat-nonstream-text-gpt-4o.json');
    const big = 'x'.repeat(4 * 1024 * 1024 + 10);
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: big }] } });
    await expectError(res, 413, 'invalid_request_error');
    const streamed = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(`{"model":"${model}","messages":[{"role":"user","content":"${big}"}]}`));
        c.close();
      },
    });
    const res2 = await call('/v1/chat/completions', { method: 'POST', key, body: streamed, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    await expectError(res2, 413, 'invalid_request_error');
    expect(await usageCount(account.id)).toBe(0);
  });

  it('odd input never produces a 500', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const bodies = ['', 'null', '"str"', '{}', '{"model":1}', '{"model":"m","messages":"x"}', '{"model":"m","messages":[null]}',
      '{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}', '{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}',
      '\u0000\u0001', '{"__proto__":{"x":1},"model":"m","messages":[{"role":"user","content":"x"}]}'];
    for (const body of bodies) {
      for (const path of ['/v1/chat/completions', '/v1/embeddings']) {
        const res = await call(path, { method: 'POST', key, body, headers: { 'content-type': 'application/json' } });
        expect(res.status, `${path} ${body}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${path} ${body}`).toBeLessThan(500);
      }
    }
    for (const q of ['limit=abc', 'limit=-1', 'limit=100000']) {
      expect((await call(`/v1/usage?${q}`, { key })).status).toBe(400);
    }
  });
});
