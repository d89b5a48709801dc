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
    // The public pricing page lists the prices per image.
    const pricing = await (await call('/pricing')).text();
    expect(pricing).toContain('$0.167 / image (1024x1024, high)');
    expect(pricing).toContain('$0.25 / image (*)');
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

describe('POST /v1/audio/transcriptions and /v1/audio/translations', () => {
  const wav = async () => new Uint8Array(await (await fetch(`${inject('upstreamUrl')}/__fixture/audio/pluck-pcm16.wav`)).arrayBuffer());
  const sha256 = async (bytes: Uint8Array) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
  /** A form as the Python SDK sends it (fields first), or the Node SDK with the file named first. */
  const form = (fields: Record<string, string>, file: Uint8Array, fileFirst = false, filename = 'speech.wav') => {
    const f = new FormData();
    const put = () => f.append('file', new File([file], filename, { type: 'audio/wav' }));
    if (fileFirst) put();
    for (const [k, v] of Object.entries(fields)) f.append(k, v);
    if (!fileFirst) put();
    return f;
  };
  const PRICES = { input_price: 0, output_price: 0, audio_minute_price: 0.006 };
  /** The bytes a form takes on the wire (its Content-Length). */
  const formSize = async (f: FormData) => (await new Request('http://x/', { method: 'POST', body: f }).arrayBuffer()).byteLength;

  it('json: the upload reaches the upstream byte for byte (fields first or file first), charged by the tokens it reports or, priced per minute, its seconds', async () => {
    const audioBytes = await wav();
    for (const fileFirst of [false, true]) {
      const tag = unique('stt');
      const { model } = await newModel([{ fixture: 'spec/audio/transcriptions/0', options: `id=${tag}` }], { ...PRICES, input_price: 2.5, output_price: 10, audio_input_price: 6 });
      const { key } = await customer();
      const res = await call('/v1/audio/transcriptions', { method: 'POST', key, body: form({ model, language: 'en' }, audioBytes, fileFirst) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as any;
      expect(body.text).toMatch(/^Imagine the wildest idea/);
      const [sent] = await recordedRequests(tag);
      expect(sent!.path).toMatch(/\/audio\/transcriptions$/);
      expect(sent!.body.fields).toEqual({ model: 'upstream-model', language: 'en' });
      expect(sent!.body.files).toEqual([{ field: 'file', filename: 'speech.wav', type: 'audio/wav', size: audioBytes.length, sha256: await sha256(audioBytes) }]);
      // The published answer: 14 audio input tokens, 45 output tokens — tokens, as the model prices them.
      const row = await usageRow(res.headers.get('x-request-id')!);
      expect(row).toMatchObject({ unit: 'tokens', input_tokens: 14, output_tokens: 45, cost: Math.ceil((14 * 6_000_000 + 45 * 10_000_000) / 1_000_000) });
      expect(body.usage.cost).toBe(row.cost / 1e6);
    }
  });

  it('priced per minute: the seconds the answer reports (diarized), and `text` asked upstream as json and answered as its text', async () => {
    const audioBytes = await wav();
    const diarized = await newModel([{ fixture: 'spec/audio/transcriptions/1' }], PRICES);
    const { key } = await customer();
    const sent = form({ model: diarized.model, response_format: 'diarized_json' }, audioBytes);
    const bound = Math.ceil((await formSize(sent)) / 750);
    const res = await call('/v1/audio/transcriptions', { method: 'POST', key, body: sent });
    expect(res.status).toBe(200);
    // The published answer is of 27 s of audio; this upload can play at most `bound` seconds,
    // so what it reports is charged only up to the hold (and alerted).
    expect(bound).toBeLessThan(27);
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({
      unit: 'seconds', quantity: 27, reported_cost: Math.ceil((27 * 6000) / 60), cost: Math.ceil((bound * 6000) / 60), capped: true,
    });

    const tag = unique('stt');
    const text = await newModel([{ fixture: 'spec/audio/transcriptions/1', options: `id=${tag}` }], PRICES);
    const asText = await call('/v1/audio/transcriptions', { method: 'POST', key, body: form({ model: text.model, response_format: 'text' }, audioBytes) });
    expect(asText.status).toBe(200);
    expect(asText.headers.get('content-type')).toContain('text/plain');
    expect(await asText.text()).toMatch(/^Agent: Thanks for calling OpenAI support\./);
    expect((await recordedRequests(tag))[0]!.body.fields.response_format).toBe('json');
    expect(await usageRow(asText.headers.get('x-request-id')!)).toMatchObject({ unit: 'seconds', quantity: 27 });
  });

  it('streamed: the transcript events passed through, charged by the done event\'s usage', async () => {
    const { model } = await newModel([{ fixture: 'spec/audio/transcriptions/2' }], { ...PRICES, input_price: 2.5, output_price: 10, audio_input_price: 6 });
    const { key } = await customer();
    const res = await call('/v1/audio/transcriptions', { method: 'POST', key, body: form({ model, stream: 'true' }, await wav()) });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('"type":"transcript.text.done"');
    expect(text).not.toContain('event: error');
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ unit: 'tokens', input_tokens: 14, output_tokens: 45, status: 'success' });
  });

  it('holds the longest the upload can play: 402 before any call; a file of another type, a bad field, no file: 400; failures free', async () => {
    const tag = unique('stt');
    const { model } = await newModel([{ fixture: 'spec/audio/transcriptions/0', options: `id=${tag},status=500` }], { ...PRICES, audio_minute_price: 60 });
    // 13,370 bytes of WAV (plus the form): at 750 bytes a second at most ~18 s, $1 a second.
    const { account, key } = await customer(5);
    const refused = await call('/v1/audio/transcriptions', { method: 'POST', key, body: form({ model }, await wav()) });
    expect(refused.status).toBe(402);
    for (const [body, param] of [
      [form({ model }, await wav(), false, 'speech.exe'), 'file'],
      [form({ model, temperature: '2' }, await wav()), 'temperature'],
      [form({ model, response_format: 'mp3' }, await wav()), 'response_format'],
      [(() => { const f = new FormData(); f.append('model', model); return f; })(), 'file'],
    ] as const) {
      const res = await call('/v1/audio/transcriptions', { method: 'POST', key, body });
      expect(res.status, param).toBe(400);
      expect(((await res.json()) as any).error.param).toBe(param);
    }
    const notForm = await call('/v1/audio/transcriptions', { method: 'POST', key, json: { model } });
    expect(notForm.status).toBe(400);
    expect(await recordedRequests(tag)).toEqual([]);
    await adminCall('POST', `/accounts/${account.id}/credit`, { amount: 100, reason: 'test' });
    const failed = await call('/v1/audio/transcriptions', { method: 'POST', key, body: form({ model }, await wav()) });
    expect(failed.status).toBe(502);
    expect((await usageRow(failed.headers.get('x-request-id')!)).cost).toBe(0);
    expect(await balanceOf(account.id)).toBe(105_000_000);
  });

  it('translations: whisper answers in English, per minute by its seconds or, with none reported, by the bound', async () => {
    const { model } = await newModel([{ fixture: 'spec/audio/translations/0' }], PRICES);
    const { key } = await customer();
    const res = await call('/v1/audio/translations', { method: 'POST', key, body: form({ model }, await wav()) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).text).toMatch(/^Hello, my name is Wolfgang/);
    // The published answer says no duration: the hold's bound is charged, the longest the upload can play.
    const bound = Math.ceil((await formSize(form({ model }, await wav()))) / 750);
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ unit: 'seconds', quantity: bound, cost: Math.ceil((bound * 6000) / 60), capped: false });
  });
});

