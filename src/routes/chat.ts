import { Hono } from 'hono';
import { config } from '../config';
import { readCustomerJson } from '../auth/customer';
import type { AppEnv } from '../context';
import { collectText, estimatePromptTokens, estimateTokens } from '../proxy/estimate';
import { ChatStreamMeter } from '../proxy/sse';
import { meteredStream } from '../proxy/stream';
import { relayJson, startRelay } from './relay';
import { ChatRequestSchema, type ChatRequest } from './schemas';

/** POST /v1/chat/completions, whole or streamed. */
export const chat = new Hono<AppEnv>();

chat.post('/chat/completions', async (c) => {
  const startedAt = Date.now();
  const body = await readCustomerJson(c, ChatRequestSchema);
  const relay = await startRelay(c, body, estimatePromptTokens(body.messages), startedAt);
  const stream = body.stream === true;
  const upstream = await relay.forward(
    '/chat/completions',
    (route) => upstreamBody(body, route.upstream_model, stream),
    stream ? undefined : (parsed) => Array.isArray(parsed.choices) && parsed.error === undefined,
  );

  if (!stream) {
    return relayJson(relay, upstream, (parsed) =>
      estimateTokens(collectText(Array.isArray(parsed.choices) ? parsed.choices.map((ch) => ch?.message) : [])),
    );
  }
  const channel = upstream.route.id;
  const source = upstream.response.body as ReadableStream<Uint8Array>; // callUpstream checked it
  const ended = relay.settleAtEnd();
  const meter = new ChatStreamMeter({
    dropUsageOnly: body.stream_options?.include_usage !== true,
    publicModel: body.model,
    showCost: relay.showCost,
  });
  const clientStream = meteredStream(source, {
    meter,
    idleTimeoutMs: config(c.env).UPSTREAM_IDLE_TIMEOUT_MS,
    startedAt,
    clientSignal: c.req.raw.signal,
    onEnd: ({ end, firstByteMs }) =>
      ended(
        // An upstream stream that ended or died before its first content event produced
        // nothing, whatever usage it claims: it costs nothing. (A client that left early
        // pays for the prompt the upstream had already taken in.)
        !meter.sawContent && end !== 'cancelled'
          ? { status: 'failed', channel, usage: null, estimatedOutput: null, firstByteMs }
          : { status: end, channel, usage: meter.usage, estimatedOutput: meter.usage ? null : meter.estimatedOutputTokens, firstByteMs },
      ),
  });
  return new Response(clientStream, {
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
  });
});

/** The client's body for one channel: that channel's model id, and on streams usage always
 *  asked for (the meter removes the usage chunk again when the client did not ask). */
function upstreamBody(body: ChatRequest, upstreamModel: string, stream: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body, model: upstreamModel };
  if (stream) out.stream_options = { ...(body.stream_options ?? {}), include_usage: true };
  return out;
}
