import { secret, type Env } from '../config';
import type { Route } from '../db/catalog';
import { ApiError, type ErrorCode } from '../errors';
import { SHORT_RETRY_AFTER_MS } from '../health/rules';
import { TimeoutError, withTimeout } from './timeout';
import { echoResponse } from './echo';

export type UpstreamPath =
  | '/chat/completions' | '/embeddings' | '/messages' | '/messages/count_tokens' | '/responses'
  | `/models/${string}:generateContent` | `/models/${string}:streamGenerateContent?alt=sse`;

/** What goes to one channel: its path under the channel's base_url, the body (with the
 *  channel's model id, in the channel's API) and the client headers that API takes. */
export interface UpstreamRequest {
  path: UpstreamPath;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
  /** Sent to the same channel instead when it answers 404 (it lacks this API; null: the
   *  request has no other form, and the 404 stands); `onFallback` hears of it, to remember. */
  fallback?: { request: UpstreamRequest | null; onFallback: () => void };
}

export interface UpstreamCall {
  routes: Route[]; // in the order to try them
  request: (route: Route) => UpstreamRequest;
  /** Whole responses: whether a 2xx JSON body is an answer rather than an error object in
   *  disguise. Absent for streams, which must answer with an event stream. */
  isAnswer?: (parsed: Record<string, unknown>, request: UpstreamRequest) => boolean;
  firstByteTimeoutMs: number;
  /** Longest wait for a whole response's body once its headers arrived. */
  idleTimeoutMs: number;
  clientSignal: AbortSignal;
  /** Hears how each attempt went, for the channels' health: ok, failed, or null where it
   *  says nothing of the channel (the request's own fault, a short 429, the echo channel). */
  observe?: (route: Route, ok: boolean | null, latencyMs: number) => void;
}

export interface UpstreamSuccess {
  route: Route;
  /** What was sent (a fallback, where the channel took that instead). */
  request: UpstreamRequest;
  response: Response;
  /** A whole response's body, parsed and checked; null for a stream. */
  json: Record<string, unknown> | null;
}

/** A whole chat completion, rather than an error object in disguise. */
export const isCompletion = (parsed: Record<string, unknown>) => Array.isArray(parsed.choices) && parsed.error === undefined;
/** A whole Anthropic message, likewise. */
export const isMessage = (parsed: Record<string, unknown>) => parsed.type === 'message' && Array.isArray(parsed.content);

/** Why the last channel failed, for the usage row and the client's error. */
export class UpstreamFailure extends ApiError {
  readonly route: Route | null;
  readonly timedOut: boolean;
  /** The upstream's own error status, where it answered one. */
  readonly upstreamStatus: number | null;
  /** The upstream's retry-after, where it sent one. */
  readonly retryAfterMs: number | null;

  constructor(code: ErrorCode, message: string, o: { route: Route | null; timedOut?: boolean; detail?: string; upstreamStatus?: number; retryAfterMs?: number | null }) {
    super(code, message, { detail: o.detail });
    this.route = o.route;
    this.timedOut = o.timedOut ?? false;
    this.upstreamStatus = o.upstreamStatus ?? null;
    this.retryAfterMs = o.retryAfterMs ?? null;
  }
}

const timeout = (route: Route, detail: string) =>
  new UpstreamFailure('upstream_timeout', 'The upstream provider timed out.', { route, timedOut: true, detail });

/** Anthropic's API version when the client names none (its SDKs and Claude Code always do). */
export const ANTHROPIC_VERSION = '2023-06-01';

/** How each kind of channel takes its provider key. */
function credentials(route: Route, apiKey: string): Record<string, string> {
  if (route.kind === 'anthropic') return { 'x-api-key': apiKey, 'anthropic-version': ANTHROPIC_VERSION };
  if (route.kind === 'gemini') return { 'x-goog-api-key': apiKey };
  return { authorization: `Bearer ${apiKey}` };
}

/** Statuses that are the request's own fault: another channel would answer the same. */
const clientFault = (status: number) => status === 400 || status === 413 || status === 422;

/**
 * Sends the request to each channel in turn until one gives an answer. Nothing has reached
 * the client while this runs, so failing over is always safe here (contract, hot path step
 * 3). Failures are: no connection, no headers within the first-byte timeout, any status but
 * 2xx (an error body is read on the same clock, so one that never ends cannot hold the
 * failover), and a 2xx that is not an answer — a whole response whose JSON is an error
 * object or lacks its payload, or a JSON body where a stream was asked for. Only the body
 * built for the channel, the channel's own key and the client headers its API takes
 * (`anthropic-version` and `anthropic-beta`, to Anthropic) go upstream: no other header of
 * the client's (its key above all) is forwarded. 400/413/422 are the client's error and are passed back,
 * sanitised, without trying further.
 */
export async function callUpstream(env: Env, call: UpstreamCall): Promise<UpstreamSuccess> {
  if (call.routes.length === 0) {
    throw new UpstreamFailure('no_channel', 'No upstream channel is available for this model.', { route: null });
  }
  let failure: UpstreamFailure | null = null;
  for (const route of call.routes) {
    const started = Date.now();
    const result = await attempt(env, route, call);
    if (route.kind !== 'echo' && !call.clientSignal.aborted) call.observe?.(route, healthOf(result), Date.now() - started);
    if (!(result instanceof UpstreamFailure)) return result;
    failure = result;
    if (failure.status < 500) break;
  }
  throw failure as UpstreamFailure;
}

