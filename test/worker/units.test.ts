import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { measurePrompt } from '../../src/billing/prompt';
import { csv } from '../../src/pages/csv';
import { withChatOutputCap } from '../../src/proxy/output-cap';
import { sourceOf } from '../../src/ratelimit/attempts';
import type { Route } from '../../src/db/catalog';
import { costMicros, dollars } from '../../src/money';
import { orderRoutes } from '../../src/proxy/channels';
import { spliced } from '../../src/proxy/raw-body';
import { ChatRequestSchema, MessagesRequestSchema, ResponsesRequestSchema } from '../../src/routes/schemas';
import claudeCodeBody from '../../bench/bodies/claude-code-messages.json';
import codexBody from '../../bench/bodies/codex-responses.json';
import { estimateTokens } from '../../src/proxy/estimate';
import { sanitise } from '../../src/proxy/upstream';
import { normaliseUsage } from '../../src/proxy/usage';
import { parseEvent, SseFramer } from '../../src/proxy/sse';

describe('money', () => {
  const prices = { input_price: 2_500_000, output_price: 10_000_000, cached_input_price: 1_250_000 };

  it('prices cached prompt tokens at the cached price and the rest at the input price', () => {
    // 1000 prompt (400 cached) + 100 output at $2.50 / $1.25 cached / $10 per 1M
    expect(costMicros(prices, { input_tokens: 1000, cached_tokens: 400, output_tokens: 100 })).toBe(1500 + 500 + 1000);
  });

  it('charges cached tokens at the input price when the model has no cached price', () => {
    expect(costMicros({ ...prices, cached_input_price: null }, { input_tokens: 1000, cached_tokens: 400, output_tokens: 0 })).toBe(2500);
  });

  it('prices cache-written prompt tokens at the cache-write price, else at the input price', () => {
    // 1000 prompt (400 read, 300 written) at $2.50 / $1.25 read / $3.125 written per 1M
    const t = { input_tokens: 1000, cached_tokens: 400, cache_write_tokens: 300, output_tokens: 0 };
    expect(costMicros({ ...prices, cache_write_price: 3_125_000 }, t)).toBe(750 + 500 + 938);
    expect(costMicros({ ...prices, cache_write_price: null }, t)).toBe(1500 + 500);
    // never more written than the prompt has beside what was read
    expect(costMicros({ ...prices, cache_write_price: 3_125_000 }, { ...t, cache_write_tokens: 5000 })).toBe(500 + 1875);
  });

  it('rounds up once, to a whole micro-dollar', () => {
    expect(costMicros({ input_price: 75_000, output_price: 0, cached_input_price: null }, { input_tokens: 1, cached_tokens: 0, output_tokens: 0 })).toBe(1);
    expect(costMicros({ input_price: 75_000, output_price: 0, cached_input_price: null }, { input_tokens: 20, cached_tokens: 0, output_tokens: 0 })).toBe(2);
  });

  it('stays exact far beyond 2^53 intermediate products', () => {
    const big = costMicros({ input_price: 100_000_000_000, output_price: 0, cached_input_price: null }, { input_tokens: 2_000_000_000, cached_tokens: 0, output_tokens: 0 });
    expect(big).toBe(200_000_000_000_000);
  });

  it('converts dollars to micro-dollars exactly, refusing more than 6 decimals', () => {
    const schema = dollars();
    expect(schema.parse(0.075)).toBe(75_000);
    expect(schema.parse(12.345678)).toBe(12_345_678);
    expect(schema.safeParse(0.0000001).success).toBe(false);
    expect(schema.safeParse(-1).success).toBe(false);
    expect(dollars({ allowNegative: true }).parse(-0.5)).toBe(-500_000);
    expect(z.object({ a: dollars() }).safeParse({ a: Number.NaN }).success).toBe(false);
  });
});

