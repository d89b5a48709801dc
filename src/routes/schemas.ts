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

// OpenAI's spec: an array of content parts has at least one (minItems: 1).
const parts = <T extends z.ZodType>(part: T) => z.array(part).min(1, 'must not be an empty array');
const textContent = z.union([z.string(), parts(textPart)], { error: 'must be a string or an array of text parts' });
const userContent = z.union(
  [z.string(), parts(z.discriminatedUnion('type', [textPart, imagePart, audioPart, filePart, videoPart]))],
  { error: 'must be a string or an array of content parts (text, image_url, input_audio, file)' },
);
const assistantContent = z.union([z.string(), parts(z.discriminatedUnion('type', [textPart, refusalPart]))], {
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

const stop = z.union([z.string(), z.array(z.string()).min(1).max(4)], { error: 'must be a string or an array of 1 to 4 strings' });
/** OpenAI's end-user id for abuse detection, at most 64 characters. */
const safetyIdentifier = z.string().max(64).optional();

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
  // Deprecated, still taken by OpenAI: between 1 and 128 functions.
  functions: z.array(z.looseObject({ name: functionName, description: z.string().optional(), parameters: jsonObject.optional() })).min(1).max(128).nullish(),
  prediction: z.looseObject({ type: z.literal('content'), content: z.union([z.string(), parts(textPart)]) }).nullish(),
  safety_identifier: safetyIdentifier,
});
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

const MAX_EMBEDDING_INPUTS = 2048;
const tokenIds = z.array(z.number().int().nonnegative()).min(1, 'must not be empty').max(MAX_EMBEDDING_INPUTS);

export const EmbeddingsRequestSchema = z.looseObject({
  model: z.string().min(1, 'a model is required'),
  input: z.union([
    z.string().min(1, 'must not be empty'),
    z.array(z.string().min(1, 'must not hold an empty string')).min(1, 'must not be empty').max(MAX_EMBEDDING_INPUTS),
    tokenIds,
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

/**
 * The Anthropic Messages API's body (POST /v1/messages), checked against Anthropic's
 * published types and ranges. Loose like the chat body: fields and block types the gateway
 * does not know pass through to `anthropic` channels (a channel that must translate them
 * refuses them by name: translate/messages-via-chat.ts).
 */
const cacheControl = z.looseObject({ type: z.literal('ephemeral'), ttl: z.enum(['5m', '1h']).optional() }).nullish();
const textBlock = z.looseObject({ type: z.literal('text'), text: z.string().min(1, 'text content blocks must be non-empty'), cache_control: cacheControl });
/** Anthropic's tool names and tool_use ids. */
const toolName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes');
const toolUseId = z.string().regex(/^[a-zA-Z0-9_-]+$/, 'must be letters, digits, underscores or dashes');
const mediaSource = z.union([
  z.looseObject({ type: z.literal('base64'), media_type: z.string().min(1), data: z.string().min(1) }),
  z.looseObject({ type: z.literal('url'), url: z.string().min(1) }),
  z.looseObject({ type: z.literal('file'), file_id: z.string().min(1) }),
  z.looseObject({ type: z.literal('text'), media_type: z.string(), data: z.string() }),
  z.looseObject({ type: z.literal('content'), content: z.unknown() }),
], { error: "must be a source of type 'base64', 'url', 'file', 'text' or 'content'" });
const imageBlock = z.looseObject({ type: z.literal('image'), source: mediaSource, cache_control: cacheControl });
const documentBlock = z.looseObject({ type: z.literal('document'), source: mediaSource, cache_control: cacheControl });
const toolUseBlock = z.looseObject({ type: z.literal('tool_use'), id: toolUseId, name: toolName, input: jsonObject });
const toolResultBlock = z.looseObject({
  type: z.literal('tool_result'),
  tool_use_id: toolUseId,
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
});
const thinkingBlock = z.looseObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string().optional() });
const redactedThinkingBlock = z.looseObject({ type: z.literal('redacted_thinking'), data: z.string() });
const KNOWN_BLOCKS = ['text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'];
/** Block types of Anthropic's that the gateway does not model (server tools' results, search results…). */
const otherBlock = z.looseObject({ type: z.string().refine((t) => !KNOWN_BLOCKS.includes(t), 'is a block type in the wrong shape') });
// By its type first (a long conversation's blocks are checked without trying every shape),
// then, for a type the gateway does not model, the catch-all.
const contentBlock = z.union([
  z.discriminatedUnion('type', [textBlock, imageBlock, documentBlock, toolUseBlock, toolResultBlock, thinkingBlock, redactedThinkingBlock]),
  otherBlock,
]);

export const MessagesMessageSchema = z.looseObject({
  // 'system' is not Anthropic's, but clients send it for models they do not know: moved into `system`.
  role: z.enum(['user', 'assistant', 'system'], { error: "must be 'user' or 'assistant'" }),
  content: z.union([z.string(), z.array(contentBlock)], { error: 'must be a string or an array of content blocks' }),
});

const messagesTool = z.looseObject({
  name: toolName,
  type: z.string().optional(),
  description: z.string().optional(),
  input_schema: jsonObject.optional(),
}).refine((t) => (t.type !== undefined && t.type !== 'custom') || t.input_schema !== undefined, {
  message: 'a custom tool needs an input_schema', path: ['input_schema'],
});

const messagesToolChoice = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal('tool'), name: z.string().min(1), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal('none') }),
], { error: "must be an object of type 'auto', 'any', 'tool' or 'none'" });

