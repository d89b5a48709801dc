/** Every authenticated answer carries the account's balance (dollars) in this header:
 *  after the request's hold on chat and embeddings, as read on the other routes. */
export const BALANCE_HEADER = 'x-tokengate-balance';
