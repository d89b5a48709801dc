import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { isAdminToken } from '../../auth/admin';
import { OPERATOR_CHALLENGE, OPERATOR_SESSION } from '../../auth/operator';
import { verifyPassword } from '../../auth/password';
import { endSession, startSession } from '../../auth/session';
import { beginEnrolment, challengeOf, confirmEnrolment, endChallenge, passesSecondFactor, pendingEnrolment, startChallenge, usedCode } from '../../auth/two-factor';
import type { AppEnv } from '../../context';
import { countOperators, operatorById, operatorCredentials } from '../../db/operators';
import { hasSecondFactor } from '../../db/second-factors';
import { translator } from '../../pages/i18n';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { TwoFactorSection, type TwoFactorState } from '../../pages/two-factor';
import { attempts, beginAll, FAILED_ATTEMPTS, sourceOf } from '../../ratelimit/attempts';

/**
 * Signing in to the operator console, and out. Until there is a named operator the
 * console takes ADMIN_TOKEN (a deployment's first sign-in, which then adds operators on the
 * Operators page); from then on an operator's e-mail and password, then a TOTP code — set
 * up at the operator's first sign-in, before the console opens — or a recovery code.
 */
export const operatorSignin = new Hono<AppEnv>();

const en = translator('en');
type Notice = { kind: 'ok' | 'error'; text: string };

function SignIn(props: { c: Context<AppEnv>; named: boolean; next?: string; error?: string }) {
  const page = pageOf(props.c);
  return (
    <Layout page={page} title="Operator sign-in" operator signedIn={false}>
      <h1>Operator sign-in</h1>
      {props.error && <Notice kind="error">{props.error}</Notice>}
      <form class="stack card" method="post" action={`/operator/login${props.next ? `?next=${encodeURIComponent(props.next)}` : ''}`}>
        {props.named ? (
          <>
            <label>Email<input type="email" name="email" required autocomplete="username" maxlength={254} /></label>
            <label>Password<input type="password" name="password" required autocomplete="current-password" maxlength={1000} /></label>
          </>
        ) : <label>Admin token<input type="password" name="token" required autocomplete="current-password" maxlength={1000} /></label>}
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">{props.named
        ? 'Then the code from your authenticator app. Sessions last 12 hours.'
        : 'The token is the deployment’s ADMIN_TOKEN secret, which opens the console until the first operator is added (Operators page); from then on operators sign in by name, with two-factor, and the token is for the admin API alone.'}</p>
    </Layout>
  );
}

function SecondStep(props: { c: Context<AppEnv>; state: TwoFactorState | 'code'; notice?: Notice; next?: string }) {
  const page = pageOf(props.c);
  const { state } = props;
  return (
    <Layout page={page} title="Two-factor authentication" operator signedIn={false}>
      <h1>Two-factor authentication</h1>
      {props.notice && <Notice kind={props.notice.kind}>{props.notice.text}</Notice>}
      {state === 'code' ? (
        <form class="stack card" method="post" action="/operator/login/code">
          <label>Authentication code<input name="code" required autocomplete="one-time-code" maxlength={100} /></label>
          <p class="muted">{en('twofa.code.hint')}</p>
          <button type="submit">Verify</button>
        </form>
      ) : (
        <>
          {state.kind === 'enrolling' && <p>Operators sign in with two-factor. Set it up now: the console opens once it is confirmed.</p>}
          <TwoFactorSection t={en} base="/operator/login/code" state={state} />
          {state.kind === 'codes' && <p><a href={props.next ?? '/operator'}>Continue to the console</a></p>}
        </>
      )}
    </Layout>
  );
}

/** Only a path of the operator console itself: never an open redirect. */
const safeNext = (next: string | null | undefined) => (next && /^\/operator(\/[\w\-/]*)?(\?[\w=&%.\-+]*)?$/.test(next) ? next : '/operator');

const lockedOut = (c: Context<AppEnv>, retryAfterMs: number) => {
  c.header('retry-after', String(Math.ceil(retryAfterMs / 1000)));
  return `Too many failed sign-ins. Try again in ${Math.ceil(retryAfterMs / 60_000)} minutes.`;
};

operatorSignin.get('/login', async (c) => c.html(<SignIn c={c} named={(await countOperators(c.env.DB)) > 0} next={c.req.query('next')} />));

