import { Hono } from 'hono';
import { readCustomerJson } from '../auth/customer';
import { characterCount, charactersCost, unitPrice } from '../billing/units';
import type { AppEnv } from '../context';
import { ModerationSchema, type Moderation } from './media-schemas';
import { settleMeasured, startRelay } from './relay';

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
  const chars = characters(body.input);
  const cost = (perMillion: number) => charactersCost(chars, perMillion);
  const relay = await startRelay(c, body, { bound: 0, estimate: Math.ceil(chars / 4), references: [] }, startedAt, {
    generates: false,
    serves: (route) => route.kind === 'openai',
    unitHold: (model) => cost(unitPrice(model, model.character_price, 'moderations (character_price)')),
  });
  const upstream = await relay.forward(
    (route) => ({ path: '/moderations', body: { ...body, model: route.upstream_model } }),
    (parsed) => Array.isArray(parsed.results) && parsed.error === undefined,
  );
  const model = relay.request.model;
  settleMeasured(relay, upstream, { unit: 'characters', quantity: chars, micros: cost(model.character_price ?? 0) }, null);
  return c.json({ ...upstream.json, model: model.id });
});
