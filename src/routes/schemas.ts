import { z } from 'zod';

/**
 * Request bodies of the customer API, checked against OpenAI's published types and ranges
 * before anything is held, logged or sent upstream. Objects are loose: fields the gateway
 * does not know (a provider's extensions, newer OpenAI parameters) pass through untouched;
 * the fields it knows must have their documented shape.
 */
const positiveInt = z.number().int().positive();
const range = (min: number, max: number) => z.number().min(min).max(max);

const textPart = z.looseObject({ type: z.literal('text'), text: z.string() });
const imagePart = z.looseObject({
  type: z.literal('image_url'),
  image_url: z.looseObject({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }),
});
const audioPart = z.looseObject({
  type: z.literal('input_audio'),
  input_audio: z.looseObject({ data: z.string(), format: z.enum(['wav', 'mp3']) }),
});
const filePart = z.looseObject({
  type: z.literal('file'),
  file: z.looseObject({ file_data: z.string().optional(), file_id: z.string().optional(), filename: z.string().optional() }),
});
// Not OpenAI's, but documented by the OpenAI-format servers that take video (Qwen, vLLM).
const videoPart = z.looseObject({ type: z.literal('video_url'), video_url: z.looseObject({ url: z.string().min(1) }) });
const refusalPart = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });

const textContent = z.union([z.string(), z.array(textPart)], { error: 'must be a string or an array of text parts' });
const userContent = z.union(
  [z.string(), z.array(z.discriminatedUnion('type', [textPart, imagePart, audioPart, filePart, videoPart]))],
  { error: 'must be a string or an array of content parts (text, image_url, input_audio, file)' },
);
const assistantContent = z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, refusalPart]))], {
  error: 'must be a string or an array of text and refusal parts',
});

const toolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});
const name = z.string().optional();

export const ChatMessageSchema = z.discriminatedUnion('role', [
  z.looseObject({ role: z.literal('system'), content: textContent, name }),
  z.looseObject({ role: z.literal('developer'), content: textContent, name }),
  z.looseObject({ role: z.literal('user'), content: userContent, name }),
  z.looseObject({
    role: z.literal('assistant'),
    content: assistantContent.nullish(),
    name,
    refusal: z.string().nullish(),
    tool_calls: z.array(toolCall).optional(),
  }),
  z.looseObject({ role: z.literal('tool'), content: textContent, tool_call_id: z.string() }),
  z.looseObject({ role: z.literal('function'), content: z.string().nullable(), name: z.string() }),
], { error: "must be one of 'system', 'developer', 'user', 'assistant', 'tool' or 'function'" });

const functionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes');
const jsonObject = z.record(z.string(), z.unknown());

const tool = z.discriminatedUnion('type', [
  z.looseObject({
    type: z.literal('function'),
    function: z.looseObject({ name: functionName, description: z.string().optional(), parameters: jsonObject.optional(), strict: z.boolean().nullish() }),
  }),
  z.looseObject({ type: z.literal('custom'), custom: z.looseObject({ name: functionName, description: z.string().optional() }) }),
], { error: "must be a tool of type 'function' or 'custom'" });

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) }),
  z.looseObject({ type: z.literal('custom'), custom: z.looseObject({ name: z.string() }) }),
  z.looseObject({ type: z.literal('allowed_tools'), allowed_tools: z.looseObject({ mode: z.enum(['auto', 'required']), tools: z.array(jsonObject) }) }),
], { error: "must be 'none', 'auto', 'required' or an object naming a tool" });

const responseFormat = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({ name: functionName, description: z.string().optional(), schema: jsonObject.optional(), strict: z.boolean().nullish() }),
  }),
], { error: "must be an object of type 'text', 'json_object' or 'json_schema'" });

const stop = z.union([z.string(), z.array(z.string()).max(4)], { error: 'must be a string or an array of at most 4 strings' });

export const ChatRequestSchema = z.looseObject({
  model: z.string().min(1, 'a model is required'),
  messages: z.array(ChatMessageSchema).min(1, 'at least one message is required'),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  n: positiveInt.max(128).nullish(),
  max_tokens: positiveInt.nullish(),
  max_completion_tokens: positiveInt.nullish(),
  temperature: range(0, 2).nullish(),
  top_p: range(0, 1).nullish(),
  presence_penalty: range(-2, 2).nullish(),
  frequency_penalty: range(-2, 2).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  stop: stop.nullish(),
  logit_bias: z.record(z.string().regex(/^\d+$/, 'keys must be token ids'), range(-100, 100)).nullish(),
  seed: z.number().int().nullish(),
  user: z.string().optional(),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: responseFormat.nullish(),
});
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

const MAX_EMBEDDING_INPUTS = 2048;
const tokenIds = z.array(z.number().int().nonnegative()).min(1, 'must not be empty');

export const EmbeddingsRequestSchema = z.looseObject({
  model: z.string().min(1, 'a model is required'),
  input: z.union([
    z.string().min(1, 'must not be empty'),
    z.array(z.string().min(1, 'must not hold an empty string')).min(1, 'must not be empty').max(MAX_EMBEDDING_INPUTS),
    tokenIds.max(MAX_EMBEDDING_INPUTS * 4),
    z.array(tokenIds).min(1, 'must not be empty').max(MAX_EMBEDDING_INPUTS),
  ], { error: `must be a non-empty string, an array of at most ${MAX_EMBEDDING_INPUTS} non-empty strings, or token ids` }),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: positiveInt.optional(),
  user: z.string().optional(),
});
export type EmbeddingsRequest = z.infer<typeof EmbeddingsRequestSchema>;

export const LimitQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
