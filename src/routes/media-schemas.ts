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

/** A form's fields as an object for its schema: a name sent more than once (`include[]`) is a list. */
export function fieldsOf(fields: Array<[string, string]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of fields) out[name] = name in out ? ([] as string[]).concat(out[name]!, value) : value;
  return out;
}

const formNumber = (min: number, max: number) => z.coerce.number().min(min).max(max);
const formBoolean = z.enum(['true', 'false'], { error: 'must be true or false' });

export const TRANSCRIPTION_FORMATS = ['json', 'text', 'srt', 'verbose_json', 'vtt', 'diarized_json'] as const;

export const TranscriptionFieldsSchema = z.looseObject({
  model,
  language: z.string().max(100).optional(),
  prompt: z.string().max(32_000).optional(),
  response_format: z.enum(TRANSCRIPTION_FORMATS).optional(),
  temperature: formNumber(0, 1).optional(),
  stream: formBoolean.optional(),
});

export const TranslationFieldsSchema = z.looseObject({
  model,
  prompt: z.string().max(32_000).optional(),
  response_format: z.enum(['json', 'text', 'srt', 'verbose_json', 'vtt']).optional(),
  temperature: formNumber(0, 1).optional(),
});

export const ImageEditFieldsSchema = z.looseObject({
  model: model.optional(),
  prompt: imageCommon.prompt,
  n: z.coerce.number().pipe(imageCount).optional(),
  size: imageSize.optional(),
  quality: imageQuality.optional(),
  response_format: z.enum(['url', 'b64_json']).optional(),
  output_format: z.enum(['png', 'jpeg', 'webp']).optional(),
  output_compression: formNumber(0, 100).optional(),
  background: z.enum(['transparent', 'opaque', 'auto']).optional(),
  input_fidelity: z.enum(['high', 'low']).optional(),
  stream: formBoolean.optional(),
  partial_images: formNumber(0, 3).optional(),
});

/** What OpenAI's transcription and translation take (its documented list and limit). */
export const AUDIO_FILE_TYPES = ['flac', 'mp3', 'mp4', 'mpeg', 'mpga', 'm4a', 'ogg', 'wav', 'webm'] as const;
export const MAX_AUDIO_FILE_BYTES = 25 * 1024 * 1024;
/** What OpenAI's image edits take: PNG, WebP or JPEG, at most 16 images, each under 50 MB. */
export const IMAGE_FILE_TYPES = ['png', 'webp', 'jpg', 'jpeg'] as const;
export const MAX_IMAGE_FILE_BYTES = 50 * 1024 * 1024;
export const MAX_EDIT_IMAGES = 16;
