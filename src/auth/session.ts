import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { config } from '../config';
import type { AppEnv } from '../context';
import { deleteSession, findSession, insertSession } from '../db/sessions';
import { ApiError } from '../errors';
import { randomToken, sha256Hex } from './keys';

/**
 * Console sessions: a random 256-bit token in an HttpOnly, SameSite=Lax cookie (Secure
 * unless the site is served from localhost), stored in D1 only as its SHA-256. A session
 * opens the console and nothing else: /v1 takes API keys only, and an API key opens no page.
 */
export const CUSTOMER_COOKIE = 'tg_session';

/** What a kind of session is: its cookie, how long it lasts, and what else its stored hash
 *  covers (`bind`): the operator's covers ADMIN_TOKEN, so changing the token ends them all. */
export interface SessionKind {
  cookie: string;
  seconds: (c: Context<AppEnv>) => number;
  bind?: (c: Context<AppEnv>) => string;
}

export const CUSTOMER_SESSION: SessionKind = { cookie: CUSTOMER_COOKIE, seconds: (c) => config(c.env).SESSION_DAYS * 86_400 };

const hashOf = (c: Context<AppEnv>, kind: SessionKind, token: string) => sha256Hex(kind.bind ? `${token}:${kind.bind(c)}` : token);

const isLocal = (url: string) => ['localhost', '127.0.0.1', '[::1]'].includes(new URL(url).hostname);

/** Opens a session of this kind for the account (null: an operator, named by operatorId
 *  unless the admin token opened it). */
export async function startSession(c: Context<AppEnv>, kind: SessionKind, accountId: string | null, operatorId: string | null = null): Promise<void> {
  const token = randomToken();
  const seconds = kind.seconds(c);
  await insertSession(c.env.DB, await hashOf(c, kind, token), accountId, operatorId, new Date(Date.now() + seconds * 1000).toISOString());
  setCookie(c, kind.cookie, token, {
    httpOnly: true,
    sameSite: 'Lax',
    secure: !isLocal(c.req.url),
    path: '/',
    maxAge: seconds,
  });
}

/** The session the request's cookie names, if it is open: its account (or operator) and token hash. */
export async function currentSession(c: Context<AppEnv>, kind: SessionKind): Promise<{ accountId: string | null; operatorId: string | null; tokenHash: string } | null> {
  const token = getCookie(c, kind.cookie);
  if (!token || token.length > 100) return null;
  const tokenHash = await hashOf(c, kind, token);
  const row = await findSession(c.env.DB, tokenHash);
  return row ? { accountId: row.account_id, operatorId: row.operator_id, tokenHash } : null;
}

export async function endSession(c: Context<AppEnv>, kind: SessionKind): Promise<void> {
  const session = await currentSession(c, kind);
  if (session) await deleteSession(c.env.DB, session.tokenHash);
  deleteCookie(c, kind.cookie, { path: '/' });
}

/**
 * Cookies are sent with cross-site requests, so every state change must come from the
 * site's own pages: a POST (or any non-GET) whose Origin is not the site's is refused,
 * whatever its content type (Hono's csrf() checks form-like content types only). Browsers
 * send Origin on every such request; a request without one is refused too.
 */
export const sameOrigin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    const origin = c.req.header('origin');
    const own = [new URL(config(c.env).PUBLIC_URL).origin, new URL(c.req.url).origin];
    if (!origin || !own.includes(origin)) throw new ApiError('forbidden', 'This request did not come from this site’s own pages.');
  }
  await next();
};

/** The console's pages: a signed-in customer, or off to the log-in page (and back after). */
export const requireCustomer: MiddlewareHandler<AppEnv> = async (c, next) => {
  const session = await currentSession(c, CUSTOMER_SESSION);
  if (!session?.accountId) {
    const url = new URL(c.req.url);
    return c.redirect(`/login?next=${encodeURIComponent(c.req.method === 'GET' ? url.pathname + url.search : '/console')}`, 303);
  }
  c.set('session', { accountId: session.accountId, tokenHash: session.tokenHash });
  await next();
};
