import { Hono } from 'hono';
import { readCustomerJson } from '../auth/customer';
import { characterCount, imagePrice, imagesCost, unitPrice } from '../billing/units';
import type { AppEnv } from '../context';
import type { ModelRow, Route } from '../db/catalog';
import { ImageStreamMeter } from '../proxy/image-stream';
import type { UpstreamSuccess } from '../proxy/upstream';
import { imageUsage } from '../proxy/usage';
import { ImageGenerationSchema } from './media-schemas';
import { relayStream, settleMeasured, startRelay, type Relay } from './relay';

/**
 * POST /v1/images/generations: forwarded to the model's `openai` channels; `url` and
 * `b64_json` answers, and the streamed partial images where the model offers them.
 * Priced per image by size and quality (billing/units.ts): `n` × the dearest price the
 * size and quality asked allow is held; the images made are charged — at the size and
 * quality the answer says it made, where it says — or their tokens, where the answer
 * reports them and the model prices tokens.
 */
export const images = new Hono<AppEnv>();

/** OpenAI's default when the request names no model. */
const DEFAULT_MODEL = 'dall-e-2';

/** µ$ per image of this size and quality, or the 400 for a model not sold so. */
const perImage = (model: ModelRow, size: string, quality: string) =>
  unitPrice(model, imagePrice(model, size, quality), `images of size ${size} and quality ${quality} (image_prices)`);

images.post('/images/generations', async (c) => {
  const startedAt = Date.now();
  const request = await readCustomerJson(c, ImageGenerationSchema);
  const body = { ...request, model: request.model ?? DEFAULT_MODEL };
  const [n, size, quality] = [body.n ?? 1, body.size ?? 'auto', body.quality ?? 'auto'];
  const relay = await startRelay(c, body, { bound: 0, estimate: Math.ceil(characterCount(body.prompt) / 4), references: [] }, startedAt, {
    generates: false,
    serves: (route) => route.kind === 'openai',
    unitHold: (model) => imagesCost(n, perImage(model, size, quality)),
  });
  const held = perImage(relay.request.model, size, quality);
  const toChannel = (route: Route) => ({ path: '/images/generations' as const, body: { ...body, model: route.upstream_model } });
  if (body.stream) return relayStream(c, relay, await relay.forward(toChannel), new ImageStreamMeter(held));
  const upstream = await relay.forward(toChannel, (parsed) => Array.isArray(parsed.data) && parsed.error === undefined);
  return imagesAnswer(relay, upstream, held, size, quality);
});

/** A whole images answer: the images it holds charged (or its tokens), its usage showing the cost. */
export function imagesAnswer(relay: Relay, upstream: UpstreamSuccess, held: number, size: string, quality: string): Response {
  const answer = upstream.json!;
  const made = (answer.data as unknown[]).length;
  // The size and quality the answer says it made (GPT image models say), else those asked.
  const said = (field: string, asked: string) => (typeof answer[field] === 'string' ? (answer[field] as string) : asked);
  const price = Math.min(imagePrice(relay.request.model, said('size', size), said('quality', quality)) ?? held, held);
  const usage = imageUsage(answer.usage);
  const { cost } = settleMeasured(relay, upstream, { unit: 'images', quantity: made, micros: imagesCost(made, price) }, usage);
  return Response.json(usage ? { ...answer, usage: { ...(answer.usage as object), cost } } : answer);
}
