import { config, secret, type Env } from '../config';
import type { ChannelAuth, Route, RouteKey } from '../db/catalog';
import { ApiError, type ErrorCode } from '../errors';
import { SHORT_RETRY_AFTER_MS } from '../health/rules';
import { TimeoutError, withTimeout } from './timeout';
import { echoResponse } from './echo';
import { credentialsFor, keyFault, noteFault, openKey, type Credential, type KeyFault } from './key-pool';

export type UpstreamPath =
  | '/chat/completions' | '/embeddings' | '/messages' | '/messages/count_tokens' | '/responses' | '/moderations'
  | '/images/generations' | '/images/edits' | '/audio/speech' | '/audio/transcriptions' | '/audio/translations'
  | `/models/${string}:generateContent` | `/models/${string}:streamGenerateContent?alt=sse`;

/** What goes to one channel: its path under the channel's base_url, the body (with the
 *  channel's model id, in the channel's API) and the client headers that API takes. */
export interface UpstreamRequest {
  path: UpstreamPath;
  /** The JSON body; for a form, its fields (what is sent is `form`). */
  body: Record<string, unknown>;
  /** `body` as the client's own text, sent instead of serialising it again (proxy/raw-body.ts). */
  raw?: Blob;
  /** A multipart upload (proxy/multipart.ts), sent instead of `body`: made for each attempt,
   *  null where it cannot be made again (it streamed to a channel that failed). */
  form?: { contentType: string; upload: () => ReadableStream<Uint8Array> | null };
  /** The API may answer in plain text or events as well as JSON (a transcription's
   *  response_format): such an answer passes as it is; a JSON one is still checked. */
  textAnswers?: boolean;
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
  /** Hears how each stored provider key did: for its statistics, and to disable it. */
  onKey?: (route: Route, key: RouteKey, outcome: KeyOutcome) => void;
}

/** One call with a stored key: answered, or failed (with what that says of the key). */
export type KeyOutcome = { ok: true; latencyMs: number } | { ok: false; fault: KeyFault | null; error: string };

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
  /** The start of the upstream's error body, to tell a refused key (never sent on). */
  readonly upstreamBody: string;

  constructor(code: ErrorCode, message: string, o: {
    route: Route | null; timedOut?: boolean; detail?: string; upstreamStatus?: number; retryAfterMs?: number | null; upstreamBody?: string;
  }) {
    super(code, message, { detail: o.detail });
    this.route = o.route;
    this.timedOut = o.timedOut ?? false;
    this.upstreamStatus = o.upstreamStatus ?? null;
    this.retryAfterMs = o.retryAfterMs ?? null;
    this.upstreamBody = o.upstreamBody ?? '';
  }
}

const timeout = (route: Route, detail: string) =>
  new UpstreamFailure('upstream_timeout', 'The upstream provider timed out.', { route, timedOut: true, detail });

/** Anthropic's API version when the client names none (its SDKs and Claude Code always do). */
export const ANTHROPIC_VERSION = '2023-06-01';

/** How a channel sends its provider key: as it says, else its kind's own way. */
export function authHeaders(route: Route, apiKey: string): Record<string, string> {
  const auth: ChannelAuth = route.auth ?? (route.kind === 'anthropic' ? 'x-api-key' : route.kind === 'gemini' ? 'x-goog-api-key' : 'bearer');
  const headers: Record<string, string> = auth === 'bearer' ? { authorization: `Bearer ${apiKey}` } : { [auth]: apiKey };
  if (route.kind === 'anthropic') headers['anthropic-version'] = ANTHROPIC_VERSION;
  return headers;
}

/** The upstream URL of a request: the channel's base URL, the API's path, and the channel's fixed query parameters. */
export function upstreamUrl(route: Route, path: string): string {
  const url = `${route.base_url.replace(/\/+$/, '')}${path}`;
  const query = route.query ? new URLSearchParams(route.query).toString() : '';
  return query === '' ? url : `${url}${url.includes('?') ? '&' : '?'}${query}`;
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
  const result = await withKeys(env, route, request, call);
  if (!(result instanceof UpstreamFailure) || result.upstreamStatus !== 404 || !request.fallback) return result;
  request.fallback.onFallback();
  return request.fallback.request ? withKeys(env, route, request.fallback.request, call) : result;
}

