import { Hono } from 'hono';
import { readCustomerJson } from '../auth/customer';
import type { AppEnv } from '../context';
import type { Route } from '../db/catalog';
import { chatOutputEstimate, collectText, estimatePromptTokens, estimateTokens } from '../proxy/estimate';
import { ResponsesStreamMeter } from '../proxy/responses-stream';
import { isCompletion, type UpstreamRequest } from '../proxy/upstream';
import { normaliseUsage, responsesUsage } from '../proxy/usage';
import { chatRequest, responseFromChat, ResponsesFromChatStream } from '../translate/responses-via-chat';
import { relayStream, settleWhole, startRelay } from './relay';
import { ResponsesRequestSchema, type ResponsesRequest } from './schemas';

/**
 * POST /v1/responses: OpenAI's Responses API, what the Vercel AI SDK's `openai(model)` and
 * Codex call. Passed through to `openai` channels whose upstream has it; translated onto
 * chat completions for the others (`responses: false`, the echo channel, and a channel
 * that answered 404 to /responses, remembered by this isolate). Anthropic and Gemini
 * channels do not serve it. The same relay as chat.
 */
export const responses = new Hono<AppEnv>();

/** Channels that answered 404 to /responses: this isolate translates for them from then on. */
const withoutResponsesApi = new Set<string>();
const hasResponsesApi = (route: Route) => route.kind === 'openai' && route.responses === 1 && !withoutResponsesApi.has(route.id);

/** A whole response, rather than an error in disguise. */
const isResponse = (parsed: Record<string, unknown>) => parsed.object === 'response' && Array.isArray(parsed.output) && parsed.status !== 'failed';

const promptEstimate = (body: ResponsesRequest) =>
  estimatePromptTokens([...(body.instructions ? [body.instructions] : []), ...(typeof body.input === 'string' ? [body.input] : body.input ?? [])]);

/** The translation where it is possible, else null (the native API may still take the request). */
function translatable(body: ResponsesRequest): Record<string, unknown> | null {
  try {
    return chatRequest(body);
  } catch {
    return null;
  }
}

responses.post('/responses', async (c) => {
  const startedAt = Date.now();
  const body = await readCustomerJson(c, ResponsesRequestSchema);
  const stream = body.stream === true;
  const chat = translatable(body);
  const relay = await startRelay(c, body, promptEstimate(body), startedAt, {
    serves: (route) => route.kind === 'openai' || route.kind === 'echo',
    // Where a channel must translate, what chat cannot take is a 400 now (the translation's
    // own error, named), before anything is held.
    check: (routes) => void (chat === null && routes.some((r) => !hasResponsesApi(r)) && chatRequest(body)),
  });
  const viaChat = (route: Route): UpstreamRequest => ({ path: '/chat/completions', body: { ...chat, model: route.upstream_model } });
  const request = (route: Route): UpstreamRequest => {
    if (!hasResponsesApi(route)) return viaChat(route);
    // A 404 teaches that the channel lacks the API: the next request is translated (or, where
    // it cannot be, refused with the 400 before anything is held).
    return {
      path: '/responses', body: { ...body, model: route.upstream_model },
      fallback: { request: chat ? viaChat(route) : null, onFallback: () => withoutResponsesApi.add(route.id) },
    };
  };
  const upstream = await relay.forward(request, stream ? undefined : (parsed, sent) => (sent.path === '/responses' ? isResponse(parsed) : isCompletion(parsed)));
  const native = upstream.request.path === '/responses';

  if (!stream) {
    const parsed = upstream.json ?? {};
    if (native) {
      const usage = responsesUsage(parsed.usage);
      settleWhole(relay, upstream, usage, () => estimateTokens(collectText(parsed.output)));
      return Response.json({ ...parsed, model: body.model });
    }
    const usage = normaliseUsage(parsed.usage);
    settleWhole(relay, upstream, usage, () => chatOutputEstimate(parsed));
    return Response.json(responseFromChat(parsed, body, body.model, usage));
  }
  return relayStream(c, relay, upstream, native ? new ResponsesStreamMeter(body.model) : new ResponsesFromChatStream(body, body.model));
});
