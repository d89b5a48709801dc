import { z } from 'zod';

/**
 * Request bodies of the customer API. Only what the gateway acts on is checked; loose
 * objects keep every other OpenAI field, so they pass through to the upstream untouched.
 */
const positiveInt = z.number().int().positive();

export const ChatMessageSchema = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(z.unknown()), z.null()]).optional(),
});

export const ChatRequestSchema = z.looseObject({
  model: z.string().min(1, 'a model is required'),
  messages: z.array(ChatMessageSchema).min(1, 'at least one message is required'),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  n: positiveInt.max(128).nullish(),
  max_tokens: positiveInt.nullish(),
  max_completion_tokens: positiveInt.nullish(),
});
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

export const EmbeddingsRequestSchema = z.looseObject({
  model: z.string().min(1, 'a model is required'),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1),
    z.array(z.number().int()).min(1),
    z.array(z.array(z.number().int()).min(1)).min(1),
  ]),
});
export type EmbeddingsRequest = z.infer<typeof EmbeddingsRequestSchema>;

export const LimitQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
