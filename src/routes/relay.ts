import type { Context } from 'hono';
import { accountState } from '../account/client';
import type { HoldAnswer } from '../account/object';
import { forgetKey } from '../auth/customer';
import { holdMicros, holdSize, insufficientBalance, promptPrice, requestedOutput } from '../billing/hold';
import type { PromptSize } from '../billing/prompt';
import { charactersCost, unitPrice, type Measured } from '../billing/units';
import { charge, receipt, type Ending, type RequestContext } from '../billing/settle';
import { config } from '../config';
import type { AppEnv } from '../context';
import type { ModelRow, Route } from '../db/catalog';
import { ApiError } from '../errors';
import { toDollars, type TokenCounts } from '../money';
import { keyOutcome } from '../health/keys';
import { byHealth, record } from '../health/view';
import { orderRoutes } from '../proxy/channels';
import { meteredStream, passedStream, type StreamMeter } from '../proxy/stream';
import { callUpstream, UpstreamFailure, type UpstreamRequest, type UpstreamSuccess } from '../proxy/upstream';
import { normaliseUsage } from '../proxy/usage';
import { rateLimitHeaders } from '../ratelimit/headers';
import type { Decision } from '../ratelimit/windows';
import { allowedModel, suspended } from './access';

/** What every model route shares: pre-flight, forwarding, settlement, replies. */
export interface Relay {
  request: RequestContext;
  /** The output cap the hold was sized for: the request's, else the model's, else the default. */
  maxOutputTokens: number;
  /** Settles a request whose end is known now (a whole response, a failed call). */
  settle: (ending: Ending) => void;
  /** For a stream: registers its settlement now, while the request is live, and returns
   *  the function that ends it once the stream has ended, however late that is. */
  settleAtEnd: () => (ending: Ending) => void;
  /** Calls the channels in turn; `isAnswer` checks a whole response (absent for streams). */
  forward: (
    request: (route: Route) => UpstreamRequest,
    isAnswer?: (parsed: Record<string, unknown>, sent: UpstreamRequest) => boolean,
  ) => Promise<UpstreamSuccess>;
  /** A usage object as the client sees it: what `counts` is charged in, upstream costs out. */
  showCost: (usage: Record<string, unknown>, counts: TokenCounts) => Record<string, unknown>;
}

const noOutput = (status: Ending['status'], channel: string | null): Ending => ({
  status, channel, usage: null, usageFinal: false, estimatedOutput: null, firstByteMs: null,
});

/**
 * The pre-flight, in the order it happens; nothing goes upstream before all of it said yes.
 * 1. The key and the catalog, from this isolate's copies (a cold isolate reads both from
 *    D1 in one round trip).
 * 2. Access, decided here: 400 for an unknown model, 403 for one the key or its group may
 *    not use (or a suspended account).
 * 3. `o.check`, given the channels that may serve the request (those `o.serves` allows): a route refuses here what the
 *    channels' APIs cannot take (a translation's 400).
 * 4. One call to the account's object, which decides the rest together: 401 for a key
 *    revoked since this isolate read it, 404 for stored state (a previous response) that is
 *    not the account's own, 429 for a rate limit (the key's or the account's), 402 when the
 *    balance (or the key's spend limit) cannot cover the worst-case cost, else the hold is
 *    placed. A refused request changes nothing there.
 */
