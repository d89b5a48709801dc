import type { MiddlewareHandler } from 'hono';
import { config } from '../config';
import type { AppEnv } from '../context';
import { currentSession, type SessionKind } from './session';

/**
 * The operator console's session: the same kind of cookie as the customer console's (a
 * random token, stored hashed, HttpOnly, SameSite=Lax) under its own name, for a session
 * whose account is null. ADMIN_TOKEN itself is only ever posted to the sign-in form; the
 * browser keeps the session token, never the admin token. A customer's session is never an
 * operator's: it has an account. The stored hash covers ADMIN_TOKEN too, so a new token
 * ends every operator session at once. Sessions are short: an admin token is worth more
 * than a customer's password.
 */
export const OPERATOR_SESSION_SECONDS = 12 * 3600;

export const OPERATOR_SESSION: SessionKind = {
  cookie: 'tg_operator',
  seconds: () => OPERATOR_SESSION_SECONDS,
  bind: (c) => config(c.env).ADMIN_TOKEN ?? '',
};

/** Who made a change, in the audit log: the session by a prefix of its token's hash. */
export const actorOf = (tokenHash: string) => `console:${tokenHash.slice(0, 12)}`;

/** Every operator page and action: a signed-in operator, or off to the sign-in page. With
 *  no ADMIN_TOKEN configured, the console is closed like the admin API. */
export const requireOperator: MiddlewareHandler<AppEnv> = async (c, next) => {
  const session = config(c.env).ADMIN_TOKEN ? await currentSession(c, OPERATOR_SESSION) : null;
  if (!session || session.accountId !== null) {
    const url = new URL(c.req.url);
    return c.redirect(`/operator/login?next=${encodeURIComponent(c.req.method === 'GET' ? url.pathname + url.search : '/operator')}`, 303);
  }
  c.set('operator', { actor: actorOf(session.tokenHash), tokenHash: session.tokenHash });
  await next();
};
