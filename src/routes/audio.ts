import { Hono } from 'hono';
import { readCustomerJson } from '../auth/customer';
import { characterCount, charactersCost, unitPrice } from '../billing/units';
import type { AppEnv } from '../context';
import { SpeechSchema } from './media-schemas';
import { relayPassed, startRelay } from './relay';

/**
 * OpenAI's audio APIs on `openai` channels.
 * POST /v1/audio/speech: the audio streamed to the client as it arrives (every
 * response_format, and `stream_format: "sse"` passed through alike), priced per 1M input
 * characters and charged once the upstream has produced the audio (routes/relay.ts relayPassed).
 */
export const audio = new Hono<AppEnv>();

audio.post('/audio/speech', async (c) => {
  const startedAt = Date.now();
  const body = await readCustomerJson(c, SpeechSchema);
  const chars = characterCount(body.input);
  const cost = (perMillion: number) => charactersCost(chars, perMillion);
  const relay = await startRelay(c, body, { bound: 0, estimate: Math.ceil(chars / 4), references: [] }, startedAt, {
    generates: false,
    serves: (route) => route.kind === 'openai',
    unitHold: (model) => cost(unitPrice(model, model.character_price, 'speech (character_price)')),
  });
  const upstream = await relay.forward((route) => ({ path: '/audio/speech', body: { ...body, model: route.upstream_model } }));
  return relayPassed(c, relay, upstream, { unit: 'characters', quantity: chars, micros: cost(relay.request.model.character_price ?? 0) });
});
