import type { ModelRow } from '../db/catalog';
import type { HoldSize } from '../db/ledger';
import { ApiError } from '../errors';
import { toDollars } from '../money';

/**
 * The worst-case cost of a request, held before the upstream call so that no burst of
 * requests can spend credit the account does not have (its account's object places it,
 * account/object.ts).
 *
 * Prompt bound: the UTF-8 byte length of what becomes the prompt (system, messages, tools,
 * functions, response_format, embeddings input) plus framing per message. Byte-level BPE
 * tokenizers (OpenAI's, and the others sold here) never produce more tokens than bytes of
 * text, and the JSON around the text adds more bytes than the chat format adds tokens;
 * image parts (OpenAI's image_url, Anthropic's image blocks) are not text, so each counts a fixed IMAGE_TOKENS, above what a high-detail
 * image costs on current models.
 * Output bound: max_completion_tokens / max_tokens / max_output_tokens, else the model's configured maximum,
 * else DEFAULT_MAX_OUTPUT_TOKENS; times `n`. Embeddings produce no output.
 * Prompt tokens are held at the highest of the input, cached and cache-write prices.
 */
const IMAGE_TOKENS = 3_000;
const FRAMING_TOKENS_PER_MESSAGE = 8;
const PROMPT_FIELDS = ['system', 'instructions', 'messages', 'tools', 'functions', 'tool_choice', 'response_format', 'input'] as const;

type Sizable = {
  messages?: unknown[]; max_tokens?: number | null; max_completion_tokens?: number | null; max_output_tokens?: number | null; n?: number | null;
} & Record<string, unknown>;

/** `generates`: whether the request produces output tokens (embeddings do not). */
export function holdSize(body: Sizable, generates = true): HoldSize {
  // Only the fields that become prompt tokens, so that e.g. adding max_tokens never
  // raises the bound.
  const json = JSON.stringify(PROMPT_FIELDS.map((field) => body[field]));
  return {
    promptTokens:
      new TextEncoder().encode(json).byteLength +
      FRAMING_TOKENS_PER_MESSAGE * (body.messages?.length ?? 0) +
      IMAGE_TOKENS * (json.match(/"image_url"|"type":"image"/g)?.length ?? 0),
    outputCap: generates ? (body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens ?? null) : 0,
    choices: body.n ?? 1,
  };
}

export const outputTokens = (size: HoldSize, model: ModelRow, defaultMaxOutput: number) =>
  size.outputCap ?? model.max_output_tokens ?? defaultMaxOutput;
const promptPrice = (model: ModelRow) => Math.max(model.input_price, model.cached_input_price ?? 0, model.cache_write_price ?? 0);

/** Micro-dollars held for a request of this size on this model. */
export function holdMicros(model: ModelRow, size: HoldSize, defaultMaxOutput: number): number {
  const numerator =
    BigInt(size.promptTokens) * BigInt(promptPrice(model)) +
    BigInt(outputTokens(size, model, defaultMaxOutput)) * BigInt(size.choices) * BigInt(model.output_price);
  return Number((numerator + 999_999n) / 1_000_000n);
}

/** The 402 for a refused hold: what was needed, what is available (the balance, or what the
 *  key's spend limit leaves) and, where a smaller max_tokens would fit, how many tokens. */
export function insufficientBalance(
  refused: { reason: 'balance' | 'spend_limit'; available: number }, model: ModelRow, size: HoldSize, defaultMaxOutput: number,
): ApiError {
  const needed = holdMicros(model, size, defaultMaxOutput);
  const { available } = refused;
  const byBalance = refused.reason === 'balance';
  const what = byBalance ? `your balance is $${toDollars(available)}` : `this key's spend limit leaves $${toDollars(available)}`;
  let message = `Insufficient balance: this request may cost up to $${toDollars(needed)} and ${what}.`;
  const output = outputTokens(size, model, defaultMaxOutput);
  if (output > 0 && model.output_price > 0) {
    const promptCost = Math.ceil((size.promptTokens * promptPrice(model)) / 1_000_000);
    const affordable = Math.floor(((available - promptCost) * 1_000_000) / (model.output_price * size.choices));
    if (affordable >= 1 && affordable < output) message += ` A max_tokens of at most ${affordable} would fit.`;
  }
  return new ApiError(byBalance ? 'insufficient_balance' : 'spend_limit_reached', message);
}
