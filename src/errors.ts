import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';

/** The OpenAI error `type`s the contract uses. */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'insufficient_balance'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'upstream_error'
  | 'api_error';

type Status = 400 | 401 | 402 | 403 | 404 | 413 | 429 | 500 | 502 | 503 | 504;

interface CatalogueEntry {
  status: Status;
  type: ErrorType;
  /** Whether the same request may succeed if sent again; false adds x-should-retry: false,
   *  which the OpenAI SDKs honour. */
  retry: boolean;
}

const entry = (status: Status, type: ErrorType, retry = status === 429 || status >= 500): CatalogueEntry => ({ status, type, retry });

/**
 * Every error code the gateway answers with, and what it means on the wire. The README's
 * error table is held against this one by a test (errors.test.ts).
 */
export const ERRORS = {
  invalid_json: entry(400, 'invalid_request_error'),
  invalid_value: entry(400, 'invalid_request_error'),
  invalid_request: entry(400, 'invalid_request_error'),
  model_not_found: entry(400, 'invalid_request_error'),
  email_taken: entry(400, 'invalid_request_error'),
  adjustment_below_zero: entry(400, 'invalid_request_error'),
  too_many_keys: entry(400, 'invalid_request_error', false),
  invalid_redemption_code: entry(400, 'invalid_request_error', false),
  invalid_signature: entry(400, 'invalid_request_error'),
  upstream_rejected: entry(400, 'invalid_request_error'),
  request_too_large: entry(413, 'invalid_request_error'),
  upstream_request_too_large: entry(413, 'invalid_request_error'),
  invalid_api_key: entry(401, 'authentication_error'),
  invalid_admin_token: entry(401, 'authentication_error'),
  insufficient_balance: entry(402, 'insufficient_balance'),
  spend_limit_reached: entry(402, 'insufficient_balance'),
  model_not_allowed: entry(403, 'permission_error'),
  account_suspended: entry(403, 'permission_error'),
  forbidden: entry(403, 'permission_error'),
  not_found: entry(404, 'not_found_error'),
  // OpenAI's own 404s for an id it does not know say invalid_request_error, with these codes.
  previous_response_not_found: entry(404, 'invalid_request_error', false),
  item_not_found: entry(404, 'invalid_request_error', false),
  conversation_not_found: entry(404, 'invalid_request_error', false),
  unknown_route: entry(404, 'not_found_error'),
  rate_limit_requests: entry(429, 'rate_limit_error'),
  rate_limit_tokens: entry(429, 'rate_limit_error'),
  rate_limit_concurrency: entry(429, 'rate_limit_error'),
  too_many_attempts: entry(429, 'rate_limit_error'),
  too_many_checkouts: entry(429, 'rate_limit_error'),
  internal_error: entry(500, 'api_error'),
  upstream_error: entry(502, 'upstream_error'),
  upstream_invalid_response: entry(502, 'upstream_error'),
  upstream_incomplete: entry(502, 'upstream_error'),
  payment_provider_error: entry(502, 'upstream_error'),
  channel_misconfigured: entry(503, 'upstream_error', false),
  no_channel: entry(503, 'upstream_error'),
  billing_unavailable: entry(503, 'api_error', false),
  account_unavailable: entry(503, 'api_error'),
  database_not_migrated: entry(503, 'api_error', false),
  vault_not_configured: entry(503, 'api_error', false),
  upstream_timeout: entry(504, 'upstream_error'),
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorOptions {
  /** The request field at fault, as OpenAI names it ("messages[0].role"). */
  param?: string | null;
  headers?: Record<string, string>;
  /** For the operator's log only; never sent. */
  detail?: string;
}

/**
 * The one error type of the gateway: a code of the catalogue above, and a message. The
 * message goes on the wire, so it must never hold internals; `detail` is only logged.
 */
export class ApiError extends Error {
  readonly status: Status;
  readonly type: ErrorType;
  readonly retryable: boolean;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  readonly detail?: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: ErrorOptions = {},
  ) {
    super(message);
    const e: CatalogueEntry = ERRORS[code];
    this.status = e.status;
    this.type = e.type;
    this.retryable = e.retry;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
    this.detail = options.detail;
  }
}

