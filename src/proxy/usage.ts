/** Usage, from every shape a provider reports it in, as billable counts (money.ts TokenCounts). */
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

/** One usage object of Anthropic's Messages API (a message's, or a stream event's). */
const AnthropicCountsSchema = z.looseObject({
  input_tokens: count,
  output_tokens: count,
  cache_read_input_tokens: count.nullable().catch(undefined),
  cache_creation_input_tokens: count.nullable().catch(undefined),
  cache_creation: z.looseObject({ ephemeral_5m_input_tokens: count, ephemeral_1h_input_tokens: count }).nullish().catch(undefined),
});
const AnthropicUsageSchema = AnthropicCountsSchema.extend({
  iterations: z.array(AnthropicCountsSchema).nullish().catch(undefined),
});
type AnthropicCounts = z.infer<typeof AnthropicCountsSchema>;

function anthropicCounts(u: AnthropicCounts): TokenCounts {
  const read = u.cache_read_input_tokens ?? 0;
  const written = u.cache_creation_input_tokens
    ?? (u.cache_creation ? (u.cache_creation.ephemeral_5m_input_tokens ?? 0) + (u.cache_creation.ephemeral_1h_input_tokens ?? 0) : 0);
  return {
    input_tokens: (u.input_tokens ?? 0) + read + written,
    output_tokens: u.output_tokens ?? 0,
    cached_tokens: read,
    cache_write_tokens: written,
  };
}

/**
 * Billable counts from an Anthropic usage object, or null when it has no token counts.
 * - Anthropic's input_tokens leaves out the prompt tokens read from and written to its
 *   cache (cache_read_input_tokens, cache_creation_input_tokens — or, where only the
 *   breakdown is given, its 5-minute and 1-hour writes); all three are the prompt.
 * - output_tokens includes thinking.
 * - Where a response ran several iterations (context compaction), the top-level counts are
 *   the last iteration's only; Anthropic bills every iteration, so their sum is the usage.
 */
export function anthropicUsage(raw: unknown): TokenCounts | null {
  const parsed = AnthropicUsageSchema.safeParse(raw);
  if (!parsed.success) return null;
  const u = parsed.data;
  if (u.iterations && u.iterations.length > 0) {
    return u.iterations.map(anthropicCounts).reduce((sum, c) => ({
      input_tokens: sum.input_tokens + c.input_tokens,
      output_tokens: sum.output_tokens + c.output_tokens,
      cached_tokens: sum.cached_tokens + c.cached_tokens,
      cache_write_tokens: (sum.cache_write_tokens ?? 0) + (c.cache_write_tokens ?? 0),
    }));
  }
  if (u.input_tokens === undefined && u.output_tokens === undefined) return null;
  return anthropicCounts(u);
}

/**
 * A stream's usage as its events report it: message_start's counts, updated by every
 * message_delta's. Anthropic repeats its final counts there (output_tokens is cumulative),
 * and compatible providers often report the real input only there (fixtures/anthropic-
 * compatible), so a later count replaces an earlier one field by field.
 */
export class AnthropicUsageTracker {
  private latest: Record<string, unknown> = {};
  counts: TokenCounts | null = null;

  /** Takes in one event's usage object; returns the counts so far. */
  update(raw: unknown): TokenCounts | null {
    if (typeof raw !== 'object' || raw === null) return this.counts;
    for (const [field, value] of Object.entries(raw)) if (value !== null && value !== undefined) this.latest[field] = value;
    this.counts = anthropicUsage(this.latest) ?? this.counts;
    return this.counts;
  }
}

/** The usage object of OpenAI's Responses API (a response's, also inside response.completed). */
const ResponsesUsageSchema = z.looseObject({
  input_tokens: count,
  output_tokens: count,
  input_tokens_details: z.looseObject({ cached_tokens: count }).nullish().catch(undefined),
});

/** Billable counts from a Responses API usage object: input_tokens includes the cached
 *  ones (input_tokens_details.cached_tokens), output_tokens the reasoning ones. */
export function responsesUsage(raw: unknown): TokenCounts | null {
  const parsed = ResponsesUsageSchema.safeParse(raw);
  if (!parsed.success) return null;
  const u = parsed.data;
  if (u.input_tokens === undefined && u.output_tokens === undefined) return null;
  const input = u.input_tokens ?? 0;
  return { input_tokens: input, output_tokens: u.output_tokens ?? 0, cached_tokens: Math.min(u.input_tokens_details?.cached_tokens ?? 0, input) };
}

/** The usage object of OpenAI's image APIs (ImagesResponse.usage, and the streams' completed
 *  events) and of its transcriptions (`type: "tokens"`): text and image or audio tokens. */
