import type { Context } from 'hono';

/** The OpenAI error `type`s the contract uses, each with its one HTTP status family. */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'insufficient_balance'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'upstream_error'
  | 'api_error';

/**
 * The one error type of the gateway. `message` goes on the wire, so it must never hold
 * internals; anything else worth knowing goes to `detail`, which is only logged.
 */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 402 | 403 | 404 | 413 | 429 | 500 | 502 | 503 | 504,
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
    readonly detail?: string,
  ) {
    super(message);
  }

  /** Retrying the same request cannot succeed; the OpenAI SDKs honour x-should-retry. */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

export const badRequest = (message: string, param: string | null = null, code = 'invalid_request') =>
  new ApiError(400, 'invalid_request_error', code, message, param);

export const unauthorized = (message: string) =>
  new ApiError(401, 'authentication_error', 'invalid_api_key', message);

export const forbidden = (message: string, code = 'model_not_allowed') =>
  new ApiError(403, 'permission_error', code, message);

export const notFound = (message: string, code = 'not_found') =>
  new ApiError(404, 'not_found_error', code, message);

/** The OpenAI error shape, for responses and for error events inside a stream. */
export function errorBody(err: ApiError) {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
}

/** Hono's onError: the only place an error becomes a response. */
export function renderError(err: Error, c: Context): Response {
  const apiError =
    err instanceof ApiError
      ? err
      : new ApiError(500, 'api_error', 'internal_error', 'The server had an error while processing your request.');
  if (apiError.status >= 500) {
    console.error(
      JSON.stringify({
        request_id: c.get('requestId'),
        status: apiError.status,
        code: apiError.code,
        detail: apiError.detail ?? (err === apiError ? undefined : String(err.stack ?? err)),
      }),
    );
  }
  const headers: Record<string, string> = { ...apiError.headers };
  if (!apiError.retryable) headers['x-should-retry'] = 'false';
  return c.json(errorBody(apiError), apiError.status, headers);
}