describe('usage normaliser', () => {
  it('reads OpenAI cached tokens, DeepSeek cache hits and xAI reasoning outside completion', () => {
    expect(normaliseUsage({ prompt_tokens: 100, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 64 } }))
      .toEqual({ input_tokens: 100, output_tokens: 10, cached_tokens: 64 });
    expect(normaliseUsage({ prompt_tokens: 100, completion_tokens: 10, prompt_cache_hit_tokens: 90, prompt_cache_miss_tokens: 10 }))
      .toEqual({ input_tokens: 100, output_tokens: 10, cached_tokens: 90 });
    expect(normaliseUsage({ prompt_tokens: 12, completion_tokens: 2, total_tokens: 354, completion_tokens_details: { reasoning_tokens: 340 } }))
      .toEqual({ input_tokens: 12, output_tokens: 342, cached_tokens: 0 });
    expect(normaliseUsage({ prompt_tokens: 6, completion_tokens: 212, total_tokens: 218, completion_tokens_details: { reasoning_tokens: 198 } }))
      .toEqual({ input_tokens: 6, output_tokens: 212, cached_tokens: 0 });
  });

  it('returns null for missing or meaningless usage', () => {
    expect(normaliseUsage(null)).toBeNull();
    expect(normaliseUsage({})).toBeNull();
    expect(normaliseUsage('x')).toBeNull();
  });
});

describe('channel order', () => {
  const route = (id: string, priority: number, weight: number): Route => ({ id, priority, weight, kind: 'openai', base_url: '', api_key_secret: '', upstream_model: '', responses: 1, auth: null, query: null, keys: [] });

  it('tries higher priorities first and picks within a priority by weight', () => {
    const routes = [route('low', 1, 100), route('a', 5, 3), route('b', 5, 1)];
    expect(orderRoutes(routes, () => 0).map((r) => r.id)).toEqual(['a', 'b', 'low']);
    expect(orderRoutes(routes, () => 0.8).map((r) => r.id)).toEqual(['b', 'a', 'low']);
    // ticket 0.7 * 4 = 2.8 falls in a's share [0, 3)
    expect(orderRoutes(routes, () => 0.7).map((r) => r.id)).toEqual(['a', 'b', 'low']);
  });

  it('keeps weight-0 channels as the last resort of their priority', () => {
    expect(orderRoutes([route('zero', 1, 0), route('one', 1, 1)], () => 0).map((r) => r.id)).toEqual(['one', 'zero']);
  });
});

describe('estimates and sanitising', () => {
  it('counts 4 ASCII characters a token and each other character as one', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('abcd')).toBe(1);
    expect(estimateTokens('abcde')).toBe(2);
    expect(estimateTokens('你好')).toBe(2);
    expect(estimateTokens('😀')).toBe(1);
  });

  it('redacts keys, bearer tokens and URLs from upstream error text', () => {
    const text = sanitise('Incorrect API key provided: sk-proj-abc123****************************wxyz. See https://platform.openai.com/account. Bearer abc.def');
    expect(text).not.toContain('sk-proj');
    expect(text).not.toContain('platform.openai.com');
    expect(text).not.toContain('abc.def');
  });
});

