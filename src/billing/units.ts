import { z } from 'zod';
import type { ModelRow } from '../db/catalog';
import { parseJsonColumn } from '../db/ids';
import { ApiError } from '../errors';
import { ceilDiv } from '../money';

/**
 * What a request to OpenAI's image, audio and moderation APIs costs, in the unit each is
 * sold in (README, "Images, audio and moderations"). Prices are µ$, in the models' columns
 * (migration 0004):
 * - images: per image, by size and quality (`image_prices`, keyed "WxH/quality", "WxH",
 *   "*\/quality" or "*", the most specific key that matches winning);
 * - speech and moderations: per 1M input characters, counted as Unicode code points
 *   (`character_price`);
 * - transcriptions and translations: per minute of audio, counted in whole seconds rounded
 *   up (`audio_minute_price`);
 * - where an answer reports tokens and the model has token prices, the tokens instead
 *   (money.ts costMicros, image and audio tokens at their own prices).
 * Each cost rounds up once, to a whole µ$, and is never charged beyond the request's hold.
 */
export type Unit = 'tokens' | 'images' | 'characters' | 'seconds';

/** A request measured in a unit other than tokens, and what that costs (µ$). */
export interface Measured {
  unit: Exclude<Unit, 'tokens'>;
  quantity: number;
  micros: number;
}

export const IMAGE_QUALITIES = ['standard', 'hd', 'low', 'medium', 'high'] as const;

export const imagePriceKey = z.string().regex(
  /^(\*|[1-9]\d{1,4}x[1-9]\d{1,4})(\/(standard|hd|low|medium|high))?$/, 'must be WxH, WxH/quality, */quality or *',
);

/** The lowest bitrate among the audio formats OpenAI's transcription takes: Opus at 6 kbit/s. */
export const LOWEST_AUDIO_BYTES_PER_SECOND = 750;

export const imagePrices = (model: ModelRow): Record<string, number> => parseJsonColumn<Record<string, number>>(model.image_prices) ?? {};

/**
 * µ$ per image of this size and quality: the most specific key that matches. Where either
 * is 'auto' (the model decides), the dearest that any size or quality it could choose
 * costs — what a hold must cover. Null: the model is not sold at that size or quality.
 */
export function imagePrice(model: ModelRow, size: string, quality: string): number | null {
  const prices = imagePrices(model);
  const exact = (s: string, q: string) => {
    const key = [`${s}/${q}`, s, `*/${q}`, '*'].find((k) => k in prices);
    return key === undefined ? null : prices[key]!;
  };
  const sizes = size === 'auto' ? [...new Set(Object.keys(prices).map((k) => k.split('/')[0]!))] : [size];
  const qualities = quality === 'auto' ? IMAGE_QUALITIES : [quality];
  let dearest: number | null = null;
  for (const s of sizes) for (const q of qualities) {
    const price = exact(s, q);
    if (price !== null) dearest = Math.max(dearest ?? 0, price);
  }
  return dearest;
}

export const imagesCost = (count: number, perImage: number): number => count * perImage;

/** Unicode code points, as a person counts characters (an emoji is one, not two). */
export function characterCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export const charactersCost = (characters: number, perMillion: number): number => ceilDiv(BigInt(characters) * BigInt(perMillion), 1_000_000n);

export const secondsCost = (seconds: number, perMinute: number): number => ceilDiv(BigInt(seconds) * BigInt(perMinute), 60n);

/** The longest an upload of `bytes` can play, for a hold: at the lowest bitrate the formats
 *  allow, and no longer than the model takes. */
export const audioSecondsBound = (bytes: number, model: ModelRow): number =>
  Math.min(Math.ceil(bytes / LOWEST_AUDIO_BYTES_PER_SECOND), model.max_audio_seconds ?? Number.POSITIVE_INFINITY);

/** Whether token usage prices this model's answers: it has a token price that is not zero. */
export const tokenPriced = (model: ModelRow): boolean =>
  [model.input_price, model.output_price, model.image_input_price, model.image_output_price, model.audio_input_price, model.audio_output_price]
    .some((p) => (p ?? 0) > 0);

/** The price a request needs, or the 400 for a model that is not sold in that unit. */
export function unitPrice(model: ModelRow, price: number | null, what: string): number {
  if (price === null) throw new ApiError('model_not_found', `The model '${model.id}' is not priced for ${what}.`, { param: 'model' });
  return price;
}