/** The OpenAI error shape, for responses and for error events inside a stream. */
export function errorBody(err: ApiError) {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
}

/** The Anthropic Messages API's statuses and error types, for the catalogue's statuses: what
 *  `/v1/messages` answers (contract, "Anthropic-compatible API"). Every "no capacity now"
 *  is Anthropic's 529, which its SDKs and Claude Code retry. */
const ANTHROPIC: Record<Status, { status: number; type: string }> = {
  400: { status: 400, type: 'invalid_request_error' },
  401: { status: 401, type: 'authentication_error' },
  402: { status: 402, type: 'billing_error' },
  403: { status: 403, type: 'permission_error' },
  404: { status: 404, type: 'not_found_error' },
  413: { status: 413, type: 'request_too_large' },
  429: { status: 429, type: 'rate_limit_error' },
  500: { status: 500, type: 'api_error' },
  502: { status: 502, type: 'api_error' },
  503: { status: 529, type: 'overloaded_error' },
  504: { status: 504, type: 'timeout_error' },
};

export type Dialect = 'openai' | 'anthropic';

/** Where Anthropic's API answers otherwise than its status mapping says: an unknown model is its 404. */
const ANTHROPIC_BY_CODE: Partial<Record<ErrorCode, { status: number; type: string }>> = {
  model_not_found: { status: 404, type: 'not_found_error' },
};
const anthropicStatus = (err: ApiError) => ANTHROPIC_BY_CODE[err.code] ?? ANTHROPIC[err.status];

/** The Anthropic error shape, for responses and for error events inside a stream. */
export function anthropicErrorBody(err: ApiError) {
  return { type: 'error', error: { type: anthropicStatus(err).type, message: err.message } };
}

/** Which API's errors a request gets: Anthropic's on the Messages routes, OpenAI's elsewhere. */
export const dialectOf = (path: string): Dialect => (path === '/v1/messages' || path.startsWith('/v1/messages/') ? 'anthropic' : 'openai');

/** Hono's own exceptions (its middleware throws them) in the catalogue's terms. */
function fromHttpException(err: HTTPException): ApiError {
  const byStatus: Partial<Record<number, ErrorCode>> = {
    400: 'invalid_request', 401: 'invalid_api_key', 403: 'forbidden', 404: 'not_found', 413: 'request_too_large',
  };
  const code = byStatus[err.status] ?? (err.status >= 500 ? 'internal_error' : 'invalid_request');
  const message = code === 'internal_error' || !err.message ? 'The request could not be processed.' : err.message;
  return new ApiError(code, message, { detail: `HTTPException ${err.status}` });
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) return fromHttpException(err);
  return new ApiError('internal_error', 'The server had an error while processing your request.', {
    detail: err instanceof Error ? String(err.stack ?? err) : String(err),
  });
}

/** A server error goes to the operator's log (with its detail, never on the wire). */
export function logError(apiError: ApiError, c: Context): void {
  if (apiError.status >= 500) {
    console.error(JSON.stringify({ request_id: c.get('requestId'), status: apiError.status, code: apiError.code, detail: apiError.detail }));
  }
}

/** Hono's onError: the only place an API error becomes a response (pages render theirs
 *  as a page: routes/pages.ts). */
export function renderError(err: unknown, c: Context): Response {
  const apiError = toApiError(err);
  logError(apiError, c);
  const headers: Record<string, string> = { ...apiError.headers };
  if (!apiError.retryable) headers['x-should-retry'] = 'false';
  if (dialectOf(c.req.path) === 'anthropic') {
    return Response.json(anthropicErrorBody(apiError), { status: anthropicStatus(apiError).status, headers });
  }
  return c.json(errorBody(apiError), apiError.status, headers);
}
