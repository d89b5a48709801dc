import { Hono, type MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { sameOrigin } from '../auth/session';
import type { AppEnv } from '../context';
import { logError, toApiError } from '../errors';
import { SCRIPT, STYLES } from '../pages/assets';
import { ErrorPage } from '../pages/error';
import { pageOf } from '../pages/layout';
import { consolePages } from './console';
import { operatorPages } from './operator';
import { identity } from './identity';
import { oauthRoutes } from './oauth';
import { signin } from './signin';
import { site } from './site';

/**
 * Every web page: the public site, sign-in, the customer console and the operator console. Pages get a strict
 * Content-Security-Policy (only this origin's script and style; Turnstile's frame on
 * sign-up; forms may go to Stripe Checkout), are never cached, and no state change is
 * taken from another site's page.
 */
export const pages = new Hono<AppEnv>();

pages.get('/assets/app.css', (c) => c.body(STYLES, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' }));
pages.get('/assets/app.js', (c) => c.body(SCRIPT, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=3600' }));

/** The pages' paths: their middleware must not touch /v1, /admin or unknown routes. */
const PAGE_PATHS = ['/', '/pricing', '/docs', '/signup', '/login', '/login/*', '/auth/*', '/logout', '/verify', '/forgot', '/reset', '/console', '/console/*', '/operator', '/operator/*'];

const headers = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'", 'https://challenges.cloudflare.com'],
    frameSrc: ['https://challenges.cloudflare.com'],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    formAction: ["'self'", 'https://checkout.stripe.com'],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    objectSrc: ["'none'"],
  },
  referrerPolicy: 'same-origin',
  crossOriginEmbedderPolicy: false,
});
const noStore: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.header('cache-control', 'no-store');
};
for (const path of PAGE_PATHS) pages.use(path, headers, noStore, sameOrigin);
pages.route('/', site);
pages.route('/', signin);
pages.route('/', identity);
pages.route('/auth', oauthRoutes);
pages.route('/console', consolePages);
pages.route('/operator', operatorPages);

/** A page's errors as a page, in the visitor's language; the API's errors stay JSON. */
pages.onError((err, c) => {
  const error = toApiError(err);
  logError(error, c);
  return c.html(ErrorPage({ page: pageOf(c), message: error.message }), error.status);
});
