import { describe, expect, inject, it } from 'vitest';
import {
  adminCall, balanceOf, call, ledgerInvariantAfterEachTest, newAccount, newKey, newModel, recordedRequests, unique, usageCount, usageRow,
} from './helpers';

/**
 * OpenAI's image, audio and moderation APIs on `openai` channels, each priced in its own
 * unit (billing/units.ts) against the answers OpenAI publishes in its API reference (the
 * fake upstream's `spec/…` fixtures) and recorded audio: the exact cost to the µ$, 402
 * before any upstream call, failures free, the ledger invariant after each test.
 */
const accounts = ledgerInvariantAfterEachTest();

async function customer(credit = 10) {
  const account = await newAccount({ credit });
  accounts.push(account.id);
  const { key } = await newKey(account.id);
  return { account, key };
}

describe('POST /v1/moderations', () => {
  it('is priced per 1M input characters (code points) of its text, image inputs free; the public model id answers', async () => {
    const tag = unique('mod');
    const { model } = await newModel([{ fixture: 'spec/moderations/1', options: `id=${tag}` }], { input_price: 0, output_price: 0, character_price: 3 });
    const { account, key } = await customer();
    const input = [{ type: 'text', text: 'I want to kill them 🔪' }, { type: 'image_url', image_url: { url: 'https://example.com/image.png' } }];
    const res = await call('/v1/moderations', { method: 'POST', key, json: { model, input } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.model).toBe(model);
    expect(body.results[0].flagged).toBe(true);
    const [sent] = await recordedRequests(tag);
    expect(sent!.path).toMatch(/\/moderations$/);
    expect(sent!.body).toEqual({ model: 'upstream-model', input });
    const row = await usageRow(res.headers.get('x-request-id')!);
    const chars = 21; // 'I want to kill them 🔪': the knife is one character
    expect(row).toMatchObject({ unit: 'characters', quantity: chars, cost: Math.ceil((chars * 3_000_000) / 1_000_000), input_tokens: 0, output_tokens: 0 });
    expect(await balanceOf(account.id)).toBe(10_000_000 - row.cost);
  });

  it('a model without a character price is not sold for moderations (400), and nothing is held or sent', async () => {
    const tag = unique('mod');
    const { model } = await newModel([{ fixture: 'spec/moderations/0', options: `id=${tag}` }]);
    const { account, key } = await customer();
    const res = await call('/v1/moderations', { method: 'POST', key, json: { model, input: 'hello' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ code: 'model_not_found', param: 'model' });
    expect(await recordedRequests(tag)).toEqual([]);
    expect(await usageCount(account.id)).toBe(0);
    const bad = await call('/v1/moderations', { method: 'POST', key, json: { model, input: [{ type: 'audio', audio: 'x' }] } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.param).toMatch(/^input/);
  });

  it('402 before any call when the characters cost more than the balance; a failed call costs nothing', async () => {
    const tag = unique('mod');
    const { model } = await newModel([{ fixture: 'spec/moderations/0', options: `id=${tag},status=500` }], { input_price: 0, output_price: 0, character_price: 1 });
    const { account, key } = await customer(0.001); // 1,000 µ$: 1,000 characters at $1 per 1M
    const tooLong = await call('/v1/moderations', { method: 'POST', key, json: { model, input: 'x'.repeat(1001) } });
    expect(tooLong.status).toBe(402);
    expect(await recordedRequests(tag)).toEqual([]);
    const failed = await call('/v1/moderations', { method: 'POST', key, json: { model, input: 'x'.repeat(1000) } });
    expect(failed.status).toBe(502);
    expect((await usageRow(failed.headers.get('x-request-id')!)).cost).toBe(0);
    expect(await balanceOf(account.id)).toBe(1000);
    expect((await adminCall('GET', `/accounts/${account.id}`)).status).toBe(200);
  });
});

describe('POST /v1/images/generations', () => {
  const IMAGE_PRICES = { '1024x1024/high': 0.167, '1024x1024': 0.04, '*': 0.25 };

  it('per image at the size and quality asked, when the model prices no tokens; the answer passed through', async () => {
    const tag = unique('img');
    const { model } = await newModel([{ fixture: 'spec/images/generations/0', options: `id=${tag}` }], { input_price: 0, output_price: 0, image_prices: IMAGE_PRICES });
    const { account, key } = await customer();
    const res = await call('/v1/images/generations', { method: 'POST', key, json: { model, prompt: 'A cute baby sea otter', size: '1024x1024', quality: 'high' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.data).toEqual([{ b64_json: '...' }]);
    const [sent] = await recordedRequests(tag);
    expect(sent!.body).toEqual({ model: 'upstream-model', prompt: 'A cute baby sea otter', size: '1024x1024', quality: 'high' });
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ unit: 'images', quantity: 1, cost: 167_000 });
    expect(body.usage.cost).toBe(0.167);
    expect(await balanceOf(account.id)).toBe(10_000_000 - 167_000);
  });

  it('its tokens, where the answer reports them and the model prices tokens: text, image input and image output each at its price', async () => {
    const { model } = await newModel([{ fixture: 'spec/images/generations/0' }], {
      input_price: 5, output_price: 10, image_input_price: 10, image_output_price: 40, image_prices: IMAGE_PRICES,
    });
    const { key } = await customer();
    const res = await call('/v1/images/generations', { method: 'POST', key, json: { model, prompt: 'An otter' } });
    expect(res.status).toBe(200);
    // The published answer: 50 input tokens (10 text, 40 image), 50 output (image) tokens.
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ unit: 'tokens', quantity: null, input_tokens: 50, output_tokens: 50, cost: 10 * 5 + 40 * 10 + 50 * 40 });
    expect(((await res.json()) as any).usage.cost).toBe(0.00245);
  });

  it('streamed: the partial and completed images passed through byte for byte, the completed image charged', async () => {
    const { model } = await newModel([{ fixture: 'spec/images/generations/1' }], { input_price: 0, output_price: 0, image_prices: IMAGE_PRICES });
    const { key } = await customer();
    const res = await call('/v1/images/generations', { method: 'POST', key, json: { model, prompt: 'An otter', stream: true, partial_images: 1, size: '1536x1024', quality: 'low' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(text).toContain('event: image_generation.partial_image\n');
    expect(text).toContain('"type":"image_generation.completed"');
    expect(text).not.toContain('event: error');
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ unit: 'images', quantity: 1, cost: 250_000, status: 'success' }); // '*': no price for 1536x1024 itself
  });

  it('holds n × the dearest price the size and quality allow: 402 before any call; bad sizes and counts are 400s; failures free', async () => {
    const tag = unique('img');
    const { model } = await newModel([{ fixture: 'spec/images/generations/0', options: `id=${tag},status=500` }], { input_price: 0, output_price: 0, image_prices: IMAGE_PRICES });
    const { account, key } = await customer(1);
    // size auto, quality auto: the dearest price listed ($0.25) × 5 = $1.25 > $1.
    const refused = await call('/v1/images/generations', { method: 'POST', key, json: { model, prompt: 'x', n: 5 } });
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as any).error.message).toContain('$1.25');
    for (const [field, value] of [['size', 'huge'], ['n', 11], ['quality', 'ultra'], ['response_format', 'png'], ['prompt', '']] as const) {
      const res = await call('/v1/images/generations', { method: 'POST', key, json: { model, prompt: 'x', [field]: value } });
      expect(res.status, field).toBe(400);
      expect(((await res.json()) as any).error.param).toBe(field);
    }
    expect(await recordedRequests(tag)).toEqual([]);
    const failed = await call('/v1/images/generations', { method: 'POST', key, json: { model, prompt: 'x', n: 4 } });
    expect(failed.status).toBe(502);
    expect((await usageRow(failed.headers.get('x-request-id')!)).cost).toBe(0);
    expect(await balanceOf(account.id)).toBe(1_000_000);
    const unpriced = await newModel([{ fixture: 'spec/images/generations/0' }]);
    const none = await call('/v1/images/generations', { method: 'POST', key, json: { model: unpriced.model, prompt: 'x' } });
    expect(none.status).toBe(400);
    expect(((await none.json()) as any).error.message).toContain('not priced for images');
  });
});

