import type { ModelRow } from '../db/catalog';
import type { Principal } from '../db/keys';
import { placeHold } from '../db/ledger';
import { ApiError } from '../errors';
import { toDollars } from '../money';

/**
 * The worst-case cost of a request, held before the upstream call so that no burst of
 * requests can spend credit the account does not have.
 *
 * Prompt bound: the UTF-8 byte length of what becomes the prompt (messages, tools,
 * functions, response_format, embeddings input) plus framing per message. Byte-level BPE tokenizers (OpenAI's, and the others sold here)
 * never produce more tokens than bytes of text, and the JSON around the text adds more
 * bytes than the chat format adds tokens; image parts are not text, so each counts a
 * fixed IMAGE_TOKENS, above what a high-detail image costs on current models.
 * Output bound: max_completion_tokens / max_tokens, else the model's configured maximum,
 * else DEFAULT_MAX_OUTPUT_TOKENS; times `n`.
 * Prompt tokens are held at the higher of the input and cached prices.
 */
const IMAGE_TOKENS = 3_000;
const FRAMING_TOKENS_PER_MESSAGE = 8;

export interface Bound {
  promptTokens: number;
  outputTokens: number; // per choice
  choices: number;
  micros: number;
}

const PROMPT_FIELDS = ['messages', 'tools', 'functions', 'tool_choice', 'response_format', 'input'] as const;

export function worstCase(
  model: ModelRow,
  body: { messages?: unknown[]; max_tokens?: number | null; max_completion_tokens?: number | null; n?: number | null } & Record<string, unknown>,
  defaultMaxOutput: number,
): Bound {
  // Only the fields that become prompt tokens, so that e.g. adding max_tokens never
  // raises the bound.
  const json = JSON.stringify(PROMPT_FIELDS.map((field) => body[field]));
  const promptTokens =
    new TextEncoder().encode(json).byteLength +
    FRAMING_TOKENS_PER_MESSAGE * (body.messages?.length ?? 0) +
    IMAGE_TOKENS * (json.match(/"image_url"/g)?.length ?? 0);
  const outputTokens = body.messages === undefined ? 0 : (body.max_completion_tokens ?? body.max_tokens ?? model.max_output_tokens ?? defaultMaxOutput);
  const choices = body.n ?? 1;
  const promptPrice = BigInt(Math.max(model.input_price, model.cached_input_price ?? 0));
  const numerator = BigInt(promptTokens) * promptPrice + BigInt(outputTokens) * BigInt(choices) * BigInt(model.output_price);
  return { promptTokens, outputTokens, choices, micros: Number((numerator + 999_999n) / 1_000_000n) };
}

/** Holds the bound, or answers 402 saying what was needed, what is available and, where
 *  a smaller max_tokens would fit, how many tokens the balance affords. */
export async function hold(db: D1Database, requestId: string, p: Principal, model: ModelRow, bound: Bound): Promise<number> {
  const balance = await placeHold(db, {
    requestId, accountId: p.accountId, keyId: p.keyId, keyName: p.keyName, model: model.id, amount: bound.micros,
  });
  if (balance !== null) return balance;

  const limitLeft = p.spendLimit === null ? Infinity : Math.max(0, p.spendLimit - p.spent);
  const available = Math.min(p.balance, limitLeft);
  const what = available === p.balance ? `your balance is $${toDollars(p.balance)}` : `this key's spend limit leaves $${toDollars(available)}`;
  let message = `Insufficient balance: this request may cost up to $${toDollars(bound.micros)} and ${what}.`;
  if (bound.outputTokens > 0 && model.output_price > 0) {
    const promptCost = Math.ceil((bound.promptTokens * Math.max(model.input_price, model.cached_input_price ?? 0)) / 1_000_000);
    const affordable = Math.floor(((available - promptCost) * 1_000_000) / (model.output_price * bound.choices));
    if (affordable >= 1 && affordable < bound.outputTokens) message += ` A max_tokens of at most ${affordable} would fit.`;
  }
  throw new ApiError(402, 'insufficient_balance', available === p.balance ? 'insufficient_balance' : 'spend_limit_reached', message);
}
