import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FIXTURES, fixtureEvents, specExample } from '../support/fake-upstream.ts';
import { anthropicSpec, openaiSpec, type Spec } from '../support/spec.ts';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * Every answer the gateway composes or changes, checked against the providers' published
 * specifications (test/specs): chat completions whole and every chunk (pass-through, echo,
 * translated from Anthropic and Gemini), models, embeddings, every error on every route and
 * the errors inside streams, Responses whole and every event (passed through and
 * translated), Messages whole and every event (native and translated).
 *
 * Where the gateway passes an upstream's answer through, what the upstream's own recording
 * already breaks is the upstream's and is named in UPSTREAM_OWN; anything else is the
 * gateway's and fails the test. Where the vendored Anthropic spec (November 2024) predates
 * what Anthropic documents today, SPEC_GAPS names it (test/specs/SOURCES.md).
 */
let worker: RunningWorker;
let openai: Spec;
let anthropic: Spec;
let key: string;
let poorKey: string;

const ADMIN = 'e2e-admin-token';
const admin = (method: string, path: string, body?: unknown) => worker.admin(method, path, body);
const PRICES = { input_price: 3, output_price: 15, max_output_tokens: 1024 };

/** Anthropic's error types as it documents them today (https://docs.anthropic.com/en/api/errors). */
const ANTHROPIC_ERROR_TYPES = [
  'invalid_request_error', 'authentication_error', 'billing_error', 'permission_error', 'not_found_error', 'request_too_large',
  'rate_limit_error', 'api_error', 'timeout_error', 'overloaded_error',
];

/** What the November 2024 Anthropic spec lacks and Anthropic documents today: not ours. */
const SPEC_GAPS = [
  /^\/(message\/)?content\/\d+\/type must be equal to one of the allowed values \["text","tool_use"\]$/, // thinking blocks
  /^\/content_block\/type must be equal to one of the allowed values \["text","tool_use"\]$/,
  /^\/delta\/type must be equal to one of the allowed values \["text_delta","input_json_delta"\]$/, // thinking_delta, signature_delta
  /^\/(message\/)?stop_reason must be equal to one of the allowed values \["end_turn","max_tokens","stop_sequence","tool_use"\]$/, // refusal, pause_turn
  /^\/error\/type must be equal to one of the allowed values \[.*\]$/, // billing_error, request_too_large, timeout_error
];

type Event = { event: string | undefined; data: any };
function sse(text: string): Event[] {
  return text.split(/\r?\n\r?\n/).filter((e) => e.trim() !== '').map((raw) => {
    const lines = raw.split(/\r?\n/);
    const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
    return { event: lines.find((l) => l.startsWith('event:'))?.slice(6).trim(), data: data === '[DONE]' ? data : JSON.parse(data) };
  });
}

/** A whole recording, as the upstream sent it. */
const recordedWhole = (fixture: string | null) => (fixture ? JSON.parse(readFileSync(`${FIXTURES}/${fixture}`, 'utf8')) : undefined);

/** The upstream's recording as the fake sends it, event by event (its own violations). */
const recorded = (fixture: string): Event[] => sse(fixtureEvents(fixture).map((b) => b.toString('utf8')).join(''));

/** What was excused, and why: listed at the end, so that nothing is excused unnoticed. */
const excused = new Set<string>();

/** Violations that are the gateway's: those of `value`, less the upstream's own and the spec's gaps. */
function gatewayViolations(spec: Spec, schema: string, value: unknown, upstream?: unknown): string[] {
  const own = new Set(upstream === undefined ? [] : spec.check(schema, upstream));
  return spec.check(schema, value).filter((v) => {
    if (own.has(v)) return void excused.add(`upstream's own: ${spec.name} ${schema} ${v}`);
    if (spec === anthropic && SPEC_GAPS.some((gap) => gap.test(v))) return void excused.add(`spec gap: ${schema} ${v}`);
    return true;
  });
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}, withKey = key): Promise<Response> {
  return fetch(`${worker.url}${path}`, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { authorization: `Bearer ${withKey}`, 'content-type': 'application/json', ...headers },
  });
}

