import type { ModelRow } from '../db/catalog';
import { ApiError } from '../errors';
import { toDollars, type Prices } from '../money';
import type { PromptSize } from './prompt';

/**
 * The worst-case cost of a request, held before the upstream call so that no burst of
 * requests can spend credit the account does not have (its account's object places it,
 * account/object.ts, adding the tokens of the stored state the request builds on).
 *
 * Prompt bound: billing/prompt.ts — the whole body's text by its UTF-8 bytes, and a
 * documented bound per image, audio clip, file, video and hosted tool.
 * Output bound: max_completion_tokens / max_tokens / max_output_tokens, else the model's
 * configured maximum, else DEFAULT_MAX_OUTPUT_TOKENS; times `n`. That same number is what
 * the upstream is asked for (proxy/output-cap.ts), so a well-behaved upstream never
 * generates past the hold. Embeddings produce no output.
 * Prompt tokens are held at the highest of the input, cached and cache-write prices.
 */
export interface HoldSize {
  promptTokens: number;
  /** Output tokens per choice: what the upstream is asked to stop at. */
  outputTokens: number;
  choices: number;
}

type Sizable = { max_tokens?: number | null; max_completion_tokens?: number | null; max_output_tokens?: number | null; n?: number | null } & Record<string, unknown>;

/** The output cap the request names itself, if any. */
export const requestedOutput = (body: Sizable): number | null => body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens ?? null;

/** `generates`: whether the request produces output tokens (embeddings do not). */
export function holdSize(body: Sizable, prompt: PromptSize, model: ModelRow, defaultMaxOutput: number, generates = true): HoldSize {
  return {
    promptTokens: prompt.bound,
    outputTokens: generates ? (requestedOutput(body) ?? model.max_output_tokens ?? defaultMaxOutput) : 0,
    choices: body.n ?? 1,
  };
}

export const promptPrice = (p: Prices) => Math.max(p.input_price, p.cached_input_price ?? 0, p.cache_write_price ?? 0);

/** Micro-dollars held for a request of this size at these prices (rounded up once). */
export function holdMicros(p: Prices, size: HoldSize): number {
  const numerator =
    BigInt(size.promptTokens) * BigInt(promptPrice(p)) + BigInt(size.outputTokens) * BigInt(size.choices) * BigInt(p.output_price);
  return Number((numerator + 999_999n) / 1_000_000n);
}

/** The 402 for a refused hold: what was needed, what is available (the balance, or what the
 *  key's spend limit leaves) and, where a smaller max_tokens would fit, how many tokens. */
export function insufficientBalance(
  refused: { reason: 'balance' | 'spend_limit'; available: number; needed: number; promptTokens: number }, model: ModelRow, size: HoldSize,
): ApiError {
  const { available, needed } = refused;
  const byBalance = refused.reason === 'balance';
  const what = byBalance ? `your balance is $${toDollars(available)}` : `this key's spend limit leaves $${toDollars(available)}`;
  let message = `Insufficient balance: this request may cost up to $${toDollars(needed)} and ${what}.`;
  if (size.outputTokens > 0 && model.output_price > 0) {
    const promptCost = Math.ceil((refused.promptTokens * promptPrice(model)) / 1_000_000);
    const affordable = Math.floor(((available - promptCost) * 1_000_000) / (model.output_price * size.choices));
    if (affordable >= 1 && affordable < size.outputTokens) message += ` A max_tokens of at most ${affordable} would fit.`;
  }
  return new ApiError(byBalance ? 'insufficient_balance' : 'spend_limit_reached', message);
}