describe("a prompt's bound and estimate (billing/prompt.ts)", () => {
  const utf8 = (s: string) => new TextEncoder().encode(s).byteLength;

  it('bounds every string and key of any body by at least its UTF-8 bytes, wherever it sits', () => {
    const texts = fc.string({ unit: 'grapheme', maxLength: 40 });
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, texts, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(texts, tie('value'), { maxKeys: 4 })),
    })).value;
    fc.assert(fc.property(fc.dictionary(texts, json, { maxKeys: 5 }), (body) => {
      const strings: string[] = [];
      const walk = (v: unknown): void => {
        if (typeof v === 'string') strings.push(v);
        else if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) (strings.push(k), walk(c));
      };
      walk(body);
      expect(measurePrompt(body).bound).toBeGreaterThanOrEqual(strings.reduce((n, s) => n + utf8(s), 0));
    }));
  });

  it('measures a string of any characters, lone surrogates too, exactly as a walk over each of its UTF-16 units does', () => {
    // The reference: every unit looked at in turn. Bytes as UTF-8 writes them (a pair's high
    // half 3 and its low half 1; a lone one likewise), and the estimate's one token per 4 ASCII
    // characters plus one per other character (a pair counted once).
    const reference = (s: string) => {
      let bytes = 0;
      let ascii = 0;
      let other = 0;
      for (let i = 0; i < s.length; i++) {
        const code = s.charCodeAt(i);
        if (code < 0x80) (bytes += 1), ascii++;
        else if (code < 0x800) (bytes += 2), other++;
        else if (code < 0xdc00 || code > 0xdfff) (bytes += 3), other++;
        else bytes += 1;
      }
      return { bytes, ascii, other };
    };
    const units = fc.oneof(fc.constantFrom('a', ' ', '\n', 'é', '—', '中', '😀', '\ud800', '\udc00'), fc.string({ unit: 'binary', maxLength: 3 }));
    fc.assert(fc.property(fc.array(units, { maxLength: 40 }).map((parts) => parts.join('')), (s) => {
      const { bytes, ascii, other } = reference(s);
      // One string under a one-letter key: the object's brace, the key's byte and 4 of framing, the string's 2 of framing.
      expect(measurePrompt({ k: s })).toEqual({ bound: 1 + 5 + 2 + bytes, estimate: Math.ceil((1 + ascii) / 4) + other, references: [] });
    }), { numRuns: 500 });
  });

  it('counts a new field of text wherever it is, but not the settings at the top', () => {
    const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    const schema = { ...base, text: { format: { type: 'json_schema', schema: { description: 'x'.repeat(10_000) } } } };
    expect(measurePrompt(schema).bound - measurePrompt(base).bound).toBeGreaterThan(10_000);
    expect(measurePrompt(schema).estimate - measurePrompt(base).estimate).toBeGreaterThanOrEqual(2_500);
    expect(measurePrompt({ ...base, max_tokens: 123_456, temperature: 0.5, stream: true })).toEqual(measurePrompt(base));
  });

  it('counts media per item, never by their payload: images, audio by its length, files, hosted tools', () => {
    const image = (url: string) => measurePrompt({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }] }).bound;
    expect(image(`data:image/png;base64,${'A'.repeat(1_000_000)}`)).toBe(image('https://example.com/a.png'));
    const audio = (seconds: number) => measurePrompt({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'A'.repeat((seconds * 1000 * 4) / 3), format: 'mp3' } }] }] }).bound;
    expect(audio(60) - audio(0)).toBe(60 * 32); // 32 tokens a second, at 1,000 bytes a second
    expect(measurePrompt({ tools: [{ type: 'web_search' }, { type: 'function', name: 'f' }] }).bound).toBeGreaterThan(32_000);
    expect(measurePrompt({ tools: [{ type: 'function', name: 'f' }] }).bound).toBeLessThan(100);
  });

  it('lists the stored state a request builds on', () => {
    expect(measurePrompt({ previous_response_id: 'resp_1', input: [{ type: 'item_reference', id: 'msg_2' }, { role: 'user', content: 'go on' }] }).references)
      .toEqual(['resp_1', 'msg_2']);
  });
});

describe('the output cap sent upstream (proxy/output-cap.ts)', () => {
  it('names the field the upstream family takes, keeping a name the client chose for others', () => {
    expect(withChatOutputCap({ model: 'x' }, 'deepseek-chat', 8192)).toEqual({ model: 'x', max_tokens: 8192 });
    expect(withChatOutputCap({}, 'gpt-5.4-mini', 100)).toEqual({ max_completion_tokens: 100 });
    expect(withChatOutputCap({ max_tokens: 100 }, 'o3', 100)).toEqual({ max_completion_tokens: 100 });
    expect(withChatOutputCap({ max_completion_tokens: 100 }, 'azure-deployment', 100)).toEqual({ max_completion_tokens: 100 });
    expect(withChatOutputCap({}, 'openai/codex-mini', 5)).toEqual({ max_completion_tokens: 5 });
    expect(withChatOutputCap({}, 'gpt-4o', 5)).toEqual({ max_tokens: 5 });
  });
});

describe('CSV cells a spreadsheet cannot run', () => {
  it("neutralises a formula at the start of a cell and after ; or a tab, and quotes every locale's separators", () => {
    const out = csv(['a'], [{ a: '=1+1' }, { a: 'ok;=HYPERLINK("x")' }, { a: 'x\t@SUM(A1)' }, { a: 'plain, text' }, { a: -5 }]);
    expect(out.split('\r\n')).toEqual(['a', "'=1+1", '"ok;\'=HYPERLINK(""x"")"', '"x\t\'@SUM(A1)"', '"plain, text"', "'-5", '']);
  });
});