/** What an attempt says of the channel's health (rules: src/health/rules.ts). */
function healthOf(result: UpstreamSuccess | UpstreamFailure): boolean | null {
  if (!(result instanceof UpstreamFailure)) return true;
  if (result.status < 500) return null; // the request's own fault: the channel answered
  if (result.upstreamStatus === 429 && result.retryAfterMs !== null && result.retryAfterMs <= SHORT_RETRY_AFTER_MS) return null;
  return false;
}

/** Retry-After in seconds or as an HTTP date, or OpenAI's retry-after-ms. */
function retryAfterMs(headers: Headers): number | null {
  const ms = Number(headers.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const value = headers.get('retry-after');
  if (value === null) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

async function attempt(env: Env, route: Route, call: UpstreamCall): Promise<UpstreamSuccess | UpstreamFailure> {
  const request = call.request(route);
  const result = await send(env, route, request, call);
  if (!(result instanceof UpstreamFailure) || result.upstreamStatus !== 404 || !request.fallback) return result;
  request.fallback.onFallback();
  return request.fallback.request ? send(env, route, request.fallback.request, call) : result;
}

async function send(env: Env, route: Route, request: UpstreamRequest, call: UpstreamCall): Promise<UpstreamSuccess | UpstreamFailure> {
  if (route.kind === 'echo') return accept(route, request, await echoResponse(request.path, request.body), call);

  const apiKey = secret(env, route.api_key_secret);
  if (!apiKey) {
    return new UpstreamFailure('channel_misconfigured',
      'The upstream channel for this model has no provider key configured. (Operator: set the secret the channel names, then restart `npm run dev` or redeploy.)',
      { route, detail: `channel ${route.id}: secret ${route.api_key_secret} is not set` });
  }
  const controller = new AbortController();
  const abort = () => controller.abort();
  call.clientSignal.addEventListener('abort', abort, { once: true });
  const timer = setTimeout(abort, call.firstByteTimeoutMs);
  const timedOut = () => controller.signal.aborted && !call.clientSignal.aborted;
  try {
    let response: Response;
    try {
      response = await fetch(`${route.base_url.replace(/\/+$/, '')}${request.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...credentials(route, apiKey), ...request.headers },
        body: JSON.stringify(request.body),
        signal: controller.signal,
        // A redirect would take the channel's key (x-api-key, x-goog-api-key, even
        // Authorization) to whatever host it names: never followed, it is a failure.
        redirect: 'manual',
      });
    } catch (err) {
      const detail = `channel ${route.id}: ${String(err)}`;
      return timedOut() ? timeout(route, detail) : new UpstreamFailure('upstream_error', 'The upstream provider could not be reached.', { route, detail });
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      return new UpstreamFailure('upstream_error', `The upstream provider answered with a redirect (HTTP ${response.status}), which the gateway does not follow.`, {
        route, detail: `channel ${route.id}: HTTP ${response.status} to ${sanitise(response.headers.get('location') ?? '')}`, upstreamStatus: response.status,
      });
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const detail = `channel ${route.id}: HTTP ${response.status} ${sanitise(text)}`;
      if (timedOut()) return timeout(route, detail);
      if (!clientFault(response.status)) {
        return new UpstreamFailure('upstream_error', `The upstream provider failed (HTTP ${response.status}).`, {
          route, detail, upstreamStatus: response.status, retryAfterMs: retryAfterMs(response.headers),
        });
      }
      return new UpstreamFailure(response.status === 413 ? 'upstream_request_too_large' : 'upstream_rejected',
        `The upstream provider rejected the request: ${upstreamMessage(text)}`, { route, detail });
    }
    clearTimeout(timer); // headers came in time; the body has its own clock
    return await accept(route, request, response, call);
  } finally {
    clearTimeout(timer);
  }
}

/** A 2xx response, checked to be an answer (see callUpstream). */
async function accept(route: Route, request: UpstreamRequest, response: Response, call: UpstreamCall): Promise<UpstreamSuccess | UpstreamFailure> {
  const isJson = response.headers.get('content-type')?.includes('json') ?? false;
  if (!call.isAnswer && !isJson && response.body) return { route, request, response, json: null };
  let text: string;
  try {
    text = await withTimeout(response.text(), call.idleTimeoutMs);
  } catch (err) {
    return err instanceof TimeoutError
      ? timeout(route, `channel ${route.id}: body stalled`)
      : new UpstreamFailure('upstream_error', 'The upstream connection failed.', { route, detail: `channel ${route.id}: ${String(err)}` });
  }
  const parsed = jsonObject(text);
  if (!parsed || !call.isAnswer?.(parsed, request)) {
    return new UpstreamFailure('upstream_invalid_response', 'The upstream provider sent an error or an invalid response.',
      { route, detail: `channel ${route.id}: HTTP ${response.status} ${sanitise(text)}` });
  }
  return { route, request, response, json: parsed };
}

function jsonObject(text: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
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
