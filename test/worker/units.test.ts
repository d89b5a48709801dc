import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Route } from '../../src/db/catalog';
import { costMicros, dollars } from '../../src/money';
import { orderRoutes } from '../../src/proxy/channels';
import { estimateTokens } from '../../src/proxy/estimate';
import { sanitise } from '../../src/proxy/upstream';
import { normaliseUsage } from '../../src/proxy/usage';

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
  const route = (id: string, priority: number, weight: number): Route => ({ id, priority, weight, kind: 'openai', base_url: '', api_key_secret: '', upstream_model: '', responses: 1 });

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
