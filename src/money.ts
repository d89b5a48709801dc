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
  /** Image and audio tokens, where an answer reports them (null or absent: at the input or
   *  output price). */
  image_input_price?: number | null;
  image_output_price?: number | null;
  audio_input_price?: number | null;
  audio_output_price?: number | null;
}

export interface TokenCounts {
  input_tokens: number; // all prompt tokens, cached and cache-written ones included
  output_tokens: number; // reasoning included
  cached_tokens: number; // the part of input_tokens read from the provider's cache
  cache_write_tokens?: number; // the part of input_tokens written to it (absent: none)
  /** The parts of input_tokens and output_tokens that are image or audio tokens (absent: none). */
  image_input_tokens?: number;
  image_output_tokens?: number;
  audio_input_tokens?: number;
  audio_output_tokens?: number;
}

/**
 * Cost in µ$ of one request: cached prompt tokens at the cached price and cache-written
 * ones at the cache-write price, image and audio tokens at their own prices, where the
 * model has those prices (otherwise at the input or output price), the rest at the input
 * and output prices; summed exactly in BigInt, then rounded UP once to a whole
 * micro-dollar, so a request never costs less than its tokens and rounding never exceeds
 * 1 µ$ per request. A part is never counted beyond what is left of its whole.
 */
export function costMicros(p: Prices, t: TokenCounts): number {
  let input = t.input_tokens;
  const part = (n: number | undefined) => {
    const taken = Math.min(n ?? 0, input);
    input -= taken;
    return BigInt(taken);
  };
  const cached = part(t.cached_tokens);
  const written = part(t.cache_write_tokens);
  const imageIn = part(t.image_input_tokens);
  const audioIn = part(t.audio_input_tokens);
  const imageOut = Math.min(t.image_output_tokens ?? 0, t.output_tokens);
  const audioOut = Math.min(t.audio_output_tokens ?? 0, t.output_tokens - imageOut);
  const inPrice = (special: number | null | undefined) => BigInt(special ?? p.input_price);
  const outPrice = (special: number | null | undefined) => BigInt(special ?? p.output_price);
  const numerator =
    BigInt(input) * BigInt(p.input_price) +
    cached * inPrice(p.cached_input_price) +
    written * inPrice(p.cache_write_price) +
    imageIn * inPrice(p.image_input_price) +
    audioIn * inPrice(p.audio_input_price) +
    BigInt(t.output_tokens - imageOut - audioOut) * BigInt(p.output_price) +
    BigInt(imageOut) * outPrice(p.image_output_price) +
    BigInt(audioOut) * outPrice(p.audio_output_price);
  return ceilDiv(numerator, 1_000_000n);
}

/** ⌈numerator / denominator⌉ as a number: every charge rounds up once, at its end. */
export const ceilDiv = (numerator: bigint, denominator: bigint): number => Number((numerator + denominator - 1n) / denominator);
