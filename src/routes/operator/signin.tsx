import { Hono } from 'hono';
import { z } from 'zod';
import { isAdminToken } from '../../auth/admin';
import { OPERATOR_SESSION } from '../../auth/operator';
import { endSession, startSession } from '../../auth/session';
import type { AppEnv } from '../../context';
import { Layout, Notice, pageOf, type Page } from '../../pages/layout';
import { attempts, FAILED_ATTEMPTS, sourceOf } from '../../ratelimit/attempts';

/** Signing in to the operator console with ADMIN_TOKEN, and out. */
export const operatorSignin = new Hono<AppEnv>();

function SignIn(props: { page: Page; next?: string; error?: string }) {
  return (
    <Layout page={props.page} title="Operator sign-in" operator signedIn={false}>
      <h1>Operator sign-in</h1>
      {props.error && <Notice kind="error">{props.error}</Notice>}
      <form class="stack card" method="post" action={`/operator/login${props.next ? `?next=${encodeURIComponent(props.next)}` : ''}`}>
        <label>Admin token<input type="password" name="token" required autocomplete="current-password" maxlength={1000} /></label>
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">The token is the deployment's ADMIN_TOKEN secret. It is exchanged for a session of 12 hours; the browser never keeps the token.</p>
    </Layout>
  );
}

/** Only a path of the operator console itself: never an open redirect. */
const safeNext = (next: string | undefined) => (next && /^\/operator(\/[\w\-/]*)?(\?[\w=&%.\-+]*)?$/.test(next) ? next : '/operator');

operatorSignin.get('/login', (c) => c.html(<SignIn page={pageOf(c)} next={c.req.query('next')} />));

operatorSignin.post('/login', async (c) => {
  const page = pageOf(c);
  const next = c.req.query('next');
  const body = await c.req.parseBody();
  const token = z.string().max(1000).catch('').parse(body.token);
  // Counted apart from customers' log-ins (by the caller's address: there is one token),
  // before the token is compared, so guesses sent together are each counted.
  const limiter = attempts(c.env, `operator:${sourceOf(c.req.header('cf-connecting-ip'))}`);
  const attempt = await limiter.begin(FAILED_ATTEMPTS);
  if (!attempt.ok) {
    const minutes = Math.ceil(attempt.retryAfterMs / 60_000);
    c.header('retry-after', String(Math.ceil(attempt.retryAfterMs / 1000)));
    return c.html(<SignIn page={page} next={next} error={`Too many failed sign-ins. Try again in ${minutes} minutes.`} />, 429);
  }
  if (!token || !(await isAdminToken(c.env, token))) return c.html(<SignIn page={page} next={next} error="That is not the admin token." />, 401);
  await limiter.succeeded(FAILED_ATTEMPTS);
  await startSession(c, OPERATOR_SESSION, null);
  return c.redirect(safeNext(next), 303);
});

operatorSignin.post('/logout', async (c) => {
  await endSession(c, OPERATOR_SESSION);
  return c.redirect('/operator/login', 303);
});
