import { HTTPException } from 'hono/http-exception';
import { describe, expect, inject, it } from 'vitest';
import { toApiError } from '../../src/errors';
import { holdMicros, holdSize } from '../../src/billing/hold';
import { measurePrompt } from '../../src/billing/prompt';
import { baseUrlProblem } from '../../src/proxy/base-url';
import {
  adminCall, balanceOf, call, db, expectLedgerInvariant, newAccount, newKey, newModel, NO_UNIT_PRICES, recordedRequests, unique, usageCount, usageRow,
} from './helpers';

/**
 * Each class of defect an outside tester found, with the test that would have caught it:
 * validation before anything happens, no 5xx from client input, upstream faults that cost
 * nothing, charges capped at the hold, safe channel settings, other clients' ways.
 */
const hello = [{ role: 'user', content: 'Say hello' }];
const post = (key: string, json: unknown, headers: Record<string, string> = {}) =>
  call('/v1/chat/completions', { method: 'POST', key, json, headers });

async function ledgerCount(accountId: string) {
  return (await db.prepare('SELECT COUNT(*) AS n FROM ledger WHERE account_id = ?').bind(accountId).first<{ n: number }>())!.n;
}

describe('validation before anything happens', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['temperature above 2', { temperature: 5 }, 'temperature'],
    ['temperature below 0', { temperature: -0.1 }, 'temperature'],
    ['top_p above 1', { top_p: 1.5 }, 'top_p'],
    ['presence_penalty below -2', { presence_penalty: -3 }, 'presence_penalty'],
    ['frequency_penalty above 2', { frequency_penalty: 2.5 }, 'frequency_penalty'],
    ['n of 0', { n: 0 }, 'n'],
    ['fractional max_tokens', { max_tokens: 1.5 }, 'max_tokens'],
    ['max_completion_tokens of 0', { max_completion_tokens: 0 }, 'max_completion_tokens'],
    ['top_logprobs above 20', { top_logprobs: 21 }, 'top_logprobs'],
    ['five stop strings', { stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    ['a numeric stop', { stop: 7 }, 'stop'],
    ['logit_bias above 100', { logit_bias: { '50256': 101 } }, 'logit_bias.50256'],
    ['logit_bias keyed by a word', { logit_bias: { hello: 1 } }, 'logit_bias.hello'],
    ['fractional seed', { seed: 1.5 }, 'seed'],
    ['numeric user', { user: 42 }, 'user'],
    ['unknown role', { messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role'],
    ['numeric content', { messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    ['unknown content part', { messages: [{ role: 'user', content: [{ type: 'hologram' }] }] }, 'messages[0].content[0].type'],
    ['image part without url', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }, 'messages[0].content[0].image_url.url'],
    ['tool message without tool_call_id', { messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
    ['tool without a function', { tools: [{ type: 'function' }] }, 'tools[0].function'],
    ['tool with a bad name', { tools: [{ type: 'function', function: { name: 'has space' } }] }, 'tools[0].function.name'],
    ['unknown tool_choice', { tool_choice: 'sometimes' }, 'tool_choice'],
    ['unknown response_format', { response_format: { type: 'yaml' } }, 'response_format.type'],
    ['json_schema without a name', { response_format: { type: 'json_schema', json_schema: {} } }, 'response_format.json_schema.name'],
    ['no messages', { messages: [] }, 'messages'],
    // What OpenAI's published spec shows beyond the ranges above (test/specs):
    ['a user message with no content parts', { messages: [{ role: 'user', content: [] }] }, 'messages[0].content'],
    ['a system message with no content parts', { messages: [{ role: 'system', content: [] }, ...hello] }, 'messages[0].content'],
    ['an assistant message with no content parts', { messages: [...hello, { role: 'assistant', content: [] }, ...hello] }, 'messages[1].content'],
    ['a tool message with no content parts', { messages: [{ role: 'tool', tool_call_id: 'c', content: [] }] }, 'messages[0].content'],
    ['an empty stop list', { stop: [] }, 'stop'],
    ['an empty functions list', { functions: [] }, 'functions'],
    ['a safety_identifier over 64 characters', { safety_identifier: 'x'.repeat(65) }, 'safety_identifier'],
    ['a prediction with no content parts', { prediction: { type: 'content', content: [] } }, 'prediction.content'],
  ];

  for (const [what, patch, param] of cases) {
    it(`refuses ${what} with 400 naming ${param}, before the hold, the usage row or the upstream`, async () => {
      const tag = unique('req');
      const account = await newAccount();
      const { key } = await newKey(account.id);
      const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}` }]);
      const ledgerBefore = await ledgerCount(account.id);
      const res = await post(key, { model, messages: hello, ...patch });
      expect(res.status).toBe(400);
      const body = (await res.json()) as any;
      expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value', param });
      expect(body.error.message).toContain(param);
      expect(await ledgerCount(account.id)).toBe(ledgerBefore);
      expect(await usageCount(account.id)).toBe(0);
      expect(await recordedRequests(tag)).toEqual([]);
    });
  }

  const otherRoutes: Array<[string, string, (model: string) => Record<string, unknown>, string]> = [
    ['max_output_tokens under 16 (the Responses API\'s minimum)', '/v1/responses', (model) => ({ model, input: 'hi', max_output_tokens: 15 }), 'max_output_tokens'],
    ['top_logprobs above 20 on /v1/responses', '/v1/responses', (model) => ({ model, input: 'hi', top_logprobs: 21 }), 'top_logprobs'],
    ['an empty text block (Anthropic refuses them)', '/v1/messages', (model) => ({ model, max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }), 'messages[0].content[0].text'],
    ['a tool name Anthropic refuses', '/v1/messages', (model) => ({ model, max_tokens: 10, messages: hello, tools: [{ name: 'has space', input_schema: {} }] }), 'tools[0].name'],
    ['a tool_use id Anthropic refuses', '/v1/messages', (model) => ({
      model, max_tokens: 10, messages: [...hello, { role: 'assistant', content: [{ type: 'tool_use', id: 'a b', name: 'f', input: {} }] }, ...hello],
    }), 'messages[1].content[0].id'],
    ['more than 2,048 token ids', '/v1/embeddings', (model) => ({ model, input: Array.from({ length: 2049 }, () => 1) }), 'input'],
  ];

  for (const [what, path, body, param] of otherRoutes) {
    it(`refuses ${what} with 400 naming ${param}, before the hold or the upstream`, async () => {
      const tag = unique('req');
      const account = await newAccount();
      const { key } = await newKey(account.id);
      const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}` }]);
      const res = await call(path, { method: 'POST', key, json: body(model) });
      expect(res.status).toBe(400);
      const json = (await res.json()) as any;
      expect(path === '/v1/messages' ? json.error.message : json.error.param).toContain(param);
      expect(await usageCount(account.id)).toBe(0);
      expect(await recordedRequests(tag)).toEqual([]);
    });
  }

  it('refuses a model outside the key\'s list or the account\'s group with 403, leaving no ledger row', async () => {
    const account = await newAccount();
    const { model: allowed } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const { model: other } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const { model: grouped } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], { input_price: 1, output_price: 1, groups: ['vip'] });
    const { key } = await newKey(account.id, { models: [allowed, grouped] });
    const ledgerBefore = await ledgerCount(account.id);
    for (const m of [other, grouped]) {
      const res = await post(key, { model: m, messages: hello });
      expect(res.status).toBe(403);
      expect(((await res.json()) as any).error.code).toBe('model_not_allowed');
    }
    expect(await ledgerCount(account.id)).toBe(ledgerBefore);
    expect((await post(key, { model: allowed, messages: hello })).status).toBe(200);
  });

  it('passes valid OpenAI parameters and unknown fields through untouched', async () => {
    const tag = unique('req');
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}` }]);
    const json = {
      model,
      messages: [
        { role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'a cat' },
      ],
      temperature: 2, top_p: 0, presence_penalty: -2, frequency_penalty: 2, n: 1, seed: -7, user: 'u1', logprobs: true, top_logprobs: 20,
      stop: ['a', 'b', 'c', 'd'], logit_bias: { '50256': -100 },
      tools: [{ type: 'function', function: { name: 'look', parameters: { type: 'object', properties: {} }, strict: true } }],
      tool_choice: { type: 'function', function: { name: 'look' } },
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } },
      reasoning_effort: 'low', enable_thinking: false, some_future_field: { nested: [1, 2] },
    };
    const res = await post(key, json);
    expect(res.status).toBe(200);
    const [seen] = await recordedRequests(tag);
    // …with the output cap the hold was sized for (DEFAULT_MAX_OUTPUT_TOKENS) added
    expect(seen!.body).toEqual({ ...json, model: 'upstream-model', max_tokens: 16_384 });
  });

  it('checks embeddings input, encoding_format and dimensions', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/embeddings-response.openapi-example.json' }]);
    const bad: Array<[unknown, string]> = [
      [{ input: '' }, 'input'],
      [{ input: [] }, 'input'],
      [{ input: Array(2049).fill('a') }, 'input'],
      [{ input: 'a', encoding_format: 'hex' }, 'encoding_format'],
      [{ input: 'a', dimensions: 0 }, 'dimensions'],
      [{ input: [[]] }, 'input[0]'],
    ];
    for (const [patch, param] of bad) {
      const res = await call('/v1/embeddings', { method: 'POST', key, json: { model, ...(patch as object) } });
      expect(res.status, JSON.stringify(patch).slice(0, 80)).toBe(400);
      expect(((await res.json()) as any).error.param).toBe(param);
    }
    const ok = await call('/v1/embeddings', { method: 'POST', key, json: { model, input: ['a', 'b'], encoding_format: 'float', dimensions: 256 } });
    expect(ok.status).toBe(200);
  });
});

describe('no client input produces a 5xx', () => {
  it('refuses a 10,000-deep content array with a 400, not a crash', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    for (const body of [
      `{"model":"${model}","messages":[{"role":"user","content":${deep}}]}`,
      `{"model":"${model}","messages":[{"role":"user","content":"hi"}],"extra":${deep}}`,
      deep,
      'null',
      '5',
    ]) {
      const res = await call('/v1/chat/completions', { method: 'POST', key, body, headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error.type).toBe('invalid_request_error');
    }
    expect(await usageCount(account.id)).toBe(0);
  });

  it("maps Hono's HTTPException to the catalogue instead of a 500", () => {
    expect(toApiError(new HTTPException(401, { message: 'no' })).code).toBe('invalid_api_key');
    expect(toApiError(new HTTPException(413)).status).toBe(413);
    expect(toApiError(new HTTPException(418)).status).toBe(400);
    expect(toApiError(new HTTPException(500)).code).toBe('internal_error');
    expect(toApiError(new Error('secret internals')).message).not.toContain('secret');
  });
});

describe('a request is never charged more than its hold', () => {
  it('caps an absurd usage report (10^12 prompt tokens) at the hold and says so in the usage row', async () => {
    const account = await newAccount({ credit: 10 });
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: 'prompt_tokens=1000000000000' }]);
    const res = await post(key, { model, messages: hello, max_tokens: 100 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const row = await usageRow(res.headers.get('x-request-id')!);
    // the hold, as the pre-flight sized it: newModel's $2 / $8 per 1M tokens
    const prices = { id: model, input_price: 2_000_000, output_price: 8_000_000, cached_input_price: null, cache_write_price: null, max_output_tokens: null, owned_by: 'x', groups: null, created_at: '', ...NO_UNIT_PRICES };
    const sent = { model, messages: hello, max_tokens: 100 };
    const hold = holdMicros(prices, holdSize(sent, measurePrompt(sent), prices, 16_384));
    expect(row.input_tokens).toBe(1_000_000_000_000); // what was reported
    expect(row.cost).toBe(hold); // what was charged
    expect(row.reported_cost).toBe(2_000_000_000_000 + 8 * row.output_tokens); // $2 per 1M × 10^12 tokens = $2M, in µ$
    expect(row.capped).toBe(true);
    expect(body.usage.cost).toBe(hold / 1e6); // the client is shown what it is charged
    expect(await balanceOf(account.id)).toBe(10_000_000 - hold);
    await expectLedgerInvariant(account.id);
  });
});

describe('upstream failures are failures, and cost nothing', () => {
  it('fails over from a 200 whose JSON is an error object, and from a 200 without choices', async () => {
    const tag = unique('req');
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model, channelIds } = await newModel([
      { fixture: 'openai/error-400-unsupported-parameter-max-tokens.json', options: `id=${tag},status=200`, priority: 3 },
      { fixture: 'openai/embeddings-response.openapi-example.json', options: `id=${tag}`, priority: 2 },
      { fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}`, priority: 1 },
    ]);
    const res = await post(key, { model, messages: hello });
    expect(res.status).toBe(200);
    expect((await recordedRequests(tag)).length).toBe(3);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row.channel).toBe(channelIds[2]);
    // One charge, for the answer that was relayed; the two failed channels cost nothing.
    expect(await balanceOf(account.id)).toBe(10_000_000 - row.cost);
    await expectLedgerInvariant(account.id);
  });

  it('answers 502 when the only channel sends a 200 error object, and charges nothing', async () => {
    const account = await newAccount({ credit: 10 });
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/error-400-unsupported-parameter-max-tokens.json', options: 'status=200' }]);
    const res = await post(key, { model, messages: hello });
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.code).toBe('upstream_invalid_response');
    // The balance header shows the hold given back: the request cost nothing.
    expect(Number(res.headers.get('x-tokengate-balance'))).toBe(10);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'failed', cost: 0 });
    expect(await balanceOf(account.id)).toBe(10_000_000);
    await expectLedgerInvariant(account.id);
  });

  it('fails over from a JSON error body sent to a stream request', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([
      { fixture: 'openai/error-400-unsupported-parameter-max-tokens.json', options: 'status=200', priority: 2 },
      { fixture: 'openai/chat-stream-text-gpt-4o.sse', priority: 1 },
    ]);
    const res = await post(key, { model, messages: hello, stream: true });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('data: [DONE]');
  });

  for (const [what, options] of [['ends', 'die=1'], ['stalls', 'stall=1']] as const) {
    it(`charges nothing for a stream that ${what} before its first content event`, async () => {
      const account = await newAccount({ credit: 10 });
      const { key } = await newKey(account.id);
      const { model } = await newModel([{ fixture: 'openai/chat-stream-text-gpt-4o.sse', options }]);
      const res = await post(key, { model, messages: hello, stream: true });
      expect(await res.text()).toContain('event: error');
      const row = await usageRow(res.headers.get('x-request-id')!);
      expect(row.cost).toBe(0);
      expect(row.status).not.toBe('success');
      expect(await balanceOf(account.id)).toBe(10_000_000);
      await expectLedgerInvariant(account.id);
    });
  }

  it('fails over within the first-byte timeout from an error response whose body never ends', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model, channelIds } = await newModel([
      { fixture: 'openai/error-400-unsupported-parameter-max-tokens.json', options: 'status=503,stall', priority: 2 },
      { fixture: 'openai/chat-nonstream-text-gpt-4o.json', priority: 1 },
    ]);
    const started = Date.now();
    const res = await post(key, { model, messages: hello });
    expect(res.status).toBe(200);
    // The stalled error body never ends: without the first-byte clock (1500 ms in the tests)
    // on it, this request would wait forever. The bound only tells that from a hang.
    expect(Date.now() - started).toBeLessThan(10_000);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row.channel).toBe(channelIds[1]);
    expect(await balanceOf(account.id)).toBe(10_000_000 - row.cost);
    await expectLedgerInvariant(account.id);
  });
});