operatorSignin.post('/login', async (c) => {
  const next = c.req.query('next');
  const body = await c.req.parseBody();
  const named = (await countOperators(c.env.DB)) > 0;
  const again = (error: string, status: 401 | 429) => c.html(<SignIn c={c} named={named} next={next} error={error} />, status);
  const source = sourceOf(c.req.header('cf-connecting-ip'));
  if (!named) {
    const token = z.string().max(1000).catch('').parse(body.token);
    // Counted apart from customers' log-ins (by the caller's address: there is one token),
    // before the token is compared, so guesses sent together are each counted.
    const limiter = attempts(c.env, `operator:${source}`);
    const attempt = await limiter.begin(FAILED_ATTEMPTS);
    if (!attempt.ok) return again(lockedOut(c, attempt.retryAfterMs), 429);
    if (!token || !(await isAdminToken(c.env, token))) return again('That is not the admin token.', 401);
    await limiter.succeeded(FAILED_ATTEMPTS);
    await startSession(c, OPERATOR_SESSION, null);
    return c.redirect(safeNext(next), 303);
  }
  const email = z.string().max(254).catch('').parse(body.email).trim().toLowerCase();
  const password = z.string().max(1000).catch('').parse(body.password);
  const attempt = await beginAll(c.env, [[`operator:${source}`, FAILED_ATTEMPTS], [`operator:${email}`, FAILED_ATTEMPTS]]);
  if (!attempt.ok) return again(lockedOut(c, attempt.retryAfterMs), 429);
  const operator = await operatorCredentials(c.env.DB, email);
  if (!(await verifyPassword(password, operator?.password_hash ?? null)) || !operator) return again('Wrong email or password.', 401);
  await attempt.succeeded();
  await startChallenge(c, OPERATOR_CHALLENGE, operator.id, safeNext(next));
  return c.redirect('/operator/login/code', 303);
});

/** The pending sign-in, and its operator's e-mail (the authenticator app's label). */
async function pending(c: Context<AppEnv>) {
  const challenge = await challengeOf(c, OPERATOR_CHALLENGE);
  const operator = challenge && (await operatorById(c.env.DB, challenge.owner));
  return challenge && operator ? { ...challenge, email: operator.email } : null;
}

operatorSignin.get('/login/code', async (c) => {
  const p = await pending(c);
  if (!p) return c.redirect('/operator/login', 303);
  if (await hasSecondFactor(c.env.DB, p.owner)) return c.html(<SecondStep c={c} state="code" />);
  const enrolment = (await pendingEnrolment(c.env, p.owner, p.email)) ?? (await beginEnrolment(c.env, p.owner, p.email));
  return c.html(<SecondStep c={c} state={enrolment ? { kind: 'enrolling', enrolment } : 'code'} />);
});

/** A code for the pending sign-in, throttled per operator. */
async function withCode(c: Context<AppEnv>, use: (owner: string, code: string) => Promise<boolean>) {
  const p = await pending(c);
  if (!p) return { done: false as const, answer: c.html(<SignIn c={c} named error="That sign-in took too long. Sign in again." />, 401) };
  const used = await usedCode(c, p.owner, (code) => use(p.owner, code));
  if (typeof used === 'object') return { done: false as const, p, error: lockedOut(c, used.retryAfterMs), status: 429 as const };
  if (used === 'wrong') return { done: false as const, p, error: 'That code is not right.', status: 401 as const };
  await endChallenge(c, OPERATOR_CHALLENGE, p.tokenHash);
  await startSession(c, OPERATOR_SESSION, null, p.owner);
  return { done: true as const, p };
}

operatorSignin.post('/login/code', async (c) => {
  const r = await withCode(c, (owner, code) => passesSecondFactor(c.env, owner, code));
  if ('answer' in r) return r.answer;
  if (!r.done) return c.html(<SecondStep c={c} state="code" notice={{ kind: 'error', text: r.error }} />, r.status);
  return c.redirect(safeNext(r.p.next), 303);
});

operatorSignin.post('/login/code/confirm', async (c) => {
  let codes: string[] | null = null;
  const r = await withCode(c, async (owner, code) => (codes = await confirmEnrolment(c.env, owner, code)) !== null);
  if ('answer' in r) return r.answer;
  if (!r.done) {
    const enrolment = await pendingEnrolment(c.env, r.p.owner, r.p.email);
    return c.html(<SecondStep c={c} state={enrolment ? { kind: 'enrolling', enrolment } : 'code'} notice={{ kind: 'error', text: r.error }} />, r.status);
  }
  return c.html(<SecondStep c={c} state={{ kind: 'codes', codes: codes! }} notice={{ kind: 'ok', text: 'Two-factor authentication is on: you are signed in.' }} next={safeNext(r.p.next)} />);
});

operatorSignin.post('/logout', async (c) => {
  await endSession(c, OPERATOR_SESSION);
  return c.redirect('/operator/login', 303);
});
