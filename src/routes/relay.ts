import type { Context } from 'hono';
import { holdSize, insufficientBalance } from '../billing/hold';
import { charge, settle, type Ending, type RequestContext } from '../billing/settle';
import { config } from '../config';
import type { AppEnv } from '../context';
import type { Route } from '../db/catalog';
import { ApiError } from '../errors';
import { toDollars, type TokenCounts } from '../money';
import { orderRoutes } from '../proxy/channels';
import { callUpstream, UpstreamFailure, type UpstreamPath, type UpstreamSuccess } from '../proxy/upstream';
import { normaliseUsage } from '../proxy/usage';
import { holdStatements, readHold, releaseHold } from '../db/ledger';
import { admit, finish, rateLimitHeaders, rememberedLimits, rememberLimits, type Decision } from '../ratelimit/client';
import { allowedModel } from './access';

/** What chat and embeddings share: pre-flight, forwarding, settlement, non-stream replies. */
export interface Relay {
  request: RequestContext;
  /** Registers the settlement in ctx.waitUntil; pass a promise when the end is not known yet. */
  settleLater: (ending: Ending | Promise<Ending>) => void;
  /** Calls the channels in turn; `isAnswer` checks a whole response (absent for streams). */
  forward: (
    path: UpstreamPath,
    body: (route: Route) => Record<string, unknown>,
    isAnswer?: (parsed: Record<string, unknown>) => boolean,
  ) => Promise<UpstreamSuccess>;
  /** A usage object as the client sees it: what `counts` is charged in, upstream costs out. */
  showCost: (usage: Record<string, unknown>, counts: TokenCounts) => Record<string, unknown>;
}

const noOutput = (status: Ending['status'], channel: string | null): Ending => ({
  status, channel, usage: null, estimatedOutput: null, firstByteMs: null,
});

/**
 * Pre-flight: in one D1 round trip, reads the key, the model and its channels and holds the
 * request's worst-case cost, while the rate limiter decides (when this isolate already knows
 * the key's limits; otherwise right after). Then 400/403 for access (the hold's SQL checks
 * access too, so none was placed), 402 when the hold was refused, 429 when the limiter
 * refused, which gets its hold back; a refused request costs the limiter nothing. Nothing goes upstream before all of them said yes.
 */