describe('upstream redirects are never followed (hole 7)', () => {
  it("a redirecting upstream is a failure: the channel's key never reaches the host it names, and the next channel serves", async () => {
    const tag = unique('redirect');
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const model = unique('model');
    await adminCall('PUT', `/models/${model}`, { input_price: 3, output_price: 15 });
    const channel = (id: string, options: string, priority: number) => adminCall('PUT', `/channels/${id}`, {
      kind: 'anthropic', base_url: `${inject('upstreamUrl')}/o:${options}/anthropic/messages-nonstream-text-sonnet-4-5.json`,
      api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [model]: 'claude' }, priority,
    });
    await channel(unique('ch'), `id=${tag},redirect`, 10);
    const body = { model, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };
    // Alone, it fails: 502, and nothing charged.
    const alone = await call('/v1/messages', { method: 'POST', key, json: body });
    expect(alone.status).toBe(502);
    expect(((await alone.json()) as any).error.message).toMatch(/redirect/);
    expect(await recordedRequests(tag)).toHaveLength(1);
    // Followed, the key would have gone along in x-api-key to the other origin.
    expect(await recordedRequests(`${tag}-redirected`)).toEqual([]);
    // With another channel behind it, the request fails over before any byte was sent.
    await channel(unique('ch'), '', 0);
    const served = await call('/v1/messages', { method: 'POST', key, json: body });
    expect(served.status).toBe(200);
    await usageRow(served.headers.get('x-request-id')!);
    expect(await recordedRequests(`${tag}-redirected`)).toEqual([]);
    await expectLedgerInvariant(account.id);
  });
});