export async function startRelay(
  c: Context<AppEnv>,
  body: Parameters<typeof holdSize>[0] & { model: string },
  prompt: PromptSize,
  startedAt: number,
  o: {
    /** Which kinds of channel speak an API this route can use (default: all). */
    serves?: (route: Route) => boolean;
    check?: (routes: Route[], maxOutputTokens: number) => void;
    /** Whether the request produces output tokens (embeddings do not). */
    generates?: boolean;
    /** The hold of a request priced in its own unit (images, characters, seconds of audio:
     *  billing/units.ts), from the model's prices; it throws where the model has none. */
    unitHold?: (model: ModelRow) => number;
  } = {},
): Promise<Relay> {
  const cfg = config(c.env);
  const requestId = c.var.requestId;

  const { principal, catalog } = await c.var.auth.withCatalog();

  const all = catalog.routes.get(body.model) ?? [];
  const routes = o.serves ? all.filter(o.serves) : all;
  const priced = catalog.models.get(body.model) ?? null;
  if (!priced && all.length > 0) console.warn(JSON.stringify({ request_id: requestId, unpriced_model: body.model }));
  const model = allowedModel(priced, body.model, principal);
  const size = holdSize(body, prompt, model, cfg.DEFAULT_MAX_OUTPUT_TOKENS, o.generates);
  const maxOutputTokens = size.outputTokens;
  o.check?.(routes, maxOutputTokens);

  const amount = o.unitHold ? o.unitHold(model) : holdMicros(model, size);
  const account = accountState(c.env, principal.accountId);
  let answer: HoldAnswer;
  try {
    answer = await account.admit({
      accountId: principal.accountId,
      requestId,
      key: { id: principal.keyId, name: principal.keyName, limits: principal.limits, spendLimit: principal.spendLimit, spent: principal.spent },
      accountLimits: principal.accountLimits,
      model: model.id,
      amount,
      // Counted against tpm until the real usage is known, as OpenAI does: the prompt
      // plus the output the request asks for.
      tokens: prompt.estimate + (requestedOutput(body) ?? 0),
      references: prompt.references.length > 0 ? { ids: prompt.references, promptPrice: promptPrice(model) } : undefined,
    });
  } catch (err) {
    throw new ApiError('account_unavailable', 'Billing is unavailable for this account right now; nothing was charged. Please retry shortly.', {
      detail: `account object: ${String(err)}`,
    });
  }
  if (!answer.ok) {
    switch (answer.reason) {
      case 'revoked':
        forgetKey(c.var.auth.keyHash);
        throw new ApiError('invalid_api_key', 'This API key has been revoked.');
      case 'suspended':
        throw suspended();
      case 'unknown_reference':
        throw unknownReference(answer.id, body);
      case 'rate':
        c.set('rateLimit', answer.rate);
        throw rateLimited(answer.rate);
      default:
        c.set('balance', answer.available);
        throw insufficientBalance({ ...answer, promptTokens: size.promptTokens + answer.storedTokens }, model, size);
    }
  }
  c.set('balance', answer.available);
  c.set('rateLimit', answer.rate);

  const { held } = answer;
  const request: RequestContext = { requestId, principal, model, startedAt, promptEstimate: prompt.estimate + answer.storedTokens, held };
  const settleWhenEnded = (ending: Promise<Ending>) =>
    c.executionCtx.waitUntil(
      ending
        .then((e) => account.settle(principal.accountId, requestId, receipt(request, e)))
        .catch((err) => console.error(JSON.stringify({ request_id: requestId, settle_failed: String(err) }))),
    );
  const settle = (ending: Ending) => {
    // The balance header shows the hold released and the real charge taken.
    c.set('balance', answer.available + held - charge(request, ending).cost);
    settleWhenEnded(Promise.resolve(ending));
  };
  const settleAtEnd = () => {
    const { promise, resolve } = deferred<Ending>();
    settleWhenEnded(promise);
    return resolve;
  };
  const forward: Relay['forward'] = async (upstreamRequest, isAnswer) => {
    try {
      const background = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
      return await callUpstream(c.env, {
        routes: byHealth(orderRoutes(routes), c.env, background),
        request: upstreamRequest,
        isAnswer,
        observe: (route, ok, latencyMs) => {
          if (ok !== null) record(c.env, background, { channel: route.id, ok, latencyMs: ok ? latencyMs : null, at: Date.now() });
        },
        onKey: (route, key, outcome) => keyOutcome(c.env, background, route, key, outcome),
        firstByteTimeoutMs: cfg.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
        idleTimeoutMs: cfg.UPSTREAM_IDLE_TIMEOUT_MS,
        clientSignal: c.req.raw.signal,
      });
    } catch (err) {
      if (err instanceof UpstreamFailure) settle(noOutput(err.timedOut ? 'timeout' : 'failed', err.route?.id ?? null));
      throw err;
    }
  };
  const showCost = (usage: Record<string, unknown>, counts: TokenCounts) =>
    withCost(usage, toDollars(charge(request, { usage: counts, usageFinal: true, estimatedOutput: null }).cost));
  return { request, maxOutputTokens, settle, settleAtEnd, forward, showCost };
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A request priced per character of its input (speech, moderations) on `openai` channels:
 * held and charged at the model's `character_price`; `what` names the API in the error for a
 * model that has none. Returns the relay and what to settle once it is served.
 */
export async function startCharacterRelay(c: Context<AppEnv>, body: Parameters<typeof startRelay>[1], characters: number, startedAt: number, what: string) {
  const cost = (perMillion: number) => charactersCost(characters, perMillion);
  const relay = await startRelay(c, body, { bound: 0, estimate: Math.ceil(characters / 4), references: [] }, startedAt, {
    generates: false,
    serves: (route) => route.kind === 'openai',
    unitHold: (model) => cost(unitPrice(model, model.character_price, `${what} (character_price)`)),
  });
  const measured: Measured = { unit: 'characters', quantity: characters, micros: cost(relay.request.model.character_price ?? 0) };
  return { relay, measured };
}

/** Settles a whole answer: its reported usage, else `estimateOutput`'s count of its output
 *  (null: it generated nothing, and costs nothing). */
export function settleWhole(
  relay: Relay, upstream: UpstreamSuccess, usage: TokenCounts | null, estimateOutput: () => number | null, stored: Ending['stored'] = null,
): void {
  relay.settle({
    status: 'success',
    channel: upstream.route.id,
    usage,
    usageFinal: true,
    estimatedOutput: usage ? null : estimateOutput(),
    firstByteMs: Date.now() - relay.request.startedAt,
    stored,
  });
}

/** Settles a whole answer priced in its own unit (billing/units.ts): `measured`, or the
 *  token usage it reports where the model prices tokens (billing/settle.ts charge); returns
 *  the charge in dollars, for the answer's usage. */
export function settleMeasured(relay: Relay, upstream: UpstreamSuccess, measured: Measured, usage: TokenCounts | null): { cost: number } {
  const ending: Ending = {
    status: 'success', channel: upstream.route.id, usage, usageFinal: usage !== null, estimatedOutput: null,
    firstByteMs: Date.now() - relay.request.startedAt, measured,
  };
  relay.settle(ending);
  return { cost: toDollars(charge(relay.request, ending).cost) };
}

/**
 * A whole OpenAI-format answer (already read and checked by callUpstream): learn its usage
 * (or count its output with `estimateOutput` when it reports none), settle, and answer with
 * the upstream's body under the public model id, its usage showing what it is charged.
 */
export function relayJson(
  relay: Relay,
  upstream: UpstreamSuccess,
  estimateOutput: (parsed: Record<string, unknown>) => number,
): Response {
  const parsed = upstream.json ?? {};
  const usage = normaliseUsage(parsed.usage);
  settleWhole(relay, upstream, usage, () => estimateOutput(parsed));
  const answer: Record<string, unknown> = { ...parsed, model: relay.request.model.id };
  if (usage) answer.usage = relay.showCost(parsed.usage as Record<string, unknown>, usage);
  return Response.json(answer);
}

/**
 * A streamed answer: the upstream's events through `meter` to the client, settled once the
 * stream has ended however it ends. An upstream stream that ended or died before its first
 * content event produced nothing, whatever usage it claims: it costs nothing. (A client
 * that left early pays for the prompt the upstream had already taken in.)
 */
export function relayStream(c: Context<AppEnv>, relay: Relay, upstream: UpstreamSuccess, meter: StreamMeter): Response {
  const channel = upstream.route.id;
  const ended = relay.settleAtEnd();
  const clientStream = meteredStream(upstream.response.body as ReadableStream<Uint8Array>, { // callUpstream checked it
    meter,
    idleTimeoutMs: config(c.env).UPSTREAM_IDLE_TIMEOUT_MS,
    startedAt: relay.request.startedAt,
    clientSignal: c.req.raw.signal,
    onEnd: ({ end, firstByteMs }) =>
      ended(
        !meter.sawContent && end !== 'cancelled'
          ? { ...noOutput('failed', channel), firstByteMs }
          : {
            status: end, channel, usage: meter.usage, usageFinal: meter.usageFinal, estimatedOutput: meter.estimatedOutputTokens, firstByteMs,
            stored: meter.stored ?? null, measured: meter.measured ?? null,
          },
      ),
  });
  return new Response(clientStream, {
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
  });
}

/**
 * An answer that is not events (the speech API's audio), passed to the client as it comes
 * with its content type, and charged `measured` once the upstream has produced it: when it
 * ended, or when the client left after the audio began. An upstream that failed before the
 * end produced nothing the client can use: it costs nothing.
 */
export async function relayPassed(relay: Relay, upstream: UpstreamSuccess, signal: AbortSignal, measured: Measured): Promise<Response> {
  const channel = upstream.route.id;
  const ended = relay.settleAtEnd();
  const body = await passedStream(upstream.response.body as ReadableStream<Uint8Array>, { // callUpstream checked it
    startedAt: relay.request.startedAt,
    clientSignal: signal,
    onEnd: ({ end, produced, firstByteMs }) =>
      ended(end === 'success' || (end === 'cancelled' && produced)
        ? { ...noOutput(end, channel), firstByteMs, measured }
        : { ...noOutput(end === 'cancelled' ? 'cancelled' : 'failed', channel), firstByteMs }),
  });
  return new Response(body, { headers: { 'content-type': upstream.response.headers.get('content-type') ?? 'application/octet-stream' } });
}

/** The usage object the client sees: our cost in dollars (as OpenRouter reports it), and
 *  none of the upstream's own cost fields, which are the operator's business. */
function withCost(usage: Record<string, unknown>, cost: number): Record<string, unknown> {
  const out: Record<string, unknown> = { ...usage };
  for (const field of UPSTREAM_COST_FIELDS) delete out[field];
  out.cost = cost;
  return out;
}

const UPSTREAM_COST_FIELDS = ['cost', 'cost_details', 'cost_in_usd_ticks', 'is_byok'];

/** Stored state the account does not own (or that does not exist): 404, as for a response
 *  id OpenAI does not know, with the code its clients look for to start the thread anew. */
function unknownReference(id: string, body: Record<string, unknown>): ApiError {
  return id === body.previous_response_id
    ? new ApiError('previous_response_not_found', `Previous response with id '${id}' not found.`, { param: 'previous_response_id' })
    : new ApiError('item_not_found', `Item with id '${id}' not found.`, { param: 'input' });
}

/** 429 with OpenAI's headers; Retry-After in seconds and retry-after-ms, which the
 *  official SDKs honour before their own backoff. */
function rateLimited(d: Decision): ApiError {
  const reason = d.reason ?? 'requests';
  const what = reason === 'requests' ? 'requests per minute' : reason === 'tokens' ? 'tokens per minute' : 'concurrent requests';
  const wait = Math.max(1, d.retryAfterMs);
  const whose = d.scope === 'account' ? "on this key's account (all its keys together)" : 'on this API key';
  return new ApiError(`rate_limit_${reason}`,
    `Rate limit reached for ${what} ${whose}. Please try again in ${(wait / 1000).toFixed(3)}s.`, {
      headers: { ...rateLimitHeaders(d), 'retry-after': String(Math.ceil(wait / 1000)), 'retry-after-ms': String(wait) },
    });
}

