import { z } from 'zod';

/**
 * The bodies of OpenAI's image, audio and moderation APIs, checked against its published
 * parameters (test/specs/openai-openapi.yaml: CreateImageRequest, CreateSpeechRequest,
 * CreateModerationRequest, CreateTranscriptionRequest, CreateTranslationRequest,
 * CreateImageEditRequest) before anything is held. Per-model rules the spec states only in
 * prose (dall-e-3 takes n = 1) are the upstream's to refuse; its 400 is passed back.
 */
const model = z.string().min(1, 'a model is required').max(200);

/** "auto", or WIDTHxHEIGHT (GPT image models take arbitrary sizes; the others a listed few). */
export const imageSize = z.string().regex(/^(auto|[1-9]\d{1,4}x[1-9]\d{1,4})$/, 'must be auto or WIDTHxHEIGHT, as 1024x1024');
const imageQuality = z.enum(['standard', 'hd', 'low', 'medium', 'high', 'auto']);
const imageCount = z.number().int().min(1).max(10);

const imageCommon = {
  prompt: z.string().min(1, 'must not be empty').max(32_000),
  n: imageCount.nullish(),
  size: imageSize.nullish(),
  quality: imageQuality.nullish(),
  response_format: z.enum(['url', 'b64_json']).nullish(),
  output_format: z.enum(['png', 'jpeg', 'webp']).nullish(),
  output_compression: z.number().int().min(0).max(100).nullish(),
  background: z.enum(['transparent', 'opaque', 'auto']).nullish(),
  stream: z.boolean().nullish(),
  partial_images: z.number().int().min(0).max(3).nullish(),
  user: z.string().optional(),
};

export const ImageGenerationSchema = z.looseObject({
  ...imageCommon,
  model: model.nullish(),
  moderation: z.enum(['low', 'auto']).nullish(),
  style: z.enum(['vivid', 'natural']).nullish(),
});
export type ImageGeneration = z.infer<typeof ImageGenerationSchema>;

export const VOICE_FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;

export const SpeechSchema = z.strictObject({
  model,
  input: z.string().min(1, 'must not be empty').max(4096),
  instructions: z.string().max(4096).optional(),
  // A built-in voice's name, or a custom voice by id (VoiceIdsOrCustomVoice).
  voice: z.union([z.string().min(1), z.looseObject({ id: z.string().min(1) })], { error: 'must be a voice name or {"id": …}' }),
  response_format: z.enum(VOICE_FORMATS).optional(),
  speed: z.number().min(0.25).max(4).optional(),
  stream_format: z.enum(['sse', 'audio']).optional(),
});
export type Speech = z.infer<typeof SpeechSchema>;

const moderationItem = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text'), text: z.string() }),
  z.looseObject({ type: z.literal('image_url'), image_url: z.looseObject({ url: z.string().min(1) }) }),
]);

export const ModerationSchema = z.looseObject({
  input: z.union([z.string(), z.array(z.string()), z.array(moderationItem)], {
    error: 'must be a string, an array of strings, or an array of text and image_url items',
  }),
  model: model.optional(),
});
export type Moderation = z.infer<typeof ModerationSchema>;
