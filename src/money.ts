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
}

export interface TokenCounts {
  input_tokens: number; // all prompt tokens, cached ones included
  output_tokens: number;
  cached_tokens: number; // the part of input_tokens served from the provider's cache
}

/**
 * Cost in µ$ of one request: cached prompt tokens at the cached price when the model has
 * one (otherwise at the input price), the rest at the input price, output at the output
 * price; summed exactly in BigInt, then rounded UP once to a whole micro-dollar, so a
 * request never costs less than its tokens and rounding never exceeds 1 µ$ per request.
 */
export function costMicros(p: Prices, t: TokenCounts): number {
  const cached = BigInt(Math.min(t.cached_tokens, t.input_tokens));
  const uncached = BigInt(t.input_tokens) - (p.cached_input_price === null ? 0n : cached);
  const numerator =
    uncached * BigInt(p.input_price) +
    (p.cached_input_price === null ? 0n : cached * BigInt(p.cached_input_price)) +
    BigInt(t.output_tokens) * BigInt(p.output_price);
  const perMillion = 1_000_000n;
  return Number((numerator + perMillion - 1n) / perMillion);
}