const MediaUsageSchema = z.looseObject({
  type: z.string().optional().catch(undefined),
  input_tokens: count,
  output_tokens: count,
  input_tokens_details: z.looseObject({ image_tokens: count, audio_tokens: count, cached_tokens: count }).nullish().catch(undefined),
  input_token_details: z.looseObject({ audio_tokens: count }).nullish().catch(undefined),
  output_tokens_details: z.looseObject({ image_tokens: count, text_tokens: count }).nullish().catch(undefined),
});

/**
 * Billable counts from an image answer's usage: input_tokens is text and image tokens
 * (input_tokens_details), output_tokens the image's — all of them image tokens unless
 * output_tokens_details says which part is text. Null: no token counts (dall-e models).
 */
export function imageUsage(raw: unknown): TokenCounts | null {
  const parsed = MediaUsageSchema.safeParse(raw);
  if (!parsed.success || (parsed.data.input_tokens === undefined && parsed.data.output_tokens === undefined)) return null;
  const u = parsed.data;
  const output = u.output_tokens ?? 0;
  return {
    input_tokens: u.input_tokens ?? 0,
    output_tokens: output,
    cached_tokens: u.input_tokens_details?.cached_tokens ?? 0,
    image_input_tokens: u.input_tokens_details?.image_tokens ?? 0,
    image_output_tokens: u.output_tokens_details?.image_tokens ?? output - (u.output_tokens_details?.text_tokens ?? 0),
  };
}

/**
 * Billable counts from a transcription's usage when it is in tokens: input is audio (and
 * the prompt's text) tokens (input_token_details.audio_tokens), output the transcript's text.
 * Null: in seconds (`type: "duration"`; `durationSeconds`), or none.
 */
export function transcriptionUsage(raw: unknown): TokenCounts | null {
  const parsed = MediaUsageSchema.safeParse(raw);
  if (!parsed.success || parsed.data.type === 'duration' || (parsed.data.input_tokens === undefined && parsed.data.output_tokens === undefined)) return null;
  const u = parsed.data;
  return {
    input_tokens: u.input_tokens ?? 0, output_tokens: u.output_tokens ?? 0, cached_tokens: 0,
    audio_input_tokens: u.input_token_details?.audio_tokens ?? u.input_tokens_details?.audio_tokens ?? 0,
  };
}

/** The seconds of audio an answer reports it took in: its usage in seconds, else its `duration`. */
export function durationSeconds(answer: Record<string, unknown>): number | null {
  const usage = answer.usage as { type?: unknown; seconds?: unknown } | undefined;
  if (usage?.type === 'duration' && typeof usage.seconds === 'number' && usage.seconds >= 0) return Math.ceil(usage.seconds);
  return typeof answer.duration === 'number' && answer.duration >= 0 ? Math.ceil(answer.duration) : null;
}

/** Gemini's usageMetadata (generateContent, and every streamGenerateContent chunk). */
const GeminiUsageSchema = z.looseObject({
  promptTokenCount: count,
  candidatesTokenCount: count,
  thoughtsTokenCount: count,
  cachedContentTokenCount: count,
  toolUsePromptTokenCount: count,
});

/**
 * Billable counts from Gemini's usageMetadata: the prompt is promptTokenCount (cached
 * content included, as cachedContentTokenCount says) plus toolUsePromptTokenCount; output
 * is candidatesTokenCount plus thoughtsTokenCount (thinking is billed as output). A
 * stream's chunks each carry the counts so far, so the last one is the usage (never a sum).
 */
export function geminiUsage(raw: unknown): TokenCounts | null {
  const parsed = GeminiUsageSchema.safeParse(raw);
  if (!parsed.success) return null;
  const u = parsed.data;
  if (u.promptTokenCount === undefined && u.candidatesTokenCount === undefined) return null;
  const input = (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0);
  return {
    input_tokens: input,
    output_tokens: (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0),
    cached_tokens: Math.min(u.cachedContentTokenCount ?? 0, input),
  };
}

/** OpenAI's chat usage object for counts, as a translated answer shows them (cached and
 *  cache-written prompt tokens in prompt_tokens_details). */
export const chatUsageOf = (u: TokenCounts) => ({
  prompt_tokens: u.input_tokens,
  completion_tokens: u.output_tokens,
  total_tokens: u.input_tokens + u.output_tokens,
  prompt_tokens_details: { cached_tokens: u.cached_tokens, cache_write_tokens: u.cache_write_tokens ?? 0 },
});

/** The seconds an SRT or WebVTT transcript covers: its last cue's end, rounded up. */
export function subtitleSeconds(text: string): number | null {
  let end: number | null = null;
  for (const m of text.matchAll(/-->\s*(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{3})/g)) {
    const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
    end = Math.max(end ?? 0, Math.ceil(seconds));
  }
  return end;
}
