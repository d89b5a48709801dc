import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FIXTURES } from '../support/fake-upstream.ts';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * OpenAI's image, audio and moderation APIs through the bundled worker with the official
 * `openai` SDK, against OpenAI's published answers and recorded audio: each call billed
 * to the µ$ in its own unit, and every balance the sum of its ledger.
 */
const ADMIN = 'e2e-media-admin';
let worker: RunningWorker;
let client: OpenAI;
let accountId: string;
const admin = (method: string, path: string, body?: unknown) => worker.admin(method, path, body);
const WAV = readFileSync(join(FIXTURES, 'audio/pluck-pcm16.wav'));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function model(id: string, fixture: string, prices: Record<string, unknown>) {
  await admin('PUT', `/models/${id}`, { input_price: 0, output_price: 0, ...prices });
  await admin('PUT', `/channels/${id}`, {
    kind: 'openai', base_url: `${inject('upstreamUrl')}/o:id=${id}/${fixture}`, api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [id]: `upstream-${id}` },
  });
}

/** The usage row of the last request with this model, once it is there. */
async function lastRow(m: string) {
  for (let i = 0; i < 100; i++) {
    const rows = (await admin('GET', `/usage?account=${accountId}&model=${m}&limit=1`)).data as Array<Record<string, any>>;
    if (rows[0]) return rows[0];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no usage row for ${m}`);
}

const sent = async (tag: string) => ((await (await fetch(`${inject('upstreamUrl')}/__requests?id=${tag}`)).json()) as Array<{ body: any; path: string }>).at(-1)!;

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: ADMIN, FAKE_UPSTREAM_KEY: 'sk-upstream-e2e' });
  const account = await admin('POST', '/accounts', { email: 'media@example.com', credit: 20 });
  accountId = account.id;
  client = new OpenAI({ apiKey: (await admin('POST', `/accounts/${account.id}/keys`, { name: 'media' })).key, baseURL: `${worker.url}/v1`, maxRetries: 0 });
  const images = { image_prices: { '1024x1024': 0.04, '1024x1024/hd': 0.08, '*': 0.25 } };
  await model('img-b64', 'spec/images/generations/0', images);
  await model('img-url', 'spec/images/variations/0', images);
  await model('img-edit', 'spec/images/generations/0', images);
  await model('tts', 'audio/pluck-pcm16.wav', { character_price: 15 });
  await model('stt', 'spec/audio/transcriptions/0', { input_price: 2.5, output_price: 10, audio_input_price: 6, audio_minute_price: 0.006 });
  await model('stt-minutes', 'spec/audio/transcriptions/1', { audio_minute_price: 0.006 });
  await model('stt-stream', 'spec/audio/transcriptions/2', { input_price: 2.5, output_price: 10, audio_input_price: 6, audio_minute_price: 0.006 });
  await model('mod', 'spec/moderations/1', { character_price: 0.5 });
}, 60_000);

afterAll(async () => {
  await worker?.dispose();
});

describe('the openai SDK on the image, audio and moderation APIs', () => {
  it('images.generate, as b64_json and as url, billed per image at the size and quality asked', async () => {
    const b64 = await client.images.generate({ model: 'img-b64', prompt: 'A cute baby sea otter', size: '1024x1024', quality: 'hd', response_format: 'b64_json' });
    expect(b64.data?.[0]?.b64_json).toBe('...');
    expect(await lastRow('img-b64')).toMatchObject({ unit: 'images', quantity: 1, cost: 0.08 });
    const url = await client.images.generate({ model: 'img-url', prompt: 'A cute baby sea otter', n: 2, size: '1024x1024', response_format: 'url' });
    expect(url.data?.map((d) => d.url)).toEqual(['https://...', 'https://...']);
    expect(await lastRow('img-url')).toMatchObject({ unit: 'images', quantity: 2, cost: 0.16 }); // quality unsaid: the dearest for 1024x1024
    expect((await sent('img-url')).body).toMatchObject({ model: 'upstream-img-url', n: 2, response_format: 'url' });
  });

  it('images.edit with toFile: the image reaches the upstream byte for byte', async () => {
    const image = readFileSync(join(import.meta.dirname, '../../docs/operator-console.png'));
    const edited = await client.images.edit({ model: 'img-edit', image: await toFile(image, 'console.png', { type: 'image/png' }), prompt: 'Add a beret', size: '1024x1024' });
    expect(edited.data).toHaveLength(1);
    const { body } = await sent('img-edit');
    expect(body.fields).toMatchObject({ model: 'upstream-img-edit', prompt: 'Add a beret', size: '1024x1024' });
    expect(body.files).toEqual([{ field: 'image', filename: 'console.png', type: 'image/png', size: image.length, sha256: sha(image) }]);
    expect(await lastRow('img-edit')).toMatchObject({ unit: 'images', quantity: 1, cost: 0.08 });
  });

  it('audio.speech.create written to a file is the bytes the upstream sent; billed per character', async () => {
    const input = 'Today is a wonderful day to build something people love!';
    const speech = await client.audio.speech.create({ model: 'tts', voice: 'coral', input, response_format: 'wav' });
    const file = join(mkdtempSync(join(tmpdir(), 'tokengate-tts-')), 'speech.wav');
    writeFileSync(file, Buffer.from(await speech.arrayBuffer()));
    expect(sha(readFileSync(file))).toBe(sha(WAV));
    expect(await lastRow('tts')).toMatchObject({ unit: 'characters', quantity: input.length, cost: Math.ceil(input.length * 15) / 1e6 });
  });

  it('audio.transcriptions.create as json (tokens), text and diarized_json (seconds), and streamed', async () => {
    const json = await client.audio.transcriptions.create({ model: 'stt', file: await toFile(WAV, 'pluck.wav'), response_format: 'json' });
    expect(json.text).toMatch(/^Imagine the wildest idea/);
    expect(await lastRow('stt')).toMatchObject({ unit: 'tokens', input_tokens: 14, output_tokens: 45, cost: (14 * 6 + 45 * 10) / 1e6 });
    const text = await client.audio.transcriptions.create({ model: 'stt-minutes', file: await toFile(WAV, 'pluck.wav'), response_format: 'text' });
    expect(text).toMatch(/^Agent: Thanks for calling OpenAI support\./);
    expect((await sent('stt-minutes')).body.fields.response_format).toBe('json');
    const diarized = await client.audio.transcriptions.create({ model: 'stt-minutes', file: await toFile(WAV, 'pluck.wav'), response_format: 'diarized_json' });
    expect(diarized.text).toMatch(/^Agent:/);
    expect(await lastRow('stt-minutes')).toMatchObject({ unit: 'seconds', quantity: 27 });
    const streamed = await client.audio.transcriptions.create({ model: 'stt-stream', file: await toFile(WAV, 'pluck.wav'), stream: true });
    let done = '';
    for await (const event of streamed) if (event.type === 'transcript.text.done') done = event.text;
    expect(done).toMatch(/^I see skies of blue/);
    expect(await lastRow('stt-stream')).toMatchObject({ unit: 'tokens', input_tokens: 14, output_tokens: 45, status: 'success' });
  });

  it('moderations.create, per character; and every balance is its ledger', async () => {
    const input = 'I want to kill them.';
    const mod = await client.moderations.create({ model: 'mod', input });
    expect(mod.results[0]?.flagged).toBe(true);
    expect(mod.model).toBe('mod');
    expect(await lastRow('mod')).toMatchObject({ unit: 'characters', quantity: input.length, cost: Math.ceil(input.length * 0.5) / 1e6 });
    const ledger = (await admin('GET', `/accounts/${accountId}/ledger`)).data as Array<{ amount: number }>;
    const account = await admin('GET', `/accounts/${accountId}`);
    expect(Math.round(ledger.reduce((s, r) => s + r.amount, 0) * 1e6)).toBe(Math.round(account.balance * 1e6));
  });
});
