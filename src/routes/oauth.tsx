import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { accountForIdentity, link } from '../auth/linking';
import { authorizationUrl, identityFromCallback, providerOf, type Provider } from '../auth/oauth';
import { CUSTOMER_SESSION, currentSession } from '../auth/session';
import { safeNext, signInCustomer } from '../auth/sign-in';
import type { AppEnv } from '../context';
import { Layout, Notice, pageOf } from '../pages/layout';
import { attempts, beginAll, FAILED_ATTEMPTS, SIGNUPS, sourceOf } from '../ratelimit/attempts';

/**
 * Sign-in with a provider (auth/oauth.ts): /auth/:provider/start sends the browser to the
 * provider with a fresh state, PKCE challenge and nonce, kept for ten minutes in an HttpOnly
 * cookie; /auth/:provider/callback takes the answer once (the cookie goes whatever happens,
 * so a replayed callback finds nothing) and signs in, or links the identity to the
 * signed-in account when the flow began in Settings. Failures say nothing of which
 * addresses have accounts.
 */
export const oauthRoutes = new Hono<AppEnv>();

const COOKIE = 'tg_oauth';
const Pending = z.object({
  provider: z.string(), state: z.string(), verifier: z.string(), nonce: z.string().nullable(),
  mode: z.enum(['login', 'link']), next: z.string(),
});


function Failed(props: { c: Context<AppEnv>; text: string }) {
  const page = pageOf(props.c);
  return (
    <Layout page={page} title={page.t('oauth.failed.title')}>
      <h1>{page.t('oauth.failed.title')}</h1>
      <Notice kind="error">{props.text}</Notice>
      <p><a href="/login">{page.t('nav.login')}</a></p>
    </Layout>
  );
}

const provided = (c: Context<AppEnv>): Provider | null => providerOf(c.env, c.req.param('provider') ?? '');

oauthRoutes.get('/:provider/start', async (c) => {
  const p = provided(c);
  if (!p) return c.html(<Failed c={c} text={pageOf(c).t('oauth.unknown')} />, 404);
  const mode = c.req.query('link') === '1' ? 'link' : 'login';
  if (mode === 'link' && !(await currentSession(c, CUSTOMER_SESSION))?.accountId) return c.redirect('/login?next=/console/settings', 303);
  const { url, pending } = await authorizationUrl(c.env, p);
  const value = { provider: p.id, ...pending, mode, next: mode === 'link' ? '/console/settings' : safeNext(c.req.query('next')) };
  setCookie(c, COOKIE, btoa(JSON.stringify(value)), {
    httpOnly: true, sameSite: 'Lax', secure: new URL(c.req.url).protocol === 'https:', path: '/auth', maxAge: 600,
  });
  return c.redirect(url, 302);
});

oauthRoutes.get('/:provider/callback', async (c) => {
  const { t } = pageOf(c);
  const p = provided(c);
  const raw = getCookie(c, COOKIE);
  deleteCookie(c, COOKIE, { path: '/auth' });
  const pending = raw ? Pending.safeParse(parsed(raw)).data : undefined;
  // Failed callbacks count against the source, like failed log-ins.
  const source = sourceOf(c.req.header('cf-connecting-ip'));
  const limiter = attempts(c.env, `oauth:${source}`);
  const attempt = await limiter.begin(FAILED_ATTEMPTS);
  if (!attempt.ok) {
    c.header('retry-after', String(Math.ceil(attempt.retryAfterMs / 1000)));
    return c.html(<Failed c={c} text={t('forgot.throttled', { minutes: Math.ceil(attempt.retryAfterMs / 60_000) })} />, 429);
  }
  if (!p || !pending || pending.provider !== p.id) return c.html(<Failed c={c} text={t('oauth.failed')} />, 400);
  let identity;
  try {
    identity = await identityFromCallback(c.env, p, new URL(c.req.url), pending);
  } catch (err) {
    console.error(JSON.stringify({ oauth_failed: p.id, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }));
    return c.html(<Failed c={c} text={t('oauth.failed')} />, 400);
  }
  await limiter.succeeded(FAILED_ATTEMPTS);

  if (pending.mode === 'link') {
    const session = await currentSession(c, CUSTOMER_SESSION);
    if (!session?.accountId) return c.redirect('/login?next=/console/settings', 303);
    const linked = await link(c.env, session.accountId, identity);
    return c.redirect(`/console/settings?linked=${linked ? p.id : 'taken'}`, 303);
  }
  const outcome = await accountForIdentity(c.env, identity, async () =>
    (await beginAll(c.env, [[`signup:${source}`, SIGNUPS]])).ok);
  if ('refused' in outcome) {
    const text = outcome.refused === 'throttled' ? t('auth.too_many_signups') : t('oauth.no_email', { provider: p.name });
    return c.html(<Failed c={c} text={text} />, outcome.refused === 'throttled' ? 429 : 400);
  }
  return signInCustomer(c, outcome.accountId, pending.next);
});

function parsed(raw: string): unknown {
  try {
    return JSON.parse(atob(raw));
  } catch {
    return null;
  }
}