describe('where a request comes from, for throttling', () => {
  it('is the client address, an IPv6 one by its /64', () => {
    expect(sourceOf('203.0.113.9')).toBe('203.0.113.9');
    expect(sourceOf('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceOf(undefined)).toBe('local');
  });
});

describe('server-sent events framed as they arrive (proxy/sse.ts)', () => {
  /** The framing by the spec's three line ends, whole: what any split must give. */
  const whole = (text: string) => text.match(/[^]*?(?:\r\n\r\n|\n\n|\r\r)/g) ?? [];
  const piece = fc.constantFrom('data: {"a":1}', 'event: x', ': comment', 'data:', 'data: é 中', '\n', '\r\n', '\r', '\n\n', '\r\n\r\n');

  it('gives the same events however the bytes are split, whatever line ends they use', () => {
    fc.assert(fc.property(fc.array(piece, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 6 }), (pieces, cuts) => {
      const text = pieces.join('');
      const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const framer = new SseFramer();
      const events = [0, ...at].flatMap((from, i) => framer.push(text.slice(from, at[i] ?? text.length)));
      expect(events).toEqual(whole(text));
      expect(events.join('') + framer.flush()).toBe(text);
    }));
  });

  it('reads the same fields from an event whichever line ends it uses', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      expect(parseEvent(['event: delta', 'data: {"a":', 'data:1}', ': comment', ''].join(eol) + eol)).toEqual({ event: 'delta', data: '{"a":\n1}' });
    }
  });
});

describe('the client’s own text with what the gateway changes spliced in (proxy/raw-body.ts)', () => {
  const MARK = '\u0000model'; // no generated string has a NUL
  const splice = async (text: string, changes: Record<string, unknown>) => {
    const out = spliced(text, changes);
    return out && out.text();
  };

  it('gives exactly the body with the new values, however it was written, whatever characters it holds', async () => {
    await fc.assert(fc.asyncProperty(
      fc.dictionary(fc.string({ unit: 'binary' }).filter((k) => k !== 'model' && k !== 'cap'), fc.jsonValue()),
      fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), fc.nat(4), fc.integer(),
      async (rest, before, after, indent, cap) => {
        // The body as written, with a mark where the model's value goes.
        const template = JSON.stringify({ ...rest, model: MARK }, null, indent);
        const at = (model: string) => template.replace(JSON.stringify(MARK), () => JSON.stringify(model));
        expect(await splice(at(before), { model: after })).toBe(at(after));
        // A field the body lacks is added: the whole parses as the object with it.
        expect(JSON.parse((await splice(at(before), { model: after, cap }))!)).toEqual({ ...JSON.parse(at(after)), cap });
      },
    ), { numRuns: 300 });
  });

  it('gives null for what it must not splice: a key given twice, not an object, not JSON', async () => {
    for (const raw of ['{"model": "a", "model": "b"}', '{"max_tokens": 1, "model": "a", "max_tokens": 9}', '[]', '"model"', '{"model" "a"}']) {
      expect(spliced(raw, { model: 'x' }), raw).toBeNull();
    }
    expect(await splice('{"a": {"model": "inner"}, "model": "outer"}', { model: 'x' })).toBe('{"a": {"model": "inner"}, "model": "x"}');
    expect(await splice('{ }', { model: 'x' })).toBe('{ "model":"x"}');
  });

  it('the schemas keep a body as it is (no defaults, no transforms): what is checked is what goes on', () => {
    expect(MessagesRequestSchema.parse(claudeCodeBody)).toEqual(claudeCodeBody);
    expect(ResponsesRequestSchema.parse(codexBody)).toEqual(codexBody);
    const chatBody = {
      model: 'm', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'c1', content: 'ok' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }], stream: true, stream_options: { include_usage: true }, max_tokens: 50,
    };
    expect(ChatRequestSchema.parse(chatBody)).toEqual(chatBody);
  });
});
