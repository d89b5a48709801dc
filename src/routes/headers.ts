/** What the account can spend (dollars), on the answers that asked its object: chat and
 *  embeddings (after the request's hold) and GET /v1/billing/balance. */
export const BALANCE_HEADER = 'x-tokengate-balance';

/** Response headers a browser client may read (CORS): ids, balance, rate limits, retries. */
export const EXPOSED_HEADERS = [
  'x-request-id', BALANCE_HEADER, 'retry-after', 'retry-after-ms', 'x-should-retry',
  'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens',
] as const;