async function channel(id: string, kind: string, fixture: string, o: { stream?: string; responses?: boolean; options?: string } = {}) {
  await admin('PUT', `/models/${id}`, PRICES);
  const options = [o.options, o.stream ? `stream=${o.stream.replace(/\//g, '~')}` : ''].filter(Boolean).join(',');
  await admin('PUT', `/channels/${id}`, {
    kind, base_url: kind === 'echo' ? 'https://echo.invalid' : `${inject('upstreamUrl')}/o:${options}/${fixture}`,
    api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [id]: kind === 'gemini' ? 'gemini-3-pro-preview' : 'upstream-model' }, responses: o.responses ?? true,
  });
}

beforeAll(async () => {
  openai = openaiSpec();
  anthropic = anthropicSpec();
  worker = await startWorker({
    ADMIN_TOKEN: ADMIN, FAKE_UPSTREAM_KEY: 'sk-upstream-e2e', MAX_BODY_BYTES: '200000', UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '800', UPSTREAM_IDLE_TIMEOUT_MS: '800',
  });
  const account = await admin('POST', '/accounts', { email: 'conformance@example.com', credit: 50 });
  ({ key } = await admin('POST', `/accounts/${account.id}/keys`, { name: 'spec' }));
  const poor = await admin('POST', '/accounts', { email: 'poor@example.com', credit: 0 });
  ({ key: poorKey } = await admin('POST', `/accounts/${poor.id}/keys`, { name: 'poor', rpm: 1 }));
  await channel('gpt', 'openai', 'openai/chat-nonstream-gpt-4.1-nano.json', { stream: 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', responses: false });
  await channel('gpt-tools', 'openai', 'groq/chat-nonstream-llama-3.3-70b-tool-call.json', { stream: 'openai/chat-stream-parallel-tool-calls-gpt-4o.sse', responses: false });
  await channel('gpt-reasoning', 'openai', 'deepseek/chat-nonstream-deepseek-reasoner-tool-call.json', { stream: 'deepseek/chat-stream-deepseek-reasoner-tool-call-cache-hit.chunks.txt', responses: false });
  await channel('echo', 'echo', '');
  await channel('claude', 'anthropic', 'anthropic/messages-nonstream-text-then-tool-use-no-args.json', { stream: 'anthropic/messages-stream-raw-sse-text-then-tool-use-sonnet-4.sse' });
  await channel('claude-thinking', 'anthropic', 'anthropic/messages-nonstream-text-sonnet-4-5.json', { stream: 'anthropic/messages-stream-raw-sse-extended-thinking-sonnet-4.sse' });
  await channel('gemini', 'gemini', 'gemini/generateContent-function-call-gemini-3-pro-preview.json', { stream: 'gemini/streamGenerateContent-sse-function-call-gemini-3-pro-preview.chunks.txt' });
  await channel('gemini-thinking', 'gemini', 'gemini/generateContent-reasoning-gemini-3-pro-preview.json', { stream: 'gemini/streamGenerateContent-sse-reasoning-gemini-3-pro-preview.chunks.txt' });
  await channel('native', 'openai', 'openai-responses/responses-nonstream-text-cached-reasoning-gpt-5.3-codex.json', { stream: 'openai-responses/responses-stream-text-cached-reasoning-gpt-5.3-codex.chunks.txt' });
  await channel('native-tools', 'openai', 'openai-responses/azure-responses-nonstream-function-call-gpt-5.1.json', { stream: 'openai-responses/responses-stream-function-call-gpt-5.4.chunks.txt' });
  await channel('embed', 'openai', 'openai/embeddings-response.openapi-example.json');
  await channel('broken', 'openai', 'openai/chat-nonstream-gpt-4.1-nano.json', { options: 'status=500', responses: false });
  await channel('hangs', 'openai', 'openai/chat-nonstream-gpt-4.1-nano.json', { options: 'hang', responses: false });
  await channel('dies', 'openai', 'openai/chat-stream-text-gpt-4o.sse', { stream: 'openai/chat-stream-text-gpt-4o.sse', options: 'die=3', responses: false });
  await channel('claude-dies', 'anthropic', 'anthropic/messages-nonstream-text-sonnet-4-5.json', { stream: 'anthropic/messages-stream-raw-sse-extended-thinking-sonnet-4.sse', options: 'die=8' });
  await channel('native-dies', 'openai', 'openai-responses/responses-nonstream-text-gpt-4.1-nano.json', { stream: 'openai-responses/responses-stream-text-cached-reasoning-gpt-5.3-codex.chunks.txt', options: 'die=5' });
  for (const [id, fixture] of [
    ['img', 'spec/images/generations/0'], ['img-stream', 'spec/images/generations/1'], ['img-edit-stream', 'spec/images/edits/1'], ['mod', 'spec/moderations/1'],
    ['stt', 'spec/audio/transcriptions/0'], ['stt-diarized', 'spec/audio/transcriptions/1'], ['stt-stream', 'spec/audio/transcriptions/2'], ['translate', 'spec/audio/translations/0'],
  ] as const) {
    await admin('PUT', `/models/${id}`, { ...PRICES, image_prices: { '*': 0.04 }, character_price: 1, audio_minute_price: 0.006, audio_input_price: 6 });
    await admin('PUT', `/channels/${id}`, { kind: 'openai', base_url: `${inject('upstreamUrl')}/o:/${fixture}`, api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [id]: 'upstream-model' } });
  }
  await admin('PUT', '/models/private', { ...PRICES, groups: ['vip'] });
  await admin('PUT', '/channels/private', { kind: 'echo', base_url: 'https://echo.invalid', api_key_secret: 'FAKE_UPSTREAM_KEY', models: { private: 'p' } });
  await admin('PUT', '/models/nowhere', PRICES);
}, 60_000);

afterAll(async () => {
  await worker?.dispose();
});

const hello = [{ role: 'user', content: 'What is the weather in San Francisco?' }];
const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }];