describe('POST /v1/images/edits', () => {
  const png = (n: number) => new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...Array.from({ length: n }, (_, i) => (i * 7919) % 251)]);
  const IMAGE_PRICES = { '1024x1024': 0.04, '*': 0.25 };

  it('images and a mask sent on unchanged (the model its upstream id), whatever the order; charged per image', async () => {
    const tag = unique('edit');
    const { model } = await newModel([{ fixture: 'spec/images/generations/0', options: `id=${tag}` }], { input_price: 0, output_price: 0, image_prices: IMAGE_PRICES });
    const { account, key } = await customer();
    const [a, b, mask] = [png(3000), png(70_000), png(500)];
    const f = new FormData();
    f.append('image[]', new File([a], 'a.png', { type: 'image/png' }));
    f.append('image[]', new File([b], 'b.png', { type: 'image/png' }));
    f.append('mask', new File([mask], 'mask.png', { type: 'image/png' }));
    f.append('prompt', 'Add a beret');
    f.append('model', model);
    f.append('size', '1024x1024');
    f.append('n', '2');
    const res = await call('/v1/images/edits', { method: 'POST', key, body: f });
    expect(res.status).toBe(200);
    const [sent] = await recordedRequests(tag);
    expect(sent!.path).toMatch(/\/images\/edits$/);
    expect(sent!.body.fields).toEqual({ prompt: 'Add a beret', model: 'upstream-model', size: '1024x1024', n: '2' });
    expect(sent!.body.files.map((x: any) => [x.field, x.filename, x.size])).toEqual([['image[]', 'a.png', a.length], ['image[]', 'b.png', b.length], ['mask', 'mask.png', mask.length]]);
    // The published answer holds one image: one is charged, of the two held for.
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ unit: 'images', quantity: 1, cost: 40_000 });
    expect(await balanceOf(account.id)).toBe(10_000_000 - 40_000);
  });

  it('streamed partial images; no image, another file type, or 17 images: 400 before anything is held', async () => {
    const tag = unique('edit');
    const { model } = await newModel([{ fixture: 'spec/images/edits/1', options: `id=${tag}` }], { input_price: 0, output_price: 0, image_prices: IMAGE_PRICES });
    const { key } = await customer();
    const refused = async (build: (f: FormData) => void, param: string) => {
      const f = new FormData();
      f.append('prompt', 'x');
      f.append('model', model);
      build(f);
      const res = await call('/v1/images/edits', { method: 'POST', key, body: f });
      expect(res.status, param).toBe(400);
      expect(((await res.json()) as any).error.param).toBe(param);
    };
    await refused(() => {}, 'image');
    await refused((f) => f.append('image', new File([png(10)], 'a.gif')), 'image');
    await refused((f) => { for (let i = 0; i < 17; i++) f.append('image[]', new File([png(10)], `${i}.png`)); }, 'image');
    await refused((f) => { f.append('image', new File([png(10)], 'a.png')); f.append('n', '11'); }, 'n');
    expect(await recordedRequests(tag)).toEqual([]);
    const f = new FormData();
    f.append('image', new File([png(100)], 'a.png'));
    f.append('prompt', 'x');
    f.append('model', model);
    f.append('stream', 'true');
    f.append('partial_images', '1');
    const res = await call('/v1/images/edits', { method: 'POST', key, body: f });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('"type":"image_edit.completed"');
    expect(await usageRow(res.headers.get('x-request-id')!)).toMatchObject({ unit: 'images', quantity: 1, cost: 250_000 });
  });
});
