/** Every authenticated answer carries the account's balance (dollars) in this header:
 *  after the request's hold on chat and embeddings, as read on the other routes. */
export const BALANCE_HEADER = 'x-tokengate-balance';

/** Response headers a browser client may read (CORS): ids, balance, rate limits, retries. */
export const EXPOSED_HEADERS = [
  'x-request-id', BALANCE_HEADER, 'retry-after', 'retry-after-ms', 'x-should-retry',
  'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens',
] as const;