const messagesFields = {
  model: z.string().min(1, 'a model is required'),
  messages: z.array(MessagesMessageSchema).min(1, 'at least one message is required'),
  system: z.union([z.string(), z.array(textBlock)], { error: 'must be a string or an array of text blocks' }).optional(),
  tools: z.array(messagesTool).optional(),
  tool_choice: messagesToolChoice.optional(),
  thinking: z.looseObject({ type: z.enum(['enabled', 'disabled', 'adaptive']), budget_tokens: z.number().int().min(1024).optional() }).optional(),
};

export const MessagesRequestSchema = z.looseObject({
  ...messagesFields,
  max_tokens: positiveInt,
  stream: z.boolean().optional(),
  stop_sequences: z.array(z.string()).optional(),
  temperature: range(0, 1).optional(),
  top_p: range(0, 1).optional(),
  top_k: z.number().int().nonnegative().optional(),
  metadata: z.looseObject({ user_id: z.string().max(256).nullish() }).optional(),
});
export type MessagesRequest = z.infer<typeof MessagesRequestSchema>;

/** POST /v1/messages/count_tokens: what the prompt of a Messages request is made of. */
export const CountTokensRequestSchema = z.looseObject(messagesFields);
export type CountTokensRequest = z.infer<typeof CountTokensRequestSchema>;

/**
 * OpenAI's Responses API body (POST /v1/responses), loose like the others: passed through
 * to channels that have the API; a channel that must translate it refuses by name what it
 * cannot take (translate/responses-via-chat.ts).
 */
const responsesFunctionTool = z.looseObject({
  type: z.literal('function'),
  name: functionName,
  description: z.string().nullish(),
  parameters: jsonObject.nullish(),
  strict: z.boolean().nullish(),
});
/** Tools OpenAI runs itself (web_search, file_search, code_interpreter, mcp…): passed through. */
const responsesHostedTool = z.looseObject({ type: z.string().refine((t) => t !== 'function', 'a function tool needs a name') });

export const ResponsesRequestSchema = z.looseObject({
  model: z.string().min(1, 'a model is required'),
  input: z.union([z.string(), z.array(z.looseObject({ type: z.string().optional(), role: z.string().optional() }))], {
    error: 'must be a string or an array of input items',
  }).optional(),
  instructions: z.string().nullish(),
  stream: z.boolean().nullish(),
  max_output_tokens: z.number().int().min(16).nullish(),
  temperature: range(0, 2).nullish(),
  top_p: range(0, 1).nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  safety_identifier: safetyIdentifier,
  tools: z.array(z.union([responsesFunctionTool, responsesHostedTool])).nullish(),
  tool_choice: z.union([
    z.enum(['none', 'auto', 'required']),
    z.looseObject({ type: z.string() }),
  ], { error: "must be 'none', 'auto', 'required' or an object naming a tool" }).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  store: z.boolean().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  reasoning: z.looseObject({ effort: z.string().nullish() }).nullish(),
  text: z.looseObject({ format: z.looseObject({ type: z.string() }).optional() }).nullish(),
  user: z.string().optional(),
  metadata: z.record(z.string(), z.string()).nullish(),
});
export type ResponsesRequest = z.infer<typeof ResponsesRequestSchema>;
