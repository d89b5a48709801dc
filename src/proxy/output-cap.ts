/**
 * The output cap the hold was sized for, as the upstream's API takes it (billing/hold.ts):
 * what a request is held for is what the upstream is asked to stop at, so a well-behaved
 * upstream never generates past the hold.
 *
 * Chat completions have two names for it. OpenAI's reasoning families (o1, o3, o4, gpt-5
 * and later, codex) refuse `max_tokens` with a 400 and take only `max_completion_tokens`;
 * most other OpenAI-format servers (DeepSeek, Qwen, GLM, Mistral, older vLLM) know only
 * `max_tokens` and ignore the newer name, which would leave them uncapped. So a request
 * that names a cap keeps its name (its sender knows the model), except `max_tokens` to a
 * reasoning family, which is renamed; one that names none gets the name its model takes.
 * The Responses API has one name, `max_output_tokens`; Anthropic's Messages API requires
 * `max_tokens`, and Gemini's `maxOutputTokens` is set by its translation.
 */
const REASONING_FAMILY = /^(o\d|gpt-([5-9]|\d\d)|codex)/i;

/** Whether the upstream model id (after any `vendor/` prefix, as OpenRouter writes them)
 *  is one of OpenAI's reasoning families. */
export const isReasoningFamily = (upstreamModel: string) => REASONING_FAMILY.test(upstreamModel.slice(upstreamModel.lastIndexOf('/') + 1));

/** A chat completions body with exactly one cap field, set to `tokens`. */
export function withChatOutputCap(body: Record<string, unknown>, upstreamModel: string, tokens: number): Record<string, unknown> {
  const { max_tokens, max_completion_tokens, ...rest } = body;
  const named = max_completion_tokens != null ? 'max_completion_tokens' : max_tokens != null ? 'max_tokens' : null;
  const field = isReasoningFamily(upstreamModel) ? 'max_completion_tokens' : (named ?? 'max_tokens');
  return { ...rest, [field]: tokens };
}
