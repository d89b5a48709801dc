import type { TokenCounts } from '../money';

/**
 * The documented estimate used where an upstream reports no usage (and for the echo model):
 * one token per 4 ASCII characters, rounded up, plus one token per non-ASCII character.
 * English text averages about 4 characters a token in OpenAI's tokenizers; CJK and most
 * other scripts take at least one token a character, so counting them one each keeps the
 * estimate from undercharging there. A tokenizer would be closer, but ships megabytes of
 * vocabulary, too much for a Worker bundle.
 */
export class TokenEstimator {
  private ascii = 0;
  private other = 0;

  add(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code < 0x80) this.ascii++;
      else if (code < 0xdc00 || code > 0xdfff) this.other++; // a surrogate pair counts once
    }
  }

  get tokens(): number {
    return Math.ceil(this.ascii / 4) + this.other;
  }
}

export function estimateTokens(text: string): number {
  const estimator = new TokenEstimator();
  estimator.add(text);
  return estimator.tokens;
}

/** Per-message framing tokens, as OpenAI documents for its chat format. */
const TOKENS_PER_MESSAGE = 4;

/** Prompt tokens of a chat request: every string inside each message, plus framing. */
export function estimatePromptTokens(messages: unknown[]): number {
  let tokens = 3;
  for (const message of messages) tokens += TOKENS_PER_MESSAGE + estimateTokens(collectText(message));
  return tokens;
}

export function collectText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(collectText).join(' ');
  if (value && typeof value === 'object') return Object.values(value).map(collectText).join(' ');
  return '';
}

export const estimatedCounts = (input: number, output: number): TokenCounts => ({
  input_tokens: input,
  output_tokens: output,
  cached_tokens: 0,
});

/** The generated text of a whole chat completion (its choices' messages), counted. */
export const chatOutputEstimate = (parsed: Record<string, unknown>) =>
  estimateTokens(collectText(Array.isArray(parsed.choices) ? parsed.choices.map((ch) => (ch as { message?: unknown } | null)?.message) : []));