describe('POST /v1/audio/speech', () => {
  const wav = () => fetch(`${inject('upstreamUrl')}/__fixture/audio/pluck-pcm16.wav`).then(async (r) => new Uint8Array(await r.arrayBuffer()));

  it('the audio passed through byte for byte as it comes, with its type; priced per 1M characters', async () => {
    const tag = unique('tts');
    const { model } = await newModel([{ fixture: 'audio/pluck-pcm16.wav', options: `id=${tag},delay=5` }], { input_price: 0, output_price: 0, character_price: 15 });
    const { account, key } = await customer();
    const input = 'Today is a wonderful day to build something people love!';
    const res = await call('/v1/audio/speech', { method: 'POST', key, json: { model, input, voice: 'coral', response_format: 'wav' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(await wav());
    const [sent] = await recordedRequests(tag);
    expect(sent!.body).toEqual({ model: 'upstream-model', input, voice: 'coral', response_format: 'wav' });
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ unit: 'characters', quantity: input.length, cost: Math.ceil((input.length * 15_000_000) / 1_000_000), status: 'success' });
    expect(await balanceOf(account.id)).toBe(10_000_000 - row.cost);
  });

  it('an upstream that dies mid-audio costs nothing; a client that leaves after the audio began pays for its characters', async () => {
    const died = await newModel([{ fixture: 'audio/pluck-pcm16.wav', options: 'die=2' }], { input_price: 0, output_price: 0, character_price: 15 });
    const { key } = await customer();
    const res = await call('/v1/audio/speech', { method: 'POST', key, json: { model: died.model, input: 'Hello there', voice: 'alloy' } });
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ status: 'failed', cost: 0 });

    const slow = await newModel([{ fixture: 'audio/pluck-pcm16.wav', options: 'delay=200' }], { input_price: 0, output_price: 0, character_price: 15 });
    const controller = new AbortController();
    const left = await call('/v1/audio/speech', { method: 'POST', key, json: { model: slow.model, input: 'Hello there', voice: 'alloy' }, signal: controller.signal });
    const reader = left.body!.getReader();
    expect((await reader.read()).value!.byteLength).toBeGreaterThan(0);
    controller.abort();
    await reader.cancel().catch(() => {});
    expect(await usageRow(left.headers.get('x-request-id')!)).toMatchObject({ status: 'cancelled', unit: 'characters', quantity: 11, cost: Math.ceil((11 * 15_000_000) / 1_000_000) });
  });

  it("OpenAI's parameters checked before anything is held: no unknown field, speed 0.25–4, a listed format, at most 4096 characters", async () => {
    const tag = unique('tts');
    const { model } = await newModel([{ fixture: 'audio/pluck-pcm16.wav', options: `id=${tag}` }], { input_price: 0, output_price: 0, character_price: 15 });
    const { key } = await customer();
    const ok = { model, input: 'hi', voice: 'alloy' };
    for (const [field, value] of [['speed', 5], ['response_format', 'ogg'], ['input', 'x'.repeat(4097)], ['stream_format', 'chunks'], ['voice', 3], ['colour', 'blue']] as const) {
      const res = await call('/v1/audio/speech', { method: 'POST', key, json: { ...ok, [field]: value } });
      expect(res.status, field).toBe(400);
    }
    expect(await recordedRequests(tag)).toEqual([]);
  });
});
