import { Hono } from 'hono';
import { readCustomerJson } from '../auth/customer';
import type { AppEnv } from '../context';
import type { Route } from '../db/catalog';
import { collectText, estimatePromptTokens, estimateTokens } from '../proxy/estimate';
import { ChatStreamMeter } from '../proxy/sse';
import { isCompletion, isMessage, type UpstreamRequest } from '../proxy/upstream';
import { anthropicUsage } from '../proxy/usage';
import { chatCompletion, ChatFromMessagesStream, chatUsageOf, messagesRequest } from '../translate/chat-via-messages';
import { relayJson, relayStream, settleWhole, startRelay } from './relay';
import { ChatRequestSchema, type ChatRequest } from './schemas';

/** POST /v1/chat/completions, whole or streamed; on `anthropic` channels, translated. */
export const chat = new Hono<AppEnv>();

chat.post('/chat/completions', async (c) => {
  const startedAt = Date.now();
  const body = await readCustomerJson(c, ChatRequestSchema);
  const stream = body.stream === true;
  const translated: { messages?: Record<string, unknown> } = {};
  const relay = await startRelay(c, body, estimatePromptTokens(body.messages), startedAt, { check: (routes, maxOutputTokens) => {
    // Translated once, before anything is held: what Anthropic cannot take is a 400 now.
    if (routes.some((r) => r.kind === 'anthropic')) translated.messages = messagesRequest(body, maxOutputTokens);
  } });
  const request = (route: Route): UpstreamRequest =>
    route.kind === 'anthropic'
      ? { path: '/messages', body: { ...translated.messages, model: route.upstream_model } }
      : { path: '/chat/completions', body: upstreamBody(body, route.upstream_model, stream) };
  const upstream = await relay.forward(
    request,
    stream ? undefined : (parsed, sent) => (sent.path === '/messages' ? isMessage(parsed) : isCompletion(parsed)),
  );
  const viaAnthropic = upstream.route.kind === 'anthropic';

  if (!stream) {
    if (!viaAnthropic) {
      return relayJson(relay, upstream, (parsed) =>
        estimateTokens(collectText(Array.isArray(parsed.choices) ? parsed.choices.map((ch) => ch?.message) : [])),
      );
    }
    const message = upstream.json ?? {};
    const usage = anthropicUsage(message.usage);
    settleWhole(relay, upstream, usage, () => estimateTokens(collectText(message.content)));
    const answer = chatCompletion(message, body.model);
    return Response.json(usage ? { ...answer, usage: relay.showCost(chatUsageOf(usage), usage) } : answer);
  }
  const meter = viaAnthropic
    ? new ChatFromMessagesStream({ publicModel: body.model, includeUsage: body.stream_options?.include_usage === true, showCost: relay.showCost })
    : new ChatStreamMeter({ dropUsageOnly: body.stream_options?.include_usage !== true, publicModel: body.model, showCost: relay.showCost });
  return relayStream(c, relay, upstream, meter);
});

/** The client's body for one channel: that channel's model id, and on streams usage always
 *  asked for (the meter removes the usage chunk again when the client did not ask). */
function upstreamBody(body: ChatRequest, upstreamModel: string, stream: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body, model: upstreamModel };
  if (stream) out.stream_options = { ...(body.stream_options ?? {}), include_usage: true };
  return out;
}
