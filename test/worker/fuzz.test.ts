import { runInDurableObject } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ADMIN_TOKEN, accountObject, call, db, newAccount, newKey, newModel, recordedRequests, signStripe, unique, usageRow,
} from './helpers';

/**
 * Property-based fuzzing of every customer route, the admin API and the Stripe webhook,
 * in workerd against the real worker: generated bodies, headers and query strings. For
 * every answer: below 500, an x-request-id, and OpenAI's error shape when it is an error.
 * For every rejected input: the account's balance, ledger and usage rows are unchanged and
 * the fake upstream saw nothing. The seed is printed; FUZZ_SEED=<seed> npm test replays a
 * run. RUNS is the number of generated inputs per property.
 */
const seed = inject('fuzzSeed');
const RUNS = { chat: 600, messages: 300, responses: 200, embeddings: 300, media: 300, uploads: 150, customer: 300, webhook: 300, admin: 500 };
let total = 0;

let key: string;
let accountId: string;
let model: string;
let embeddingModel: string;
let claudeModel: string;
let translatedModel: string;
let responsesModel: string;
let noResponsesModel: string;
const media: Record<'image' | 'speech' | 'moderation' | 'transcription', string> = { image: '', speech: '', moderation: '', transcription: '' };
let tag: string;

beforeAll(async () => {
  console.log(`fuzz seed: ${seed} (rerun with FUZZ_SEED=${seed})`);
  tag = unique('fuzz');
  const account = await newAccount({ credit: 1000 });
  accountId = account.id;
  key = (await newKey(account.id)).key;
  ({ model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag},stream=openai~chat-stream-text-gpt-4o.sse` }]));
  ({ model: embeddingModel } = await newModel([{ fixture: 'openai/embeddings-response.openapi-example.json', options: `id=${tag}` }]));
  ({ model: claudeModel } = await newModel([{
    kind: 'anthropic', fixture: 'anthropic/messages-nonstream-text-sonnet-4-5.json', options: `id=${tag},stream=anthropic~messages-stream-text-sonnet-4-5.chunks.txt`,
  }]));
  ({ model: responsesModel } = await newModel([{
    fixture: 'openai-responses/responses-nonstream-text-gpt-4.1-nano.json', options: `id=${tag},stream=openai-responses~responses-stream-text-gpt-4.1-nano.chunks.txt`,
  }]));
  ({ model: noResponsesModel } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag},stream=openai~chat-stream-text-gpt-4o.sse`, responses: false }]));
  ({ model: translatedModel } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag},stream=openai~chat-stream-text-gpt-4o.sse` }]));
  const unitPrices = { input_price: 0, output_price: 0, image_prices: { '*': 0.04 }, character_price: 15, audio_minute_price: 0.006 };
  for (const [name, fixture] of [['image', 'spec/images/generations/0'], ['speech', 'audio/pluck-pcm16.wav'], ['moderation', 'spec/moderations/0'], ['transcription', 'spec/audio/transcriptions/1']] as const) {
    // A streamed image request gets the published streamed answer, as from OpenAI.
    const stream = name === 'image' ? ',stream=spec~images~generations~1' : '';
    ({ model: media[name] } = await newModel([{ fixture, options: `id=${tag}${stream}` }], unitPrices));
  }
});

interface Input {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** What must not change when an input is refused: what the account can spend, its ledger
 *  (but for the flushes of earlier accepted requests, which land when they are due), its
 *  usage rows, and what reached the upstream. */
async function snapshot() {
  const ledger = await db
    .prepare("SELECT COUNT(*) AS n FROM ledger WHERE account_id = ? AND kind != 'settlement'")
    .bind(accountId)
    .first<{ n: number }>();
  // In the account's object, in one visit: what it can spend (its balance as of its last
  // flush, less open holds and charges not flushed — a flush landing meanwhile changes
  // neither) and how many usage rows it has.
  const object = await runInDurableObject(accountObject(accountId), (_instance, state) =>
    state.storage.sql.exec(
      `SELECT (SELECT balance FROM funds) - (SELECT COALESCE(SUM(amount), 0) FROM holds)
              - (SELECT COALESCE(SUM(cost), 0) FROM usage WHERE flush IS NULL OR flush > (SELECT seq FROM funds)) AS spendable,
              (SELECT COUNT(*) FROM usage) AS usage`,
    ).one());
  return { ...object, ledger: ledger!.n, upstream: (await recordedRequests(tag)).length };
}

async function check(input: Input): Promise<void> {
  total++;
  const before = await snapshot();
  const res = await call(input.path, { method: input.method, headers: input.headers, body: input.body });
  const text = await res.text();
  const where = `${input.method} ${input.path} ${(input.body ?? '').slice(0, 200)}`;
  expect(res.status, where).toBeLessThan(500);
  expect(res.headers.get('x-request-id'), where).toMatch(/^[0-9a-f-]{36}$/);
  if (res.status >= 400) {
    const body = JSON.parse(text) as { type?: unknown; error: Record<string, unknown> };
    expect(typeof body.error.message, where).toBe('string');
    expect(typeof body.error.type, where).toBe('string');
    if (input.path.startsWith('/v1/messages')) {
      expect(body.type, where).toBe('error'); // Anthropic's shape on its routes
    } else {
      expect(typeof body.error.code, where).toBe('string');
      expect('param' in body.error, where).toBe(true);
    }
    expect(await snapshot(), where).toEqual(before);
  } else if (/^\/v1\/(chat\/completions|embeddings|responses|messages(\?|$)|images|audio|moderations)/.test(input.path)) {
    await usageRow(res.headers.get('x-request-id')!, 5000, accountId); // let its settlement land before the next input
  }
}

const json = fc.jsonValue({ maxDepth: 4 });
/** Numbers at and beyond the edges of every documented range. */
const edgeNumber = fc.oneof(
  fc.constantFrom(-1e300, -101, -100, -2.0001, -2, -1, -0.5, 0, 0.5, 1, 1.0001, 2, 2.0001, 4, 5, 20, 21, 100, 101, 128, 129, 2048, 2049, 2 ** 53, 1e300),
  fc.double({ noNaN: true }),
  fc.integer(),
);
const value = fc.oneof(json, edgeNumber, fc.string(), fc.constant(null), fc.array(fc.string(), { maxLength: 6 }));
const deep = fc.integer({ min: 20, max: 3000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);

/** A valid body with some fields replaced, dropped or added, or something else entirely. */
function mutated(base: () => Record<string, unknown>, fields: string[]): fc.Arbitrary<string> {
  const patch = fc.array(fc.tuple(fc.constantFrom(...fields, 'extra_field'), fc.option(value, { nil: undefined })), { minLength: 1, maxLength: 3 });
  return fc.oneof(
    { weight: 6, arbitrary: patch.map((changes) => {
      const body = base();
      for (const [field, v] of changes) {
        const [top, sub] = field.split('.') as [string, string | undefined];
        if (sub === undefined) body[top] = v;
        else body[top] = [{ ...((body[top] as Array<Record<string, unknown>> | undefined)?.[0] ?? {}), [sub]: v }];
      }
      return JSON.stringify(body);
    }) },
    { weight: 1, arbitrary: json.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: deep.map((d) => JSON.stringify(base()).replace(/}$/, `,"x":${d}}`)) },
  );
}

/** The key sent, in every way a client might get it wrong (or right). */
const auth = () =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant({ authorization: `Bearer ${key}` }) },
    { weight: 1, arbitrary: fc.constant({ 'x-api-key': key }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 80 }).map((s) => ({ authorization: `Bearer ${s}`.replace(/[\r\n\0]/g, '') })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 80 }).map((s) => ({ 'x-api-key': s.replace(/[\r\n\0]/g, '') })) },
    { weight: 1, arbitrary: fc.constant({}) },
  );

const withJson = (h: Record<string, string>) => ({ ...h, 'content-type': 'application/json' });
const query = fc.oneof(fc.string({ maxLength: 30 }), edgeNumber.map(String)).map(encodeURIComponent);
const property = (arb: fc.Arbitrary<Input>, numRuns: number) =>
  fc.assert(fc.asyncProperty(arb, check), { seed, numRuns, endOnFailure: true });

// Bounded by RUNS in count; the time bound is generous because each input visits D1, the
// account's object and the fake upstream twice, and CI machines are slower than ours.
describe('fuzz: generated inputs never break the gateway, and refused ones change nothing', { timeout: 60_000 }, () => {
  it('POST /v1/chat/completions', async () => {
    const chatFields = ['model', 'messages', 'messages.role', 'messages.content', 'messages.tool_calls', 'messages.tool_call_id', 'temperature',
      'top_p', 'n', 'max_tokens', 'max_completion_tokens', 'presence_penalty', 'frequency_penalty', 'stop', 'logit_bias', 'logprobs',
      'top_logprobs', 'seed', 'user', 'tools', 'tool_choice', 'response_format', 'stream', 'stream_options'];
    const base = () => ({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 });
    await property(fc.record({ h: auth(), body: mutated(base, chatFields) })
      .map(({ h, body }) => ({ method: 'POST', path: '/v1/chat/completions', headers: withJson(h), body })), RUNS.chat);
  });

  it('POST /v1/messages and count_tokens, passed through and translated', async () => {
    const fields = ['model', 'max_tokens', 'messages', 'messages.role', 'messages.content', 'system', 'tools', 'tool_choice', 'stop_sequences',
      'temperature', 'top_p', 'top_k', 'metadata', 'thinking', 'stream', 'context_management', 'output_config'];
    const base = (m: string) => () => ({ model: m, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const input = fc.record({
      h: auth(),
      body: fc.oneof(mutated(base(claudeModel), fields), mutated(base(translatedModel), fields)),
      path: fc.constantFrom('/v1/messages', '/v1/messages?beta=true', '/v1/messages/count_tokens'),
    }).map(({ h, body, path }) => ({ method: 'POST', path, headers: withJson({ ...h, 'anthropic-version': '2023-06-01' }), body }));
    await property(input, RUNS.messages);
  });

  it('POST /v1/responses, passed through and translated', async () => {
    const fields = ['model', 'input', 'instructions', 'max_output_tokens', 'temperature', 'top_p', 'tools', 'tool_choice', 'stream', 'store',
      'previous_response_id', 'reasoning', 'text', 'parallel_tool_calls'];
    const base = (m: string) => () => ({ model: m, input: 'hi', max_output_tokens: 16 });
    const input = fc.record({ h: auth(), body: fc.oneof(mutated(base(responsesModel), fields), mutated(base(noResponsesModel), fields)) })
      .map(({ h, body }) => ({ method: 'POST', path: '/v1/responses', headers: withJson(h), body }));
    await property(input, RUNS.responses);
  });

  it('POST /v1/embeddings', async () => {
    const base = () => ({ model: embeddingModel, input: 'hello' });
    await property(fc.record({ h: auth(), body: mutated(base, ['model', 'input', 'encoding_format', 'dimensions', 'user']) })
      .map(({ h, body }) => ({ method: 'POST', path: '/v1/embeddings', headers: withJson(h), body })), RUNS.embeddings);
  });

  it('POST /v1/images/generations, /v1/audio/speech and /v1/moderations', async () => {
    const bases: Array<[string, () => Record<string, unknown>, string[]]> = [
      ['/v1/images/generations', () => ({ model: media.image, prompt: 'An otter', size: '1024x1024' }), ['model', 'prompt', 'n', 'size', 'quality', 'response_format', 'stream', 'partial_images']],
      ['/v1/audio/speech', () => ({ model: media.speech, input: 'Hello', voice: 'alloy' }), ['model', 'input', 'voice', 'speed', 'response_format', 'stream_format', 'instructions']],
      ['/v1/moderations', () => ({ model: media.moderation, input: 'Hello' }), ['model', 'input', 'input.type', 'input.text']],
    ];
    await property(fc.record({ h: auth(), which: fc.constantFrom(0, 1, 2) }).chain(({ h, which }) => {
      const [path, base, fields] = bases[which]!;
      return mutated(base, fields).map((body) => ({ method: 'POST', path, headers: withJson(h), body }));
    }), RUNS.media);
  });

  it('POST /v1/audio/transcriptions and /v1/images/edits: generated multipart forms, and bodies that are not forms', async () => {
    const part = fc.tuple(fc.constantFrom('model', 'file', 'image', 'mask', 'response_format', 'n', 'size', 'stream', 'prompt', 'temperature', 'x'),
      fc.oneof(fc.string({ maxLength: 40 }), edgeNumber.map(String)), fc.boolean());
    const input = fc.record({
      h: auth(), path: fc.constantFrom('/v1/audio/transcriptions', '/v1/images/edits'), parts: fc.array(part, { maxLength: 6 }),
      valid: fc.boolean(), raw: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }), boundary: fc.constantFrom('b0undary', 'x', ''),
    }).map(({ h, path, parts, valid, raw, boundary }): Input => {
      const all: Array<[string, string, boolean]> = valid
        ? [['model', path.includes('audio') ? media.transcription : media.image, false], ['prompt', 'A beret', false], [path.includes('audio') ? 'file' : 'image', 'RIFF....WAVE', true], ...parts]
        : parts;
      const body = raw ?? `${all.map(([name, value, file]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${file ? `; filename="a.${path.includes('audio') ? 'wav' : 'png'}"` : ''}\r\n\r\n${value}\r\n`).join('')}--${boundary}--\r\n`;
      return { method: 'POST', path, headers: { ...h, 'content-type': `multipart/form-data; boundary=${boundary}` }, body };
    });
    await property(input, RUNS.uploads);
  });

  it('the other customer routes, with generated query strings and bodies', async () => {
    const input = fc.record({
      h: auth(),
      route: fc.constantFrom('models', 'model', 'usage', 'balance', 'checkout', 'unknown'),
      q: query,
      body: mutated(() => ({ amount: 10 }), ['amount']),
    }).map(({ h, route, q, body }): Input => {
      switch (route) {
        case 'models': return { method: 'GET', path: `/v1/models?${q}`, headers: h };
        case 'model': return { method: 'GET', path: `/v1/models/${q || 'x'}`, headers: h };
        case 'usage': return { method: 'GET', path: `/v1/usage?limit=${q}`, headers: h };
        case 'balance': return { method: 'GET', path: `/v1/billing/balance?${q}`, headers: h };
        case 'checkout': return { method: 'POST', path: '/v1/billing/checkout', headers: withJson(h), body };
        default: return { method: 'POST', path: `/v1/${q || 'x'}`, headers: withJson(h), body };
      }
    });
    await property(input, RUNS.customer);
  });

  it('POST /v1/billing/webhook, correctly signed and not', async () => {
    const eventBase = () => ({
      id: `evt_${crypto.randomUUID()}`, object: 'event', type: 'checkout.session.completed',
      data: { object: { id: 'cs_test_x', client_reference_id: 'top_unknown', payment_status: 'paid', currency: 'usd', amount_total: 1000 } },
    });
    const input = fc.record({
      body: mutated(eventBase, ['id', 'type', 'data', 'object']),
      signed: fc.boolean(),
      forged: fc.string({ maxLength: 60 }),
    });
    // The signature depends on the body, so the inputs are built here rather than mapped.
    await fc.assert(fc.asyncProperty(input, async ({ body, signed, forged }) => {
      const signature = signed ? await signStripe(body) : forged.replace(/[\r\n\0]/g, '');
      await check({ method: 'POST', path: '/v1/billing/webhook', headers: { 'stripe-signature': signature, 'content-type': 'application/json' }, body });
    }), { seed, numRuns: RUNS.webhook, endOnFailure: true });
  });

  it('the admin API', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const other = unique('fuzz-model');
    const routes: Array<[string, (id: string) => string, () => Record<string, unknown>, string[]]> = [
      ['POST', () => '/admin/accounts', () => ({ email: `${unique('f')}@example.com`, credit: 1 }), ['email', 'name', 'group', 'credit', 'rpm', 'tpm']],
      ['POST', () => `/admin/accounts/${accountId}/credit`, () => ({ amount: 1, reason: 'fuzz' }), ['amount', 'reason']],
      ['POST', () => `/admin/accounts/${accountId}/keys`, () => ({ name: 'k' }), ['name', 'rpm', 'tpm', 'max_concurrency', 'models', 'expires_at', 'spend_limit']],
      ['PUT', () => `/admin/models/${other}`, () => ({ input_price: 1, output_price: 2 }),
        ['input_price', 'output_price', 'cached_input_price', 'cache_write_price', 'max_output_tokens', 'owned_by', 'groups']],
      ['PUT', (id) => `/admin/channels/${id || 'c'}`, () => ({ kind: 'openai', base_url: 'https://api.example.com/v1', api_key_secret: 'X_KEY', models: { [other]: 'u' } }),
        ['kind', 'base_url', 'api_key_secret', 'models', 'priority', 'weight', 'enabled']],
      ['GET', (id) => `/admin/accounts/${id || 'x'}`, () => ({}), []],
      ['GET', (id) => `/admin/accounts/${accountId}/ledger?${id}`, () => ({}), []],
      ['GET', (id) => `/admin/usage?account=${id}&limit=${id}`, () => ({}), []],
      ['DELETE', (id) => `/admin/keys/${id || 'x'}`, () => ({}), []],
    ];
    const input = fc.record({
      index: fc.nat({ max: routes.length - 1 }),
      id: query,
      token: fc.oneof({ weight: 5, arbitrary: fc.constant(admin) }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => ({ authorization: `Bearer ${s.replace(/[\r\n\0]/g, '')}` })) }),
      bodies: fc.tuple(...routes.map(([, , base, fields]) => (fields.length ? mutated(base, fields) : fc.constant('')))),
    }).map(({ index, id, token, bodies }): Input => {
      const [method, path] = routes[index]!;
      const body = bodies[index] || undefined;
      return { method, path: path(id), headers: withJson(token), body: method === 'GET' || method === 'DELETE' ? undefined : body };
    });
    await property(input, RUNS.admin);
    console.log(`fuzz: ${total} generated inputs, seed ${seed}`);
  });
});
