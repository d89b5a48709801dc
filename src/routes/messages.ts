import type { Context } from 'hono';
import { Hono } from 'hono';
import { confirm, readCustomerJson } from '../auth/customer';
import { config } from '../config';
import type { AppEnv } from '../context';
import type { Route } from '../db/catalog';
import { measurePrompt } from '../billing/prompt';
import { chatOutputEstimate, collectText, estimateTokens } from '../proxy/estimate';
import { withChatOutputCap } from '../proxy/output-cap';
import { orderRoutes } from '../proxy/channels';
import { MessagesStreamMeter } from '../proxy/messages-stream';
import { sentAsRaw } from '../proxy/raw-body';
import { ANTHROPIC_VERSION, callUpstream, isCompletion, isMessage, UpstreamFailure, type UpstreamRequest } from '../proxy/upstream';
import { anthropicUsage, normaliseUsage } from '../proxy/usage';
import { anthropicMessage, chatRequest, MessagesFromChatStream } from '../translate/messages-via-chat';
import { bodyOf } from '../validate';
import { allowedModel } from './access';
import { relayStream, settleWhole, startRelay } from './relay';
import { CountTokensRequestSchema, MessagesRequestSchema, type CountTokensRequest } from './schemas';

/**
 * POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API, what Claude
 * Code and the Anthropic SDKs call with ANTHROPIC_BASE_URL set to the gateway. Passed
 * through to `anthropic` channels, translated onto chat completions for the others; the
 * same relay (holds, limits, failover, settlement) as chat. Errors are Anthropic's
 * (errors.ts dialectOf).
 */
export const messages = new Hono<AppEnv>();

/** The client's Anthropic headers, which `anthropic` channels take as they are. */
function anthropicHeaders(c: Context<AppEnv>): Record<string, string> {
  const beta = c.req.header('anthropic-beta');
  return { 'anthropic-version': c.req.header('anthropic-version') ?? ANTHROPIC_VERSION, ...(beta ? { 'anthropic-beta': beta } : {}) };
}

/** Messages with `role: "system"` (what clients send for a model they do not know) moved into `system`. */
function withSystemMoved<B extends CountTokensRequest>(body: B): B {
  const moved = body.messages.filter((m) => m.role === 'system');
  if (moved.length === 0) return body;
  const blocks = (content: unknown) => (typeof content === 'string' ? [{ type: 'text' as const, text: content }] : (content as Array<{ type: 'text'; text: string }>));
  const system = [...(body.system === undefined ? [] : blocks(body.system)), ...moved.flatMap((m) => blocks(m.content))];
  return { ...body, system, messages: body.messages.filter((m) => m.role !== 'system') };
}

messages.post('/messages', async (c) => {
  const startedAt = Date.now();
  const parsed = await readCustomerJson(c, MessagesRequestSchema);
  const body = withSystemMoved(parsed);
  // The client's own text goes on, with what the gateway changes spliced in (proxy/raw-body.ts).
  const raw = await bodyOf(c);
  const stream = body.stream === true;
  const translated: { chat?: Record<string, unknown> } = {};
  const relay = await startRelay(c, body, measurePrompt(body), startedAt, { serves: (route) => route.kind !== 'gemini', check: (routes) => {
    // Translated once, before anything is held: what chat cannot take is a 400 now.
    if (routes.some((r) => r.kind !== 'anthropic')) translated.chat = chatRequest(body);
  } });
  const headers = anthropicHeaders(c);
  const passedOn = (model: string) => {
    const out = { ...body, model };
    return { path: '/messages' as const, body: out, raw: sentAsRaw(raw, parsed, out), headers };
  };
  const request = (route: Route): UpstreamRequest =>
    route.kind === 'anthropic'
      ? passedOn(route.upstream_model)
      : { path: '/chat/completions', body: withChatOutputCap({ ...translated.chat, model: route.upstream_model }, route.upstream_model, relay.maxOutputTokens) };
  const upstream = await relay.forward(
    request,
    stream ? undefined : (parsed, sent) => (sent.path === '/messages' ? isMessage(parsed) : isCompletion(parsed)),
  );
  const native = upstream.route.kind === 'anthropic';

  if (!stream) {
    const parsed = upstream.json ?? {};
    if (native) {
      const usage = anthropicUsage(parsed.usage);
      settleWhole(relay, upstream, usage, () => estimateTokens(collectText(parsed.content)));
      return Response.json({ ...parsed, model: body.model });
    }
    const usage = normaliseUsage(parsed.usage);
    settleWhole(relay, upstream, usage, () => chatOutputEstimate(parsed));
    return Response.json(anthropicMessage(parsed, body.model, usage));
  }
  return relayStream(c, relay, upstream, native ? new MessagesStreamMeter(body.model) : new MessagesFromChatStream(body.model));
});

/**
 * What a Messages request's prompt counts, free of charge: Anthropic's own count where an
 * `anthropic` channel serves the model, else the gateway's estimate (proxy/estimate.ts).
 * The key and the model's access are checked as for a request; nothing is held or limited.
 */
messages.post('/messages/count_tokens', async (c) => {
  const body = withSystemMoved(await readCustomerJson(c, CountTokensRequestSchema));
  const { principal, catalog } = await c.var.auth.withCatalog();
  await confirm(c, principal);
  allowedModel(catalog.models.get(body.model) ?? null, body.model, principal);
  const routes = orderRoutes((catalog.routes.get(body.model) ?? []).filter((r) => r.kind === 'anthropic'));
  if (routes.length > 0) {
    const cfg = config(c.env);
    const headers = anthropicHeaders(c);
    try {
      const counted = await callUpstream(c.env, {
        routes,
        request: (route) => ({ path: '/messages/count_tokens', body: { ...body, model: route.upstream_model }, headers }),
        isAnswer: (parsed) => typeof parsed.input_tokens === 'number',
        firstByteTimeoutMs: cfg.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
        idleTimeoutMs: cfg.UPSTREAM_IDLE_TIMEOUT_MS,
        clientSignal: c.req.raw.signal,
      });
      return c.json({ input_tokens: counted.json?.input_tokens });
    } catch (err) {
      // The request's own fault is the client's to see; an upstream that is down leaves the estimate.
      if (!(err instanceof UpstreamFailure) || err.status < 500) throw err;
    }
  }
  return c.json({ input_tokens: measurePrompt(body).estimate });
});
