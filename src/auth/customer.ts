import { createMiddleware } from 'hono/factory';
import { findPrincipal, type Principal } from '../db/keys';
import { unauthorized } from '../errors';
import { toDollars } from '../money';
import { rateLimitHeaders } from '../ratelimit/client';
import { BALANCE_HEADER } from '../routes/headers';
import type { AppEnv } from '../context';
import { hashKey, isWellFormedKey } from './keys';

/**
 * Authenticates `Authorization: Bearer sk-…`. A missing or malformed key fails at once,
 * without touching D1; the lookup of a well-formed one is started here and awaited by the
 * route (c.var.principal), so it overlaps with the route's own reads.
 */
export const customerAuth = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header('authorization');
  if (!header) {
    throw unauthorized('You didn\'t provide an API key. Send it as "Authorization: Bearer sk-...".');
  }
  const key = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
  if (!key || !isWellFormedKey(key)) throw unauthorized('Incorrect API key provided.');

  const principal = hashKey(key).then((hash) => findPrincipal(c.env.DB, hash)).then(checkUsable);
  // The route may fail on its own input before awaiting this; don't let that leave an
  // unhandled rejection behind.
  principal.catch(() => {});
  c.set('principal', principal);
  await next();
  // Every authenticated answer carries the balance: after the hold where there was one.
  const known = await principal.catch(() => null);
  if (known) c.res.headers.set(BALANCE_HEADER, String(toDollars(c.var.balance ?? known.balance)));
  for (const [name, value] of Object.entries(rateLimitHeaders(c.var.rateLimit ?? null))) c.res.headers.set(name, value);
});

function checkUsable(p: Principal | null): Principal {
  if (!p) throw unauthorized('Incorrect API key provided.');
  if (p.revoked) throw unauthorized('This API key has been revoked.');
  if (p.expiresAt !== null && Date.parse(p.expiresAt) <= Date.now()) throw unauthorized('This API key has expired.');
  return p;
}
