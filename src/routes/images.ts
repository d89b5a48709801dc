import { Hono, type Context } from 'hono';
import { readCustomerJson } from '../auth/customer';
import { characterCount, imagePrice, imagesCost, unitPrice } from '../billing/units';
import type { AppEnv } from '../context';
import type { ModelRow, Route } from '../db/catalog';
import { ApiError } from '../errors';
import { ImageStreamMeter } from '../proxy/image-stream';
import type { UpstreamRequest, UpstreamSuccess } from '../proxy/upstream';
import { imageUsage } from '../proxy/usage';
import { parse } from '../validate';
import {
  fieldsOf, IMAGE_FILE_TYPES, ImageEditFieldsSchema, ImageGenerationSchema, MAX_EDIT_IMAGES, MAX_IMAGE_FILE_BYTES,
} from './media-schemas';
import { relayStream, settleMeasured, startRelay, type Relay } from './relay';
import { checkFile, openUpload } from './uploads';

/**
 * POST /v1/images/generations: forwarded to the model's `openai` channels; `url` and
 * `b64_json` answers, and the streamed partial images where the model offers them.
 * Priced per image by size and quality (billing/units.ts): `n` × the dearest price the
 * size and quality asked allow is held; the images made are charged — at the size and
 * quality the answer says it made, where it says — or their tokens, where the answer
 * reports them and the model prices tokens.
 */
export const images = new Hono<AppEnv>();

/** OpenAI's defaults when the request names no model. */
const DEFAULT_MODEL = 'dall-e-2';
const DEFAULT_EDIT_MODEL = 'gpt-image-1.5';

/** µ$ per image of this size and quality, or the 400 for a model not sold so. */
const perImage = (model: ModelRow, size: string, quality: string) =>
  unitPrice(model, imagePrice(model, size, quality), `images of size ${size} and quality ${quality} (image_prices)`);

images.post('/images/generations', async (c) => {
  const startedAt = Date.now();
  const request = await readCustomerJson(c, ImageGenerationSchema);
  const body = { ...request, model: request.model ?? DEFAULT_MODEL };
  return relayImages(c, startedAt, body, body.stream === true, (route) => ({ path: '/images/generations', body: { ...body, model: route.upstream_model } }));
});

/**
 * POST /v1/images/edits: the form (its images, up to 16, and a mask) sent on as the client
 * made it but for the model's upstream id. It is kept until it has been read whole — its
 * fields size the hold, and may come after the images — then sent, so a failed channel's
 * next one gets it too. Priced as generations are.
 */
images.post('/images/edits', async (c) => {
  const startedAt = Date.now();
  const upload = await openUpload(c, MAX_IMAGE_FILE_BYTES, () => false);
  const fields = fieldsOf(upload.form.fields);
  const body = { ...parse(ImageEditFieldsSchema, fields), model: (fields.model as string | undefined) ?? DEFAULT_EDIT_MODEL };
  const given = upload.form.files.filter((f) => f.name === 'image' || f.name === 'image[]');
  if (given.length > MAX_EDIT_IMAGES) throw new ApiError('invalid_value', `Invalid 'image': at most ${MAX_EDIT_IMAGES} images.`, { param: 'image' });
  checkFile(given[0], 'image', IMAGE_FILE_TYPES);
  for (const file of given) checkFile(file, file.name, IMAGE_FILE_TYPES);
  const mask = upload.form.files.find((f) => f.name === 'mask');
  if (mask) checkFile(mask, 'mask', ['png']);
  return relayImages(c, startedAt, body, body.stream === 'true', (route) => ({
    path: '/images/edits', body: fields,
    form: { contentType: upload.contentType, upload: () => upload.upload((name, value) => (name === 'model' ? route.upstream_model : value)) },
  }));
});

/** Held, forwarded and charged alike for generations and edits: `n` × the per-image price
 *  the size and quality asked allow; streamed partial images, or a whole answer. */
async function relayImages(
  c: Context<AppEnv>, startedAt: number, body: { model: string; prompt: string; n?: number | null; size?: string | null; quality?: string | null },
  stream: boolean, toChannel: (route: Route) => UpstreamRequest,
): Promise<Response> {
  const [n, size, quality] = [body.n ?? 1, body.size ?? 'auto', body.quality ?? 'auto'];
  const relay = await startRelay(c, body, { bound: 0, estimate: Math.ceil(characterCount(body.prompt) / 4), references: [] }, startedAt, {
    generates: false,
    serves: (route) => route.kind === 'openai',
    unitHold: (model) => imagesCost(n, perImage(model, size, quality)),
  });
  const held = perImage(relay.request.model, size, quality);
  if (stream) return relayStream(c, relay, await relay.forward(toChannel), new ImageStreamMeter(held));
  const upstream = await relay.forward(toChannel, (parsed) => Array.isArray(parsed.data) && parsed.error === undefined);
  return imagesAnswer(relay, upstream, held, size, quality);
}

/** A whole images answer: the images it holds charged (or its tokens), its usage showing the cost. */
function imagesAnswer(relay: Relay, upstream: UpstreamSuccess, held: number, size: string, quality: string): Response {
  const answer = upstream.json!;
  const made = (answer.data as unknown[]).length;
  // The size and quality the answer says it made (GPT image models say), else those asked.
  const said = (field: string, asked: string) => (typeof answer[field] === 'string' ? (answer[field] as string) : asked);
  const price = Math.min(imagePrice(relay.request.model, said('size', size), said('quality', quality)) ?? held, held);
  const usage = imageUsage(answer.usage);
  const { cost } = settleMeasured(relay, upstream, { unit: 'images', quantity: made, micros: imagesCost(made, price) }, usage);
  return Response.json(usage ? { ...answer, usage: { ...(answer.usage as object), cost } } : answer);
}
