import { Hono } from 'hono';
import { readCustomerJson } from '../auth/customer';
import { characterCount } from '../billing/units';
import type { AppEnv } from '../context';
import { ModerationSchema, type Moderation } from './media-schemas';
import { settleMeasured, startCharacterRelay } from './relay';

/**
 * POST /v1/moderations: forwarded to the model's `openai` channels, priced per 1M input
 * characters of its text (image inputs cost nothing more: OpenAI charges nothing for
 * moderations, so the character price is what the operator asks).
 */
export const moderations = new Hono<AppEnv>();

/** OpenAI's default when the request names no model. */
const DEFAULT_MODEL = 'omni-moderation-latest';

const characters = (input: Moderation['input']): number =>
  typeof input === 'string'
    ? characterCount(input)
    : input.reduce((n: number, item) => n + (typeof item === 'string' ? characterCount(item) : item.type === 'text' ? characterCount(item.text) : 0), 0);

moderations.post('/moderations', async (c) => {
  const startedAt = Date.now();
  const request = await readCustomerJson(c, ModerationSchema);
  const body = { ...request, model: request.model ?? DEFAULT_MODEL };
  const { relay, measured } = await startCharacterRelay(c, body, characters(body.input), startedAt, 'moderations');
  const upstream = await relay.forward(
    (route) => ({ path: '/moderations', body: { ...body, model: route.upstream_model } }),
    (parsed) => Array.isArray(parsed.results) && parsed.error === undefined,
  );
  settleMeasured(relay, upstream, measured, null);
  return c.json({ ...upstream.json, model: relay.request.model.id });
});
