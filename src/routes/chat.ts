import { Hono } from 'hono';
import { readCustomerJson } from '../auth/customer';
import type { AppEnv } from '../context';
import type { Route } from '../db/catalog';
import { measurePrompt } from '../billing/prompt';
import { sentAsRaw } from '../proxy/raw-body';
import { chatOutputEstimate, collectText, estimateTokens } from '../proxy/estimate';
import { withChatOutputCap } from '../proxy/output-cap';
import { ChatStreamMeter } from '../proxy/sse';
import { isCompletion, isMessage, type UpstreamRequest } from '../proxy/upstream';
import { anthropicUsage, chatUsageOf, geminiUsage } from '../proxy/usage';
import * as gemini from '../translate/chat-via-gemini';
import { chatCompletion, ChatFromMessagesStream, messagesRequest } from '../translate/chat-via-messages';
import { bodyOf } from '../validate';
import { relayJson, relayStream, settleWhole, startRelay } from './relay';
import { ChatRequestSchema, type ChatRequest } from './schemas';

/** POST /v1/chat/completions, whole or streamed; on `anthropic` and `gemini` channels, translated. */
export const chat = new Hono<AppEnv>();

chat.post('/chat/completions', async (c) => {
  const startedAt = Date.now();
  const body = await readCustomerJson(c, ChatRequestSchema);
  const raw = await bodyOf(c);
  const stream = body.stream === true;
  const translated: { messages?: Record<string, unknown>; gemini?: Record<string, unknown> } = {};
  const relay = await startRelay(c, body, measurePrompt(body), startedAt, { check: (routes, maxOutputTokens) => {
    // Translated once, before anything is held: what a channel's API cannot take is a 400 now.
    if (routes.some((r) => r.kind === 'anthropic')) translated.messages = messagesRequest(body, maxOutputTokens);
    if (routes.some((r) => r.kind === 'gemini')) translated.gemini = gemini.geminiRequest(body, maxOutputTokens);
  } });
  const request = (route: Route): UpstreamRequest => {
    if (route.kind === 'anthropic') return { path: '/messages', body: { ...translated.messages, model: route.upstream_model } };
    if (route.kind === 'gemini') return { path: gemini.geminiPath(route.upstream_model, stream), body: translated.gemini! };
    // The client's own text goes on, with what the gateway changes spliced in (proxy/raw-body.ts).
    const out = upstreamBody(body, route.upstream_model, relay.maxOutputTokens, stream);
    return { path: '/chat/completions', body: out, raw: sentAsRaw(raw, body, out) };
  };
  const upstream = await relay.forward(
    request,
    stream ? undefined : (parsed, sent) => (sent.path === '/messages' ? isMessage(parsed) : sent.path.startsWith('/models/') ? gemini.isGeminiAnswer(parsed) : isCompletion(parsed)),
  );
  const viaAnthropic = upstream.route.kind === 'anthropic';
  const viaGemini = upstream.route.kind === 'gemini';

  if (!stream && viaGemini) {
    const answer = upstream.json ?? {};
    const usage = geminiUsage(answer.usageMetadata);
    // A prompt Gemini blocked generated nothing: it costs nothing.
    settleWhole(relay, upstream, usage, () => (gemini.promptBlocked(answer) ? null : estimateTokens(collectText(answer.candidates))));
    const completion = gemini.chatCompletion(answer, body.model);
    return Response.json(usage ? { ...completion, usage: relay.showCost(chatUsageOf(usage), usage) } : completion);
  }
  if (!stream) {
    if (!viaAnthropic) {
      return relayJson(relay, upstream, chatOutputEstimate);
    }
    const message = upstream.json ?? {};
    const usage = anthropicUsage(message.usage);
    settleWhole(relay, upstream, usage, () => estimateTokens(collectText(message.content)));
    const answer = chatCompletion(message, body.model);
    return Response.json(usage ? { ...answer, usage: relay.showCost(chatUsageOf(usage), usage) } : answer);
  }
  const translatedStream = { publicModel: body.model, includeUsage: body.stream_options?.include_usage === true, showCost: relay.showCost };
  const meter = viaAnthropic ? new ChatFromMessagesStream(translatedStream)
    : viaGemini ? new gemini.ChatFromGeminiStream(translatedStream)
    : new ChatStreamMeter({ dropUsageOnly: body.stream_options?.include_usage !== true, publicModel: body.model, showCost: relay.showCost });
  return relayStream(c, relay, upstream, meter);
});

/** The client's body for one channel: that channel's model id, the output cap the hold was
 *  sized for, and on streams usage always asked for (the meter removes the usage chunk
 *  again when the client did not ask). */
function upstreamBody(body: ChatRequest, upstreamModel: string, maxOutputTokens: number, stream: boolean): Record<string, unknown> {
  const out = withChatOutputCap({ ...body, model: upstreamModel }, upstreamModel, maxOutputTokens);
  if (stream) out.stream_options = { ...(body.stream_options ?? {}), include_usage: true };
  return out;
}