describe('chat completions: whole answers and every chunk', () => {
  it.each([
    ['passed through', 'gpt', 'openai/chat-nonstream-gpt-4.1-nano.json', 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt'],
    ['passed through, tool calls', 'gpt-tools', 'groq/chat-nonstream-llama-3.3-70b-tool-call.json', 'openai/chat-stream-parallel-tool-calls-gpt-4o.sse'],
    ['passed through, reasoning', 'gpt-reasoning', 'deepseek/chat-nonstream-deepseek-reasoner-tool-call.json', 'deepseek/chat-stream-deepseek-reasoner-tool-call-cache-hit.chunks.txt'],
    ['from the echo channel', 'echo', null, null],
    ['translated from Anthropic', 'claude', null, null],
    ['translated from Anthropic, thinking', 'claude-thinking', null, null],
    ['translated from Gemini', 'gemini', null, null],
    ['translated from Gemini, thinking', 'gemini-thinking', null, null],
  ] as const)('%s', async (_name, model, whole, stream) => {
    const res = await post('/v1/chat/completions', { model, messages: hello, tools });
    expect(res.status).toBe(200);
    expect(gatewayViolations(openai, 'CreateChatCompletionResponse', await res.json(), recordedWhole(whole))).toEqual([]);

    const streamed = await post('/v1/chat/completions', { model, messages: hello, tools, stream: true, stream_options: { include_usage: true } });
    expect(streamed.status).toBe(200);
    const events = sse(await streamed.text());
    expect(events.at(-1)!.data).toBe('[DONE]');
    const upstream = stream ? recorded(stream).filter((e) => e.data !== '[DONE]') : [];
    const chunks = events.filter((e) => e.data !== '[DONE]');
    expect(chunks.every((e) => e.event === undefined)).toBe(true);
    chunks.forEach((chunk, i) => {
      expect(gatewayViolations(openai, 'CreateChatCompletionStreamResponse', chunk.data, upstream[i]?.data), `chunk ${i}: ${JSON.stringify(chunk.data)}`).toEqual([]);
    });
  });
});

describe('models and embeddings', () => {
  it('GET /v1/models and /v1/models/{id}', async () => {
    const list = await (await fetch(`${worker.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).json();
    expect(openai.check('ListModelsResponse', list)).toEqual([]);
    const one = await (await fetch(`${worker.url}/v1/models/gpt`, { headers: { authorization: `Bearer ${key}` } })).json();
    expect(openai.check('Model', one)).toEqual([]);
  });

  it('POST /v1/embeddings, passed through and from the echo channel', async () => {
    for (const model of ['embed', 'echo']) {
      const res = await post('/v1/embeddings', { model, input: ['one', 'two'] });
      expect(res.status).toBe(200);
      expect(openai.check('CreateEmbeddingResponse', await res.json())).toEqual([]);
    }
  });
});

describe('images, audio and moderations: what the gateway composes (a usage cost, the public model id, a text answer)', () => {
  const form = (fields: Record<string, string>, file = 'file') => {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) f.append(k, v);
    f.append(file, new File([readFileSync(`${FIXTURES}/audio/pluck-pcm16.wav`)], file === 'file' ? 'a.wav' : 'a.png'));
    return f;
  };
  const upload = (path: string, body: FormData) => fetch(`${worker.url}${path}`, { method: 'POST', body, headers: { authorization: `Bearer ${key}` } });

  it('whole answers: ImagesResponse, CreateModerationResponse, the transcription and translation responses', async () => {
    const image = await post('/v1/images/generations', { model: 'img', prompt: 'An otter' });
    expect(openai.check('ImagesResponse', await image.json())).toEqual([]);
    const moderation = await post('/v1/moderations', { model: 'mod', input: 'I want to kill them.' });
    expect(openai.check('CreateModerationResponse', await moderation.json())).toEqual([]);
    for (const [model, schema, format] of [['stt', 'CreateTranscriptionResponseJson', 'json'], ['stt-diarized', 'CreateTranscriptionResponseDiarizedJson', 'diarized_json']]) {
      const res = await upload('/v1/audio/transcriptions', form({ model: model!, response_format: format! }));
      expect(res.status).toBe(200);
      expect(openai.check(schema!, await res.json()), model).toEqual([]);
    }
    const translation = await upload('/v1/audio/translations', form({ model: 'translate' }));
    expect(openai.check('CreateTranslationResponseJson', await translation.json())).toEqual([]);
  });

  it('every event of a streamed image generation, image edit and transcription', async () => {
    // Each event beside the published example's own (which leaves out fields its schema requires).
    const check = async (res: Response, fixture: string, schema: string) => {
      const [ours, published] = [sse(await res.text()), sse(specExample(fixture))];
      expect(ours.map((e) => e.data.type)).toEqual(published.map((e) => e.data.type));
      ours.forEach((e, i) => expect(gatewayViolations(openai, schema, e.data, published[i]!.data)).toEqual([]));
    };
    await check(await post('/v1/images/generations', { model: 'img-stream', prompt: 'An otter', stream: true }), 'spec/images/generations/1', 'ImageGenStreamEvent');
    await check(await upload('/v1/images/edits', form({ model: 'img-edit-stream', prompt: 'A beret', stream: 'true' }, 'image')), 'spec/images/edits/1', 'ImageEditStreamEvent');
    await check(await upload('/v1/audio/transcriptions', form({ model: 'stt-stream', stream: 'true' })), 'spec/audio/transcriptions/2', 'CreateTranscriptionResponseStreamEvent');
  });

  it("errors in OpenAI's shape: a form that is not one, a file of another type", async () => {
    const notForm = await post('/v1/audio/transcriptions', { model: 'stt' });
    expect(notForm.status).toBe(400);
    expect(gatewayViolations(openai, 'ErrorResponse', await notForm.json())).toEqual([]);
    const f = form({ model: 'stt' });
    f.set('file', new File([new Uint8Array(10)], 'a.exe'));
    const badFile = await upload('/v1/audio/transcriptions', f);
    expect(badFile.status).toBe(400);
    expect(gatewayViolations(openai, 'ErrorResponse', await badFile.json())).toEqual([]);
  });

  it('answers a refused upload once the client has sent it, so the client reads the answer, not a broken pipe', async () => {
    // The model comes first, so the file would stream: refused by its type, 8 MB still arriving.
    for (let i = 0; i < 3; i++) {
      const f = form({ model: 'stt' });
      f.set('file', new File([new Uint8Array(8 * 1024 * 1024)], 'a.exe'));
      const refused = await upload('/v1/audio/transcriptions', f);
      expect(refused.status).toBe(400);
      expect((await refused.json()).error.param).toBe('file');
    }
  });

  it('answers a body far over the size limit once the client has sent it, with the 413, not a reset connection', async () => {
    const big = 'x'.repeat(3_000_000); // fifteen times this deployment's 200,000-byte limit
    for (let i = 0; i < 3; i++) {
      const chat = await post('/v1/chat/completions', { model: 'gpt', messages: [{ role: 'user', content: big }] });
      expect(chat.status).toBe(413);
      expect(gatewayViolations(openai, 'ErrorResponse', await chat.json())).toEqual([]);
      const message = await post('/v1/messages', { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: big }] }, { 'anthropic-version': '2023-06-01' });
      expect(message.status).toBe(413);
      expect(gatewayViolations(anthropic, 'ErrorResponse', await message.json())).toEqual([]);
    }
  });
});

/** Requests that fail in every way a route can, with the status each must get. */
const failures: Array<[string, string, unknown, Record<string, string>, number, string?]> = [
  ['malformed JSON', '/v1/chat/completions', '{"model":', {}, 400],
  ['a field out of range', '/v1/chat/completions', { model: 'gpt', messages: hello, temperature: 9 }, {}, 400],
  ['an unknown model', '/v1/chat/completions', { model: 'no-such-model', messages: hello }, {}, 400],
  ['no key', '/v1/chat/completions', { model: 'gpt', messages: hello }, { authorization: '' }, 401],
  ['a model of another group', '/v1/chat/completions', { model: 'private', messages: hello }, {}, 403],
  ['a body over the limit', '/v1/chat/completions', { model: 'gpt', messages: [{ role: 'user', content: 'x'.repeat(250_000) }] }, {}, 413],
  ['an upstream failing', '/v1/chat/completions', { model: 'broken', messages: hello }, {}, 502],
  ['no channel', '/v1/chat/completions', { model: 'nowhere', messages: hello }, {}, 503],
  ['an upstream timing out', '/v1/chat/completions', { model: 'hangs', messages: hello }, {}, 504],
  ['malformed JSON', '/v1/embeddings', '[', {}, 400],
  ['empty input', '/v1/embeddings', { model: 'embed', input: [] }, {}, 400],
  ['malformed JSON', '/v1/responses', 'nope', {}, 400],
  ['an unknown previous response', '/v1/responses', { model: 'native', input: 'hi', previous_response_id: 'resp_unknown' }, {}, 404],
  ['an upstream failing', '/v1/responses', { model: 'broken', input: 'hi' }, {}, 502],
  ['malformed JSON', '/v1/billing/redeem', '{', {}, 400],
  ['an unknown code', '/v1/billing/redeem', { code: 'not-a-code' }, {}, 400],
  ['no Stripe configured', '/v1/billing/checkout', { amount: 10 }, {}, 503],
  ['an unknown route', '/v1/completions', {}, {}, 404],
];

describe("errors in OpenAI's shape on every OpenAI route", () => {
  it.each(failures)('%s on %s', async (_name, path, body, headers, status) => {
    const res = await post(path, body, headers);
    expect(res.status).toBe(status);
    expect(gatewayViolations(openai, 'ErrorResponse', await res.json())).toEqual([]);
  });

  it('on GET routes, a poor account, a rate limit and the admin API', async () => {
    const get = (path: string, auth = `Bearer ${key}`) => fetch(`${worker.url}${path}`, { headers: { authorization: auth } });
    for (const [res, status] of [
      [await get('/v1/models/no-such-model'), 404], [await get('/v1/usage?limit=0'), 400], [await get('/v1/billing/balance', 'Bearer sk-nope'), 401],
      [await post('/v1/chat/completions', { model: 'gpt', messages: hello }, {}, poorKey), 402],
      [await get('/admin/accounts/none', `Bearer ${ADMIN}`), 404], [await get('/admin/accounts/none', 'Bearer wrong'), 401],
    ] as const) {
      expect(res.status).toBe(status);
      expect(gatewayViolations(openai, 'ErrorResponse', await res.json())).toEqual([]);
    }
    const limited = await admin('POST', '/accounts', { email: 'limited@example.com', credit: 5 });
    const { key: oneAMinute } = await admin('POST', `/accounts/${limited.id}/keys`, { name: 'one', rpm: 1 });
    await post('/v1/chat/completions', { model: 'echo', messages: hello }, {}, oneAMinute);
    const refused = await post('/v1/chat/completions', { model: 'echo', messages: hello }, {}, oneAMinute);
    expect(refused.status).toBe(429);
    expect(gatewayViolations(openai, 'ErrorResponse', await refused.json())).toEqual([]);
  });

  it('inside a chat stream that dies: an error event in the same shape', async () => {
    const events = sse(await (await post('/v1/chat/completions', { model: 'dies', messages: hello, stream: true })).text());
    const error = events.find((e) => e.event === 'error');
    expect(error).toBeDefined();
    expect(gatewayViolations(openai, 'ErrorResponse', error!.data)).toEqual([]);
  });
});

describe("errors in Anthropic's shape on /v1/messages", () => {
  const messages = (body: unknown, headers: Record<string, string> = {}, withKey = key) =>
    post('/v1/messages', body, { 'anthropic-version': '2023-06-01', ...headers }, withKey);
  const message = { model: 'claude', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };

  it.each([
    ['malformed JSON', '{', {}, 400],
    ['a missing max_tokens', { model: 'claude', messages: message.messages }, {}, 400],
    ['no key', message, { authorization: '' }, 401],
    ['an unknown model', { ...message, model: 'no-such-model' }, {}, 404],
    ['a model of another group', { ...message, model: 'private' }, {}, 403],
    ['a body over the limit', { ...message, messages: [{ role: 'user', content: 'x'.repeat(250_000) }] }, {}, 413],
    ['no channel', { ...message, model: 'nowhere' }, {}, 529],
    ['an upstream timing out', { ...message, model: 'hangs' }, {}, 504],
  ] as const)('%s', async (_name, body, headers, status) => {
    const res = await messages(body, headers);
    expect(res.status).toBe(status);
    const error = await res.json();
    expect(ANTHROPIC_ERROR_TYPES).toContain(error.error.type);
    expect(gatewayViolations(anthropic, 'ErrorResponse', error)).toEqual([]);
  });

  it('a poor account (402 billing_error), a rate limit, and an error event inside a stream that dies', async () => {
    const poor = await messages(message, {}, poorKey);
    expect(poor.status).toBe(402);
    const billing = await poor.json();
    expect(billing.error.type).toBe('billing_error');
    expect(gatewayViolations(anthropic, 'ErrorResponse', billing)).toEqual([]);
    const limited = await admin('POST', '/accounts', { email: 'limited-messages@example.com', credit: 5 });
    const { key: oneAMinute } = await admin('POST', `/accounts/${limited.id}/keys`, { name: 'one', rpm: 1 });
    await messages({ ...message, model: 'echo' }, {}, oneAMinute);
    const refused = await messages({ ...message, model: 'echo' }, {}, oneAMinute);
    expect(refused.status).toBe(429);
    expect(gatewayViolations(anthropic, 'ErrorResponse', await refused.json())).toEqual([]);
    const events = sse(await (await messages({ ...message, model: 'claude-dies', stream: true })).text());
    const error = events.find((e) => e.event === 'error');
    expect(error).toBeDefined();
    expect(gatewayViolations(anthropic, 'ErrorResponse', error!.data)).toEqual([]);
  });
});

describe('the Responses API: whole responses and every event against the member its type names', () => {
  /** Each event against the ResponseStreamEvent member its type names; the upstream's own deviations by type. */
  function checkEvents(events: Event[], upstream: Event[] = []) {
    const own = new Map<string, Set<string>>();
    for (const e of upstream) {
      const member = openai.member('ResponseStreamEvent', e.data.type);
      if (member) for (const v of openai.check(member, e.data)) (own.get(e.data.type) ?? own.set(e.data.type, new Set()).get(e.data.type)!).add(v);
    }
    for (const e of events) {
      const member = openai.member('ResponseStreamEvent', e.data.type);
      expect(member, `no ResponseStreamEvent member for ${e.data.type}`).not.toBeNull();
      expect(e.event).toBe(e.data.type);
      const mine = openai.check(member!, e.data).filter((v) => !own.get(e.data.type)?.has(v));
      expect(mine, `${e.data.type}: ${JSON.stringify(e.data).slice(0, 400)}`).toEqual([]);
    }
  }

  it.each([
    ['passed through', 'native', 'openai-responses/responses-nonstream-text-cached-reasoning-gpt-5.3-codex.json', 'openai-responses/responses-stream-text-cached-reasoning-gpt-5.3-codex.chunks.txt'],
    ['passed through, function calls', 'native-tools', 'openai-responses/azure-responses-nonstream-function-call-gpt-5.1.json', 'openai-responses/responses-stream-function-call-gpt-5.4.chunks.txt'],
    ['translated from chat', 'gpt', null, null],
    ['translated from chat, tool calls', 'gpt-tools', null, null],
    ['translated from chat, reasoning', 'gpt-reasoning', null, null],
    ['from the echo channel', 'echo', null, null],
  ] as const)('%s', async (_name, model, whole, stream) => {
    const body = { model, input: 'What is the weather in San Francisco?', tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } }], store: false };
    const res = await post('/v1/responses', body);
    expect(res.status).toBe(200);
    expect(gatewayViolations(openai, 'Response', await res.json(), recordedWhole(whole))).toEqual([]);
    const streamed = await post('/v1/responses', { ...body, stream: true });
    expect(streamed.status).toBe(200);
    checkEvents(sse(await streamed.text()), stream ? recorded(stream) : []);
  });

  it('an error inside a stream that dies is an `error` event of the Responses API', async () => {
    for (const model of ['native-dies', 'dies']) {
      const events = sse(await (await post('/v1/responses', { model, input: 'hi', stream: true })).text());
      const error = events.find((e) => e.event === 'error');
      expect(error, model).toBeDefined();
      checkEvents([error!]);
    }
  });
});

describe('the Messages API: whole messages and every event', () => {
  const upstreamEvents = (fixture: string) => recorded(fixture).filter((e) => e.data.type !== 'ping');
  function checkEvents(events: Event[], upstream: Event[] = []) {
    events.filter((e) => e.data.type !== 'ping').forEach((e, i) => {
      const member = anthropic.member('MessageStreamEvent', e.data.type);
      expect(member, `no MessageStreamEvent member for ${e.data.type}`).not.toBeNull();
      expect(e.event).toBe(e.data.type);
      expect(gatewayViolations(anthropic, member!, e.data, upstream[i]?.data), `${e.data.type}: ${JSON.stringify(e.data).slice(0, 300)}`).toEqual([]);
    });
  }

  it.each([
    ['native', 'claude', 'anthropic/messages-nonstream-text-then-tool-use-no-args.json', 'anthropic/messages-stream-raw-sse-text-then-tool-use-sonnet-4.sse'],
    ['native, thinking', 'claude-thinking', 'anthropic/messages-nonstream-text-sonnet-4-5.json', 'anthropic/messages-stream-raw-sse-extended-thinking-sonnet-4.sse'],
    ['translated from chat', 'gpt', null, null],
    ['translated from chat, tool calls', 'gpt-tools', null, null],
    ['translated from chat, reasoning', 'gpt-reasoning', null, null],
    ['from the echo channel', 'echo', null, null],
  ] as const)('%s', async (_name, model, whole, stream) => {
    const body = { model, max_tokens: 1000, messages: [{ role: 'user', content: 'What is the weather in San Francisco?' }], tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }] };
    const headers = { 'anthropic-version': '2023-06-01' };
    const res = await post('/v1/messages', body, headers);
    expect(res.status).toBe(200);
    expect(gatewayViolations(anthropic, 'Message', await res.json(), recordedWhole(whole))).toEqual([]);
    const streamed = await post('/v1/messages', { ...body, stream: true }, headers);
    checkEvents(sse(await streamed.text()), stream ? upstreamEvents(stream) : []);
  });

  it('count_tokens', async () => {
    const res = await post('/v1/messages/count_tokens', { model: 'claude', messages: [{ role: 'user', content: 'hi' }] }, { 'anthropic-version': '2023-06-01' });
    expect(res.status).toBe(200);
    expect(anthropic.check('BetaCountMessageTokensResponse', await res.json())).toEqual([]);
  });
});

describe('what was excused', () => {
  it('is only what the recordings themselves break, and what the Anthropic spec predates', () => {
    expect([...excused].sort()).toEqual([
      // Thinking blocks and deltas, and 402/413/504's error types: documented by Anthropic since November 2024.
      'spec gap: ContentBlockDeltaEvent /delta/type must be equal to one of the allowed values ["text_delta","input_json_delta"]',
      'spec gap: ContentBlockStartEvent /content_block/type must be equal to one of the allowed values ["text","tool_use"]',
      'spec gap: ErrorResponse /error/type must be equal to one of the allowed values ["invalid_request_error","authentication_error","permission_error","not_found_error","rate_limit_error","api_error","overloaded_error"]',
      'spec gap: Message /content/0/type must be equal to one of the allowed values ["text","tool_use"]',
      // Anthropic's extended-thinking recording (passed through).
      'upstream\'s own: anthropic ContentBlockDeltaEvent /delta/type must be equal to one of the allowed values ["text_delta","input_json_delta"]',
      'upstream\'s own: anthropic ContentBlockStartEvent /content_block/type must be equal to one of the allowed values ["text","tool_use"]',
      // Groq's and DeepSeek's whole answers: no content/refusal on a tool-call message, Groq's own service tier.
      // OpenAI's own published stream examples (images, transcription) leave out fields their schemas require.
      "upstream's own: openai CreateTranscriptionResponseStreamEvent /usage must have required property 'type'",
      ...['background', 'created_at', 'output_format', 'quality', 'size'].flatMap((field) => [
        `upstream's own: openai ImageEditStreamEvent (root) must have required property '${field}'`,
        `upstream's own: openai ImageGenStreamEvent (root) must have required property '${field}'`,
      ]),
      "upstream's own: openai CreateChatCompletionResponse /choices/0/message must have required property 'content'",
      "upstream's own: openai CreateChatCompletionResponse /choices/0/message must have required property 'refusal'",
      'upstream\'s own: openai CreateChatCompletionResponse /service_tier must be equal to one of the allowed values ["auto","default","flex","scale","priority","fast"]',
      "upstream's own: openai CreateChatCompletionResponse /service_tier must be null",
      "upstream's own: openai CreateChatCompletionResponse /service_tier must match a schema in anyOf",
      // Azure's Responses recording leaves out fields OpenAI's spec requires; 2025 recordings predate cache_write_tokens.
      "upstream's own: openai Response (root) must have required property 'error'",
      "upstream's own: openai Response (root) must have required property 'incomplete_details'",
      "upstream's own: openai Response (root) must have required property 'instructions'",
      "upstream's own: openai Response (root) must have required property 'metadata'",
      "upstream's own: openai Response (root) must have required property 'parallel_tool_calls'",
      "upstream's own: openai Response (root) must have required property 'temperature'",
      "upstream's own: openai Response (root) must have required property 'tool_choice'",
      "upstream's own: openai Response (root) must have required property 'tools'",
      "upstream's own: openai Response (root) must have required property 'top_p'",
      "upstream's own: openai Response /usage/input_tokens_details must have required property 'cache_write_tokens'",
      "upstream's own: openai Response /user must be string",
    ].sort());
  });
});