describe('channel settings that cannot hurt', () => {
  const channel = (patch: Record<string, unknown>) =>
    adminCall('PUT', `/channels/${unique('ch')}`, { kind: 'openai', base_url: 'https://api.openai.com/v1', api_key_secret: 'FAKE_UPSTREAM_KEY', models: { m: 'm' }, ...patch });

  it('refuses base URLs that are plain http off-host, carry credentials, or point at metadata addresses', async () => {
    for (const base_url of [
      'http://api.openai.com/v1', 'https://user:pass@api.openai.com/v1', 'https://169.254.169.254/latest', 'http://2852039166/',
      'https://0xa9fea9fe/', 'https://[::ffff:169.254.169.254]/', 'https://[fe80::1]/', 'https://metadata.google.internal/',
      'https://100.100.100.200/', 'ftp://example.com/', 'not a url',
    ]) {
      const res = await channel({ base_url });
      expect(res.status, base_url).toBe(400);
      expect(res.body.error.param).toBe('base_url');
    }
    for (const base_url of ['https://api.deepseek.com', 'http://127.0.0.1:11434/v1', 'http://localhost:8000/v1', 'http://[::1]:8000/v1']) {
      expect((await channel({ base_url })).status, base_url).toBe(200);
    }
  });

  it("refuses api_key_secret naming the gateway's own secrets", async () => {
    for (const api_key_secret of ['ADMIN_TOKEN', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'TURNSTILE_SECRET_KEY', 'lower_case']) {
      const res = await channel({ api_key_secret });
      expect(res.status, api_key_secret).toBe(400);
      expect(res.body.error.param).toBe('api_key_secret');
    }
  });

  it('saves a channel whose secret is not set, with a warning the operator sees', async () => {
    const missing = await channel({ api_key_secret: 'NOT_SET_ANYWHERE' });
    expect(missing.status).toBe(200);
    expect(missing.body.warnings.join(' ')).toContain('NOT_SET_ANYWHERE');
    expect((await channel({})).body.warnings).toEqual([]);
  });

  it('checks base URLs in one normalised spelling', () => {
    expect(baseUrlProblem('https://0251.0376.0251.0376/')).not.toBeNull();
    expect(baseUrlProblem('https://[::a9fe:a9fe]/')).not.toBeNull();
    expect(baseUrlProblem('https://[64:ff9b::169.254.169.254]/')).not.toBeNull();
    expect(baseUrlProblem('https://169.254.169.254./')).not.toBeNull();
    expect(baseUrlProblem('https://dashscope.aliyuncs.com/compatible-mode/v1')).toBeNull();
  });
});