export async function startRelay(
  c: Context<AppEnv>,
  body: Parameters<typeof holdSize>[0] & { model: string },
  promptEstimate: number,
  startedAt: number,
): Promise<Relay> {
  const cfg = config(c.env);
  const db = c.env.DB;
  const requestId = c.var.requestId;
  const size = holdSize(body);
  // Tokens counted against tpm until the real usage is known, as OpenAI does: the prompt
  // plus the output the request allows.
  const reservedTokens = promptEstimate + (body.max_completion_tokens ?? body.max_tokens ?? 0);
  // Where this isolate knows the key's limits, the rate limiter decides while D1 reads.
  const early = rememberedLimits(c.var.auth.keyHash);
  const admission = early ? admit(c.env, early.keyId, requestId, early.limits, reservedTokens) : null;
  const undoAdmission = () => {
    if (!admission || !early) return;
    const undo = admission.then((d) => (d?.allowed ? finish(c.env, early.keyId, requestId, early.limits, reservedTokens, 0, true) : undefined));
    c.executionCtx.waitUntil(undo);
  };

  // One D1 round trip: the key, the model, its channels, and the hold.
  let preflight;
  try {
    preflight = await c.var.auth.withCatalog(body.model, (keyHash) =>
      holdStatements(db, { requestId, keyHash, modelId: body.model, size, defaultMaxOutput: cfg.DEFAULT_MAX_OUTPUT_TOKENS }),
    );
  } catch (err) {
    undoAdmission();
    throw err;
  }
  const { principal, model: row, routes, then } = preflight;
  const { limits } = principal;
  rememberLimits(c.var.auth.keyHash, principal.keyId, limits);
  const held = readHold(then);
  if (!row && routes.length > 0) {
    console.warn(JSON.stringify({ request_id: requestId, unpriced_model: body.model }));
  }
  let model;
  let decision;
  try {
    model = allowedModel(row, body.model, principal);
    if (!held) throw insufficientBalance(principal, model, size, cfg.DEFAULT_MAX_OUTPUT_TOKENS);
    decision = await (admission ?? admit(c.env, principal.keyId, requestId, limits, reservedTokens));
    if (decision && !decision.allowed && decision.reason) throw rateLimited({ ...decision, reason: decision.reason });
  } catch (err) {
    // Refused: the hold goes back, and whatever the rate limiter counted for it.
    if (held) await releaseHold(db, { requestId, accountId: principal.accountId, keyId: principal.keyId, held: held.held });
    undoAdmission();
    throw err;
  }
  c.set('balance', held.balance);
  c.set('rateLimit', decision);

  const request: RequestContext = { requestId, principal, model, startedAt, promptEstimate, held: held.held };
  const settleLater = (ending: Ending | Promise<Ending>) => {
    // Where the end is known before the answer goes out, the balance header shows the hold
    // released and the real charge taken; a stream's shows the hold.
    if (!(ending instanceof Promise)) c.set('balance', held.balance + held.held - charge(request, ending).cost);
    c.executionCtx.waitUntil(
      Promise.resolve(ending)
        .then(async (e) => {
          const used = await settle(db, request, e);
          await finish(c.env, principal.keyId, requestId, limits, reservedTokens, used, false);
        })
        .catch((err) => console.error(JSON.stringify({ request_id: requestId, settle_failed: String(err) }))),
    );
  };
  const forward: Relay['forward'] = async (path, upstreamBody, isAnswer) => {
    try {
      return await callUpstream(c.env, {
        routes: orderRoutes(routes),
        path,
        body: upstreamBody,
        isAnswer,
        firstByteTimeoutMs: cfg.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
        idleTimeoutMs: cfg.UPSTREAM_IDLE_TIMEOUT_MS,
        clientSignal: c.req.raw.signal,
      });
    } catch (err) {
      if (err instanceof UpstreamFailure) settleLater(noOutput(err.timedOut ? 'timeout' : 'failed', err.route?.id ?? null));
      throw err;
    }
  };
  const showCost = (usage: Record<string, unknown>, counts: TokenCounts) =>
    withCost(usage, toDollars(charge(request, { usage: counts, estimatedOutput: null }).cost));
  return { request, settleLater, forward, showCost };
}

/**
 * A whole JSON answer (already read and checked by callUpstream): learn its usage (or count
 * its output with `estimateOutput` when it reports none), settle, and answer with the
 * upstream's body under the public model id, its usage showing what it is charged.
 */
export function relayJson(
  relay: Relay,
  upstream: UpstreamSuccess,
  estimateOutput: (parsed: Record<string, unknown>) => number,
): Response {
  const parsed = upstream.json ?? {};
  const usage = normaliseUsage(parsed.usage);
  relay.settleLater({
    status: 'success',
    channel: upstream.route.id,
    usage,
    estimatedOutput: usage ? null : estimateOutput(parsed),
    firstByteMs: Date.now() - relay.request.startedAt,
  });
  const answer: Record<string, unknown> = { ...parsed, model: relay.request.model.id };
  if (usage) answer.usage = relay.showCost(parsed.usage as Record<string, unknown>, usage);
  return Response.json(answer);
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

/** 429 with OpenAI's headers; Retry-After in seconds and retry-after-ms, which the
 *  official SDKs honour before their own backoff. */
function rateLimited(d: Decision & { reason: 'requests' | 'tokens' | 'concurrency' }): ApiError {
  const what = d.reason === 'requests' ? 'requests per minute' : d.reason === 'tokens' ? 'tokens per minute' : 'concurrent requests';
  const wait = Math.max(1, d.retryAfterMs);
  return new ApiError(`rate_limit_${d.reason}`,
    `Rate limit reached for ${what} on this API key. Please try again in ${(wait / 1000).toFixed(3)}s.`, {
      headers: { ...rateLimitHeaders(d), 'retry-after': String(Math.ceil(wait / 1000)), 'retry-after-ms': String(wait) },
    });
}

