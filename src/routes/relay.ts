import type { Context } from 'hono';
import { settle, type Ending, type RequestContext } from '../billing/settle';
import { config } from '../config';
import type { AppEnv } from '../context';
import { modelWithRoutes, type Route } from '../db/catalog';
import { ApiError } from '../errors';
import { orderRoutes } from '../proxy/channels';
import { callUpstream, UpstreamFailure, type UpstreamPath, type UpstreamSuccess } from '../proxy/upstream';
import { normaliseUsage } from '../proxy/usage';
import { allowedModel } from './access';

/** What chat and embeddings share: pre-flight, forwarding, settlement, non-stream replies. */
export interface Relay {
  request: RequestContext;
  /** Registers the settlement in ctx.waitUntil; pass a promise when the end is not known yet. */
  settleLater: (ending: Ending | Promise<Ending>) => void;
  forward: (path: UpstreamPath, body: (route: Route) => Record<string, unknown>) => Promise<UpstreamSuccess>;
}

const noOutput = (status: Ending['status'], channel: string | null): Ending => ({
  status, channel, usage: null, estimatedOutput: null, firstByteMs: null,
});

/** Authenticates (the lookup started by customerAuth), loads the model and its channels in
 *  parallel with it, and checks access. */
export async function startRelay(c: Context<AppEnv>, modelId: string, promptEstimate: number, startedAt: number): Promise<Relay> {
  const [principal, { model, routes }] = await Promise.all([c.var.principal, modelWithRoutes(c.env.DB, modelId)]);
  const request: RequestContext = {
    requestId: c.var.requestId,
    principal,
    model: allowedModel(model, modelId, principal),
    startedAt,
    promptEstimate,
  };
  const db = c.env.DB;
  const settleLater = (ending: Ending | Promise<Ending>) =>
    c.executionCtx.waitUntil(
      Promise.resolve(ending)
        .then((e) => settle(db, request, e))
        .catch((err) => console.error(JSON.stringify({ request_id: request.requestId, settle_failed: String(err) }))),
    );
  const forward = async (path: UpstreamPath, body: (route: Route) => Record<string, unknown>) => {
    try {
      return await callUpstream(c.env, {
        routes: orderRoutes(routes),
        path,
        body,
        firstByteTimeoutMs: config(c.env).UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
        clientSignal: c.req.raw.signal,
      });
    } catch (err) {
      if (err instanceof UpstreamFailure) settleLater(noOutput(err.timedOut ? 'timeout' : 'failed', err.route?.id ?? null));
      throw err;
    }
  };
  return { request, settleLater, forward };
}

/**
 * A whole JSON answer: read it, learn its usage (or count its output with `estimateOutput`
 * when it reports none), settle, and hand the upstream's bytes to the client unchanged.
 */
export async function relayJson(
  relay: Relay,
  upstream: UpstreamSuccess,
  estimateOutput: (parsed: Record<string, unknown>) => number,
): Promise<Response> {
  const channel = upstream.route.id;
  const text = await upstream.response.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch {
    relay.settleLater(noOutput('failed', channel));
    throw new ApiError(502, 'upstream_error', 'upstream_error', 'The upstream provider sent an invalid response.');
  }
  const usage = normaliseUsage(parsed.usage);
  relay.settleLater({
    status: 'success',
    channel,
    usage,
    estimatedOutput: usage ? null : estimateOutput(parsed),
    firstByteMs: Date.now() - relay.request.startedAt,
  });
  return new Response(text, { headers: { 'content-type': 'application/json' } });
}