const misconfigured = (route: Route, why: string) =>
  new UpstreamFailure('channel_misconfigured',
    'The upstream channel for this model has no usable provider key. (Operator: add keys to the channel, or set the secret it names.)',
    { route, detail: `channel ${route.id}: ${why}` });

/** One attempt at a channel: its keys in turn, for as long as what fails is the key. */
async function withKeys(env: Env, route: Route, request: UpstreamRequest, call: UpstreamCall): Promise<UpstreamSuccess | UpstreamFailure> {
  if (route.kind === 'echo') return accept(route, request, await echoResponse(request.path, request.body), call);
  const credentials = credentialsFor(route);
  if (credentials.length === 0) return misconfigured(route, 'every provider key is disabled');
  let failure: UpstreamFailure | null = null;
  for (const credential of credentials) {
    const apiKey = await keyOf(env, route, credential);
    if (apiKey === null) {
      failure = misconfigured(route, 'secret' in credential ? `secret ${credential.secret || '(none)'} is not set` : `key ${credential.stored.id} cannot be opened`);
      continue;
    }
    const started = Date.now();
    const result = await send(route, request, call, apiKey);
    if ('secret' in credential) return result;
    if (!(result instanceof UpstreamFailure)) {
      call.onKey?.(route, credential.stored, { ok: true, latencyMs: Date.now() - started });
      return result;
    }
    const fault = keyFault(result.upstreamStatus, result.upstreamBody, result.retryAfterMs);
    call.onKey?.(route, credential.stored, { ok: false, fault, error: result.message });
    if (!fault) return result;
    noteFault(credential.stored, fault);
    failure = result;
  }
  return failure!;
}

/** A credential in clear: the named secret, or a stored key opened (null: neither can be had). */
export async function keyOf(env: Env, route: Route, credential: Credential): Promise<string | null> {
  if ('secret' in credential) return credential.secret === '' ? null : secret(env, credential.secret) ?? null;
  try {
    return await openKey(config(env).PROVIDER_KEYS_KEK, route.id, credential.stored);
  } catch (err) {
    console.error(JSON.stringify({ provider_key_unopenable: credential.stored.id, channel: route.id, error: String(err) }));
    return null;
  }
}

/**
 * The upstream call's signal: aborted when the client goes (while the answer streams too) or
 * when the first byte is late. Apart from `send` because its listener lives as long as the
 * client's request: a closure of `send`'s would keep the call, and through it the request's
 * body — a whole conversation — in the heap while the answer streams, where the garbage
 * collector pays for it per kilobyte.
 */
function upstreamSignal(clientSignal: AbortSignal, firstByteTimeoutMs: number) {
  const controller = new AbortController();
  const abort = () => controller.abort();
  clientSignal.addEventListener('abort', abort, { once: true });
  const timer = setTimeout(abort, firstByteTimeoutMs);
  return { signal: controller.signal, timer, timedOut: () => controller.signal.aborted && !clientSignal.aborted };
}

async function send(route: Route, request: UpstreamRequest, call: UpstreamCall, apiKey: string): Promise<UpstreamSuccess | UpstreamFailure> {
  const { signal, timer, timedOut } = upstreamSignal(call.clientSignal, call.firstByteTimeoutMs);
  try {
    const upload = request.form ? request.form.upload() : null;
    if (request.form && !upload) {
      return new UpstreamFailure('upstream_error', 'The upload was streamed to a channel that failed, and cannot be sent again.', {
        route, detail: `channel ${route.id}: upload already sent`,
      });
    }
    let response: Response;
    try {
      response = await fetch(upstreamUrl(route, request.path), {
        method: 'POST',
        headers: {
          'content-type': request.form?.contentType ?? 'application/json', accept: 'application/json, text/event-stream',
          ...authHeaders(route, apiKey), ...request.headers,
        },
        body: upload ?? request.raw ?? JSON.stringify(request.body),
        signal,
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
          route, detail, upstreamStatus: response.status, retryAfterMs: retryAfterMs(response.headers), upstreamBody: text.slice(0, 4096),
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
  if ((!call.isAnswer || request.textAnswers) && !isJson && response.body) return { route, request, response, json: null };
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
