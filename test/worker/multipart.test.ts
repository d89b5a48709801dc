import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { imagePrice } from '../../src/billing/units';
import { FormReader } from '../../src/proxy/multipart';
import { NO_UNIT_PRICES } from './helpers';

/**
 * The multipart reader (proxy/multipart.ts) and per-image prices (billing/units.ts), alone:
 * whatever chunks a form arrives in, and wherever its file sits, what goes upstream is the
 * client's form with only its rewritten fields changed.
 */
async function serialised(form: FormData): Promise<{ bytes: Uint8Array; boundary: string }> {
  const request = new Request('http://x/', { method: 'POST', body: form });
  const boundary = /boundary=(.+)$/.exec(request.headers.get('content-type')!)![1]!;
  return { bytes: new Uint8Array(await request.arrayBuffer()), boundary };
}

const chunked = (bytes: Uint8Array, cuts: number[]) => {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  return new ReadableStream<Uint8Array>({
    start(c) {
      let from = 0;
      for (const to of [...at, bytes.length]) {
        if (to > from) c.enqueue(bytes.slice(from, to));
        from = Math.max(from, to);
      }
      c.close();
    },
  });
};

const readAll = async (stream: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(stream).arrayBuffer());

describe('FormReader', () => {
  it('sends the form as the client made it, in any chunks, the file streamed or kept; only rewritten fields change', async () => {
    await fc.assert(fc.asyncProperty(
      fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), fc.string({ maxLength: 40 }),
      async (file, cuts, fileFirst, language) => {
        const form = new FormData();
        if (fileFirst) form.append('file', new File([file], 'a.wav', { type: 'audio/wav' }));
        form.append('model', 'public-id');
        form.append('language', language);
        if (!fileFirst) form.append('file', new File([file], 'a.wav', { type: 'audio/wav' }));
        form.append('response_format', 'text'); // after the file either way
        const { bytes, boundary } = await serialised(form);
        const open = () => new FormReader(chunked(bytes, cuts), boundary, 10_000).open((fields) => fields.some(([n]) => n === 'model'));
        const opened = await open();
        expect(opened.streams).toBe(!fileFirst);
        expect(await readAll(opened.upload((_, v) => v)!)).toEqual(bytes);
        expect(opened.form.fields).toEqual([['model', 'public-id'], ['language', language], ['response_format', 'text']]);
        if (opened.streams) expect(opened.upload((_, v) => v)).toBeNull(); // read once
        const rewritten = await readAll((await open()).upload((n, v) => (n === 'model' ? 'upstream-id' : n === 'response_format' ? 'json' : v))!);
        const parsed = await new Response(rewritten, { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }).formData();
        expect([parsed.get('model'), parsed.get('language'), parsed.get('response_format')]).toEqual(['upstream-id', language, 'json']);
        expect(new Uint8Array(await (parsed.get('file') as unknown as File).arrayBuffer())).toEqual(file);
      },
    ), { numRuns: 150 });
  });

  it('refuses a file over its limit, a form that ends early, and one without its boundary', async () => {
    const form = new FormData();
    form.append('model', 'm');
    form.append('file', new File([new Uint8Array(2000)], 'a.wav'));
    const { bytes, boundary } = await serialised(form);
    const big = await new FormReader(chunked(bytes, []), boundary, 1000).open(() => false).catch((e) => e);
    expect(big.param).toBe('file');
    await expect(new FormReader(chunked(bytes.slice(0, bytes.length - 50), []), boundary, 10_000).open(() => false)).rejects.toThrow(/ends in the middle/);
    await expect(new FormReader(chunked(bytes, []), 'another', 10_000).open(() => false)).rejects.toThrow(/boundary/);
  });
});

describe('imagePrice', () => {
  const model = (prices: Record<string, number>) => ({
    id: 'm', input_price: 0, output_price: 0, cached_input_price: null, cache_write_price: null, max_output_tokens: null, owned_by: 'x', groups: null,
    created_at: '', ...NO_UNIT_PRICES, image_prices: JSON.stringify(prices),
  });

  it('the most specific key; for auto, the dearest the model could choose; null where nothing matches', () => {
    const m = model({ '1024x1024/high': 167_000, '1024x1024': 40_000, '*/low': 11_000, '1536x1024': 63_000 });
    expect(imagePrice(m, '1024x1024', 'high')).toBe(167_000);
    expect(imagePrice(m, '1024x1024', 'medium')).toBe(40_000);
    expect(imagePrice(m, '1024x1024', 'auto')).toBe(167_000);
    expect(imagePrice(m, '512x512', 'low')).toBe(11_000);
    expect(imagePrice(m, '512x512', 'high')).toBeNull();
    expect(imagePrice(m, 'auto', 'medium')).toBe(63_000);
    expect(imagePrice(m, 'auto', 'auto')).toBe(167_000);
    expect(imagePrice(model({ '*': 250_000, '1024x1024': 40_000 }), '1024x1024', 'auto')).toBe(40_000);
  });
});
