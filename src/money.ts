import { z } from 'zod';

/**
 * Money is integer micro-dollars (1 USD = 1,000,000 µ$). Prices are µ$ per 1M tokens.
 * The API speaks dollars as JSON numbers; they are converted here, at the boundary, and
 * must not carry more than 6 decimals, so the conversion is exact.
 */
export const MICROS_PER_DOLLAR = 1_000_000;

export const toDollars = (micros: number): number => micros / MICROS_PER_DOLLAR;

/** Round-trip check: 0.075 * 1e6 is 75000.00000000001 in floating point, so round, then
 *  accept only if the rounded value maps back to the same number. */
function exactMicros(dollars: number): number | null {
  const micros = Math.round(dollars * MICROS_PER_DOLLAR);
  return Number.isSafeInteger(micros) && micros / MICROS_PER_DOLLAR === dollars ? micros : null;
}

/** A zod schema for a dollar amount that becomes integer micro-dollars. */
export const dollars = (opts: { min?: number; max?: number; allowNegative?: boolean } = {}) =>
  z
    .number()
    .finite()
    .refine((d) => opts.allowNegative || d >= 0, 'must not be negative')
    .refine((d) => opts.min === undefined || d >= opts.min, `must be at least ${opts.min}`)
    .refine((d) => opts.max === undefined || d <= opts.max, `must be at most ${opts.max}`)
    .refine((d) => exactMicros(d) !== null, 'must have at most 6 decimal places')
    .transform((d) => exactMicros(d) as number);

/** Largest price accepted: $100,000 per 1M tokens, which keeps every product below 2^63. */
export const MAX_PRICE_DOLLARS = 100_000;

export interface Prices {
  input_price: number;
  output_price: number;
  cached_input_price: number | null;
  /** Prompt tokens written to the provider's cache (Anthropic bills them above the input price). */
  cache_write_price?: number | null;
}

export interface TokenCounts {
  input_tokens: number; // all prompt tokens, cached and cache-written ones included
  output_tokens: number; // reasoning included
  cached_tokens: number; // the part of input_tokens read from the provider's cache
  cache_write_tokens?: number; // the part of input_tokens written to it (absent: none)
}

/**
 * Cost in µ$ of one request: cached prompt tokens at the cached price and cache-written
 * ones at the cache-write price where the model has those prices (otherwise at the input
 * price), the rest at the input price, output at the output price; summed exactly in
 * BigInt, then rounded UP once to a whole micro-dollar, so a request never costs less than
 * its tokens and rounding never exceeds 1 µ$ per request.
 */
export function costMicros(p: Prices, t: TokenCounts): number {
  const cached = Math.min(t.cached_tokens, t.input_tokens);
  const written = Math.min(t.cache_write_tokens ?? 0, t.input_tokens - cached);
  const price = (special: number | null | undefined) => BigInt(special ?? p.input_price);
  const numerator =
    BigInt(t.input_tokens - cached - written) * BigInt(p.input_price) +
    BigInt(cached) * price(p.cached_input_price) +
    BigInt(written) * price(p.cache_write_price) +
    BigInt(t.output_tokens) * BigInt(p.output_price);
  const perMillion = 1_000_000n;
  return Number((numerator + perMillion - 1n) / perMillion);
}
