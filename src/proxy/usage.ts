import { z } from 'zod';
import type { TokenCounts } from '../money';

const count = z.number().int().nonnegative().optional().catch(undefined);

/** The usage object of an OpenAI-format response, as the providers in fixtures/ send it. */
const UsageSchema = z.looseObject({
  prompt_tokens: count,
  completion_tokens: count,
  total_tokens: count,
  prompt_tokens_details: z.looseObject({ cached_tokens: count }).nullish().catch(undefined),
  prompt_cache_hit_tokens: count, // DeepSeek
});

/**
 * Turns any recorded OpenAI-format usage object into billable counts, or null when it has
 * no token counts at all.
 * - Cached prompt tokens are part of prompt_tokens: OpenAI, Azure, Qwen and OpenRouter say
 *   so in prompt_tokens_details.cached_tokens, DeepSeek in prompt_cache_hit_tokens.
 * - Reasoning tokens are normally inside completion_tokens. xAI and Gemini's OpenAI
 *   endpoint count them outside it (total = prompt + completion + reasoning; Gemini does
 *   not even name them), so whatever total_tokens has above prompt + completion is output.
 */
export function normaliseUsage(raw: unknown): TokenCounts | null {
  const parsed = UsageSchema.safeParse(raw);
  if (!parsed.success) return null;
  const u = parsed.data;
  if (u.prompt_tokens === undefined && u.completion_tokens === undefined) return null;
  const input = u.prompt_tokens ?? 0;
  const completion = u.completion_tokens ?? 0;
  const output = completion + Math.max(0, (u.total_tokens ?? 0) - input - completion);
  const cached = u.prompt_tokens_details?.cached_tokens ?? u.prompt_cache_hit_tokens ?? 0;
  return { input_tokens: input, output_tokens: output, cached_tokens: Math.min(cached, input) };
}