describe('clients that are not the Python SDK', () => {
  it('authenticates x-api-key like Authorization: Bearer', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const res = await call('/v1/chat/completions', { method: 'POST', json: { model, messages: hello }, headers: { 'x-api-key': key } });
    expect(res.status).toBe(200);
    const bad = await call('/v1/models', { headers: { 'x-api-key': 'sk-nope' } });
    expect(bad.status).toBe(401);
  });

  it('answers CORS preflights without a key, and names the allowed origin on answers and errors', async () => {
    const preflight = await call('/v1/chat/completions', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    const error = await call('/v1/models', { headers: { origin: 'https://app.example.com' } });
    expect(error.status).toBe(401);
    expect(error.headers.get('access-control-allow-origin')).toBe('*');
    expect(error.headers.get('access-control-expose-headers')).toContain('x-request-id');
  });

  it('answers with the public model id, never the upstream one, whole and streamed', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const whole = (await (await post(key, { model, messages: hello })).json()) as any;
    expect(whole.model).toBe(model);
    const { model: streamed } = await newModel([{ fixture: 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt' }]);
    const text = await (await post(key, { model: streamed, messages: hello, stream: true, stream_options: { include_usage: true } })).text();
    expect(text).not.toContain('gpt-4.1-nano-2025-04-14');
    const chunks = text.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.every((c) => c.model === streamed)).toBe(true);
  });
});
