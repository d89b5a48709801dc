import type { Context } from 'hono';
import { holdSize, insufficientBalance } from '../billing/hold';
import { settle, type Ending, type RequestContext } from '../billing/settle';
import { config } from '../config';
import type { AppEnv } from '../context';
import type { Route } from '../db/catalog';
import { ApiError } from '../errors';
import { costMicros, toDollars, type TokenCounts } from '../money';
import { orderRoutes } from '../proxy/channels';
import { callUpstream, UpstreamFailure, type UpstreamPath, type UpstreamSuccess } from '../proxy/upstream';
import { TimeoutError, withTimeout } from '../proxy/timeout';
import { normaliseUsage } from '../proxy/usage';
import { holdStatements, readHold, releaseHold } from '../db/ledger';
import { admit, finish, rateLimitHeaders, rememberedLimits, rememberLimits, type Decision } from '../ratelimit/client';
import { allowedModel } from './access';

/** What chat and embeddings share: pre-flight, forwarding, settlement, non-stream replies. */
export interface Relay {
  request: RequestContext;
  /** Registers the settlement in ctx.waitUntil; pass a promise when the end is not known yet. */
  settleLater: (ending: Ending | Promise<Ending>) => void;
  forward: (path: UpstreamPath, body: (route: Route) => Record<string, unknown>) => Promise<UpstreamSuccess>;
  /** Longest silence allowed from the upstream once it answered. */
  idleTimeoutMs: number;
  /** A usage object as the client sees it: our cost for `counts` in, upstream costs out. */
  showCost: (usage: Record<string, unknown>, counts: TokenCounts) => Record<string, unknown>;
}

const noOutput = (status: Ending['status'], channel: string | null): Ending => ({
  status, channel, usage: null, estimatedOutput: null, firstByteMs: null,
});

/**
 * Pre-flight: in one D1 round trip, reads the key, the model and its channels and holds the
 * request's worst-case cost, while the rate limiter decides (when this isolate already knows
 * the key's limits; otherwise right after). Then 400/403 for access, 402 when the hold was
 * refused, 429 when the limiter refused; a refused request gets its hold back and costs the
 * limiter nothing. Nothing goes upstream before all of them said yes.
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
    if (decision && !decision.allowed) throw rateLimited(decision);
  } catch (err) {
    // Refused: the hold goes back, and whatever the rate limiter counted for it.
    if (held) await releaseHold(db, { requestId, accountId: principal.accountId, keyId: principal.keyId, held: held.held });
    undoAdmission();
    throw err;
  }
  c.set('balance', held.balance);
  c.set('rateLimit', decision);

  const request: RequestContext = { requestId, principal, model, startedAt, promptEstimate, held: held.held };
  const settleLater = (ending: Ending | Promise<Ending>) =>
    c.executionCtx.waitUntil(
      Promise.resolve(ending)
        .then(async (e) => {
          const used = await settle(db, request, e);
          await finish(c.env, principal.keyId, requestId, limits, reservedTokens, used, false);
        })
        .catch((err) => console.error(JSON.stringify({ request_id: requestId, settle_failed: String(err) }))),
    );
  const forward = async (path: UpstreamPath, upstreamBody: (route: Route) => Record<string, unknown>) => {
    try {
      return await callUpstream(c.env, {
        routes: orderRoutes(routes),
        path,
        body: upstreamBody,
        firstByteTimeoutMs: cfg.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
        clientSignal: c.req.raw.signal,
      });
    } catch (err) {
      if (err instanceof UpstreamFailure) settleLater(noOutput(err.timedOut ? 'timeout' : 'failed', err.route?.id ?? null));
      throw err;
    }
  };
  const showCost = (usage: Record<string, unknown>, counts: TokenCounts) => withCost(usage, toDollars(costMicros(model, counts)));
  return { request, settleLater, forward, showCost, idleTimeoutMs: cfg.UPSTREAM_IDLE_TIMEOUT_MS };
}

/**
 * A whole JSON answer: learn its usage (or count its output with `estimateOutput` when it
 * reports none), settle, and answer with the upstream's body, its usage showing our cost.
 */
export async function relayJson(
  relay: Relay,
  upstream: UpstreamSuccess,
  estimateOutput: (parsed: Record<string, unknown>) => number,
): Promise<Response> {
  const channel = upstream.route.id;
  let text: string;
  try {
    text = await withTimeout(upstream.response.text(), relay.idleTimeoutMs);
  } catch (err) {
    // Nothing reached the client yet; settle (releasing the hold) and say what happened.
    const timedOut = err instanceof TimeoutError;
    relay.settleLater(noOutput(timedOut ? 'timeout' : 'failed', channel));
    throw timedOut
      ? new ApiError(504, 'upstream_error', 'upstream_timeout', 'The upstream provider timed out.')
      : new ApiError(502, 'upstream_error', 'upstream_error', 'The upstream connection failed.', null, {}, String(err));
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch {
    relay.settleLater(noOutput('failed', channel));
    throw new ApiError(502, 'upstream_error', 'upstream_error', 'The upstream provider sent an invalid response.');
  }
  const usage = normaliseUsage(parsed.usage);
  const ending: Ending = {
    status: 'success',
    channel,
    usage,
    estimatedOutput: usage ? null : estimateOutput(parsed),
    firstByteMs: Date.now() - relay.request.startedAt,
  };
  relay.settleLater(ending);
  if (!usage) return new Response(text, { headers: { 'content-type': 'application/json' } });
  return Response.json({ ...parsed, usage: relay.showCost(parsed.usage as Record<string, unknown>, usage) });
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
function rateLimited(d: Decision): ApiError {
  const what = d.reason === 'requests' ? 'requests per minute' : d.reason === 'tokens' ? 'tokens per minute' : 'concurrent requests';
  const wait = Math.max(1, d.retryAfterMs);
  return new ApiError(429, 'rate_limit_error', `rate_limit_${d.reason}`,
    `Rate limit reached for ${what} on this API key. Please try again in ${(wait / 1000).toFixed(3)}s.`, null, {
      ...rateLimitHeaders(d),
      'retry-after': String(Math.ceil(wait / 1000)),
      'retry-after-ms': String(wait),
    });
}

