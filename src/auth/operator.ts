import type { MiddlewareHandler } from 'hono';
import { config } from '../config';
import type { AppEnv } from '../context';
import { countOperators, operatorById } from '../db/operators';
import { currentSession, type SessionKind } from './session';
import type { ChallengeKind } from './two-factor';

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

/** Who made a change, in the audit log: a named operator by e-mail; a session the admin
 *  token opened (before there were operators) by a prefix of its token's hash. */
export const actorOf = (tokenHash: string) => `console:${tokenHash.slice(0, 12)}`;
export const operatorActor = (email: string) => `operator:${email}`;

/** A named operator's sign-in waiting for its TOTP code (or its enrolment). */
export const OPERATOR_CHALLENGE: ChallengeKind = { cookie: 'tg_operator_2fa', path: '/operator/login' };

/** Every operator page and action: a signed-in operator, or off to the sign-in page. With
 *  no ADMIN_TOKEN configured, the console is closed like the admin API. A session the admin
 *  token opened holds only while no named operator exists. */
export const requireOperator: MiddlewareHandler<AppEnv> = async (c, next) => {
  const session = config(c.env).ADMIN_TOKEN ? await currentSession(c, OPERATOR_SESSION) : null;
  const named = session?.operatorId ? await operatorById(c.env.DB, session.operatorId) : null;
  const valid = session && session.accountId === null && (session.operatorId ? named !== null : (await countOperators(c.env.DB)) === 0);
  if (!valid) {
    const url = new URL(c.req.url);
    return c.redirect(`/operator/login?next=${encodeURIComponent(c.req.method === 'GET' ? url.pathname + url.search : '/operator')}`, 303);
  }
  c.set('operator', named
    ? { actor: operatorActor(named.email), tokenHash: session.tokenHash, id: named.id }
    : { actor: actorOf(session.tokenHash), tokenHash: session.tokenHash, id: null });
  await next();
};
