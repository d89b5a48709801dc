import { secret, type Env } from '../config';
import type { Route } from '../db/catalog';
import { ApiError } from '../errors';
import { echoResponse } from './echo';

export type UpstreamPath = '/chat/completions' | '/embeddings';

export interface UpstreamCall {
  routes: Route[]; // in the order to try them
  path: UpstreamPath;
  /** The body for one channel: the client's body with the channel's model id. */
  body: (route: Route) => Record<string, unknown>;
  firstByteTimeoutMs: number;
  clientSignal: AbortSignal;
}

export interface UpstreamSuccess {
  route: Route;
  response: Response;
}

/** Why the last channel failed, for the usage row and the client's error. */
export class UpstreamFailure extends ApiError {
  constructor(
    readonly timedOut: boolean,
    readonly route: Route | null,
    status: 400 | 413 | 502 | 503 | 504,
    message: string,
    code: string,
    detail?: string,
  ) {
    super(status, status < 500 ? 'invalid_request_error' : 'upstream_error', code, message, null, {}, detail);
  }
}

/** Statuses after which the same request may succeed on another channel. */
const tryNext = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500 || status === 401 || status === 403 || status === 404;

/**
 * Sends the request to each channel in turn until one answers 2xx. Nothing has reached the
 * client while this runs, so failing over is always safe here (contract, hot path step 3).
 * Only the body built for the channel and the channel's own key go upstream: no header of
 * the client's (its key above all) is forwarded. A 4xx that another channel would answer
 * the same way (400, 413, 422) is the client's error and is passed back, sanitised.
 */
export async function callUpstream(env: Env, call: UpstreamCall): Promise<UpstreamSuccess> {
  if (call.routes.length === 0) {
    throw new UpstreamFailure(false, null, 503, 'No upstream channel is available for this model.', 'no_channel');
  }
  let failure: UpstreamFailure | null = null;
  for (const route of call.routes) {
    const result = await attempt(env, route, call);
    if (result instanceof Response) return { route, response: result };
    failure = result;
    if (failure.status < 500) break;
  }
  throw failure as UpstreamFailure;
}

async function attempt(env: Env, route: Route, call: UpstreamCall): Promise<Response | UpstreamFailure> {
  const body = call.body(route);
  if (route.kind === 'echo') return echoResponse(call.path, body);

  const apiKey = secret(env, route.api_key_secret);
  if (!apiKey) {
    return new UpstreamFailure(false, route, 502, 'The upstream provider failed.', 'upstream_error',
      `channel ${route.id}: secret ${route.api_key_secret} is not set`);
  }
  const controller = new AbortController();
  const abort = () => controller.abort();
  call.clientSignal.addEventListener('abort', abort, { once: true });
  const timer = setTimeout(abort, call.firstByteTimeoutMs);
  let response: Response;
  try {
    response = await fetch(`${route.base_url.replace(/\/+$/, '')}${call.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
  } catch (err) {
    const timedOut = controller.signal.aborted && !call.clientSignal.aborted;
    return new UpstreamFailure(timedOut, route, timedOut ? 504 : 502,
      timedOut ? 'The upstream provider timed out.' : 'The upstream provider could not be reached.',
      timedOut ? 'upstream_timeout' : 'upstream_error', `channel ${route.id}: ${String(err)}`);
  } finally {
    clearTimeout(timer);
  }
  if (response.ok) return response;

  const text = await response.text().catch(() => '');
  const detail = `channel ${route.id}: HTTP ${response.status} ${sanitise(text)}`;
  if (tryNext(response.status)) {
    return new UpstreamFailure(false, route, 502, `The upstream provider failed (HTTP ${response.status}).`, 'upstream_error', detail);
  }
  const status = response.status === 413 ? 413 : 400;
  return new UpstreamFailure(false, route, status, `The upstream provider rejected the request: ${upstreamMessage(text)}`,
    'upstream_rejected', detail);
}

function upstreamMessage(text: string): string {
  let message: unknown;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | unknown; message?: unknown };
    message = typeof parsed.error === 'object' && parsed.error !== null ? (parsed.error as { message?: unknown }).message : parsed.message;
  } catch {
    message = undefined;
  }
  return typeof message === 'string' ? sanitise(message) : 'no reason given.';
}

/**
 * Upstream error text can hold the channel's key (OpenAI echoes a masked one), bearer
 * tokens or internal hosts; keep a short, redacted message.
 */
export function sanitise(text: string): string {
  return text
    .replace(/\b(sk|pk|rk|key|api[_-]?key)[-_][A-Za-z0-9_*\-.]{4,}/gi, '[redacted]')
    .replace(/Bearer\s+\S+/gi, 'Bearer [redacted]')
    .replace(/[A-Za-z0-9_\-]{32,}/g, '[redacted]')
    .replace(/https?:\/\/\S+/g, '[url]')
    .slice(0, 500);
}
