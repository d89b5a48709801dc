import { Hono } from 'hono';
import { readCustomerJson } from '../auth/customer';
import type { AppEnv } from '../context';
import type { Route } from '../db/catalog';
import { measurePrompt } from '../billing/prompt';
import { ApiError } from '../errors';
import { sentAsRaw } from '../proxy/raw-body';
import { chatOutputEstimate, collectText, estimateTokens } from '../proxy/estimate';
import { withChatOutputCap } from '../proxy/output-cap';
import { ResponsesStreamMeter, storedOf } from '../proxy/responses-stream';
import { isCompletion, type UpstreamRequest } from '../proxy/upstream';
import { normaliseUsage, responsesUsage } from '../proxy/usage';
import { chatRequest, responseFromChat, ResponsesFromChatStream } from '../translate/responses-via-chat';
import { bodyOf } from '../validate';
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

/**
 * State kept at the provider that no account of this gateway can own: a conversation (the
 * Conversations API is not served here, so any id is someone else's) is a 404 as for an
 * unknown id; a stored prompt template (`prompt`) is the operator's own project's, and its
 * size cannot be held for, so it is refused by name. Previous responses and item
 * references are checked against what the account stored (account/object.ts).
 */
function refuseForeignState(body: ResponsesRequest): void {
  const conversation = body.conversation;
  if (conversation !== undefined && conversation !== null) {
    const id = typeof conversation === 'string' ? conversation : JSON.stringify((conversation as { id?: unknown }).id ?? conversation);
    throw new ApiError('conversation_not_found', `Conversation with id '${id}' not found.`, { param: 'conversation' });
  }
  if (body.prompt !== undefined && body.prompt !== null) {
    throw new ApiError('invalid_value', "Invalid 'prompt': stored prompt templates are not available through this gateway; send the prompt's text as instructions and input.", { param: 'prompt' });
  }
}

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
  const raw = await bodyOf(c);
  const stream = body.stream === true;
  const chat = translatable(body);
  const stores = body.store !== false;
  const relay = await startRelay(c, body, measurePrompt(body), startedAt, {
    serves: (route) => route.kind === 'openai' || route.kind === 'echo',
    // Where a channel must translate, what chat cannot take is a 400 now (the translation's
    // own error, named), before anything is held.
    check: (routes) => {
      refuseForeignState(body);
      if (chat === null && routes.some((r) => !hasResponsesApi(r))) chatRequest(body);
    },
  });
  const viaChat = (route: Route): UpstreamRequest => ({
    path: '/chat/completions', body: withChatOutputCap({ ...chat, model: route.upstream_model }, route.upstream_model, relay.maxOutputTokens),
  });
  const request = (route: Route): UpstreamRequest => {
    if (!hasResponsesApi(route)) return viaChat(route);
    // A 404 teaches that the channel lacks the API: the next request is translated (or, where
    // it cannot be, refused with the 400 before anything is held).
    // The client's own text goes on, with the model and the cap spliced in (proxy/raw-body.ts).
    const out = { ...body, model: route.upstream_model, max_output_tokens: relay.maxOutputTokens };
    return {
      path: '/responses', body: out, raw: sentAsRaw(raw, body, out),
      fallback: { request: chat ? viaChat(route) : null, onFallback: () => withoutResponsesApi.add(route.id) },
    };
  };
  const upstream = await relay.forward(request, stream ? undefined : (parsed, sent) => (sent.path === '/responses' ? isResponse(parsed) : isCompletion(parsed)));
  const native = upstream.request.path === '/responses';

  if (!stream) {
    const parsed = upstream.json ?? {};
    if (native) {
      const usage = responsesUsage(parsed.usage);
      settleWhole(relay, upstream, usage, () => estimateTokens(collectText(parsed.output)), stores && typeof parsed.id === 'string' ? storedOf(parsed) : null);
      return Response.json({ ...parsed, model: body.model });
    }
    const usage = normaliseUsage(parsed.usage);
    settleWhole(relay, upstream, usage, () => chatOutputEstimate(parsed));
    return Response.json(responseFromChat(parsed, body, body.model, usage));
  }
  return relayStream(c, relay, upstream, native ? new ResponsesStreamMeter(body.model, stores) : new ResponsesFromChatStream(body, body.model));
});
