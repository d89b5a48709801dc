import { Hono } from 'hono';
import { readCustomerJson } from '../auth/customer';
import type { AppEnv } from '../context';
import { measurePrompt } from '../billing/prompt';
import { relayJson, startRelay } from './relay';
import { EmbeddingsRequestSchema } from './schemas';

/** POST /v1/embeddings: forwarded to the model's channels, billed on input tokens. */
export const embeddings = new Hono<AppEnv>();

embeddings.post('/embeddings', async (c) => {
  const startedAt = Date.now();
  const body = await readCustomerJson(c, EmbeddingsRequestSchema);
  const relay = await startRelay(c, body, measurePrompt(body), startedAt, {
    generates: false,
    serves: (route) => route.kind === 'openai' || route.kind === 'echo', // the native Anthropic and Gemini APIs are not wired for embeddings
  });
  const upstream = await relay.forward(
    (route) => ({ path: '/embeddings', body: { ...body, model: route.upstream_model } }),
    (parsed) => Array.isArray(parsed.data) && parsed.error === undefined,
  );
  return relayJson(relay, upstream, () => 0);
});
