import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { resetLinkUsable, sendLink, useResetLink, useVerifyLink } from '../auth/email-links';
import { PASSWORD_MAX, PASSWORD_MIN } from '../auth/password';
import { config } from '../config';
import type { AppEnv } from '../context';
import { accountByEmail } from '../db/accounts';
import { toDollars } from '../money';
import { Layout, Notice, pageOf } from '../pages/layout';
import { attempts, beginAll, FAILED_ATTEMPTS, RESET_MAILS, sourceOf, VERIFY_MAILS } from '../ratelimit/attempts';

/**
 * E-mailed links (auth/email-links.ts): /verify (an address), /forgot and /reset (a
 * password), and the console's "Resend verification email". "Forgot password" answers
 * the same whether or not an account uses the address, and every form here is throttled.
 */
export const identity = new Hono<AppEnv>();

const Token = z.string().regex(/^[\w-]{20,100}$/);
const tokenOf = (c: Context<AppEnv>) => Token.safeParse(c.req.query('token')).data ?? null;

/** A link used from one source: a wrong one (a falsy answer) counts as a failed log-in does. */
async function linkThrottle<T>(c: Context<AppEnv>, use: () => Promise<T>): Promise<Response | { value: T }> {
  const limiter = attempts(c.env, `link:${sourceOf(c.req.header('cf-connecting-ip'))}`);
  const attempt = await limiter.begin(FAILED_ATTEMPTS);
  if (!attempt.ok) {
    const { t } = pageOf(c);
    c.header('retry-after', String(Math.ceil(attempt.retryAfterMs / 1000)));
    return c.html(<Layout page={pageOf(c)} title={t('reset.title')}><Notice kind="error">{t('forgot.throttled', { minutes: Math.ceil(attempt.retryAfterMs / 60_000) })}</Notice></Layout>, 429);
  }
  const value = await use();
  if (value) await limiter.succeeded(FAILED_ATTEMPTS);
  return { value };
}

identity.get('/verify', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const token = tokenOf(c);
  const used = await linkThrottle(c, async () => (token ? useVerifyLink(c.env, token) : null));
  if (used instanceof Response) return used;
  const done = used.value;
  const credit = `$${toDollars(config(c.env).SIGNUP_CREDIT)}`;
  return c.html(
    <Layout page={page} title={t('verify.done')}>
      {done ? <Notice kind="ok">{t(done.credited ? 'verify.credited' : 'verify.done', { credit })}</Notice> : <Notice kind="error">{t('verify.bad')}</Notice>}
      <p><a href="/console">{t('nav.dashboard')}</a></p>
    </Layout>,
    done ? 200 : 400,
  );
});

function ForgotForm(props: { c: Context<AppEnv>; notice?: { kind: 'ok' | 'error'; text: string } }) {
  const page = pageOf(props.c);
  const { t } = page;
  return (
    <Layout page={page} title={t('forgot.title')}>
      <h1>{t('forgot.title')}</h1>
      {props.notice && <Notice kind={props.notice.kind}>{props.notice.text}</Notice>}
      <p class="muted">{t('forgot.lead')}</p>
      <form class="stack card" method="post" action="/forgot">
        <label>{t('auth.email')}<input type="email" name="email" autocomplete="email" required /></label>
        <button type="submit">{t('forgot.button')}</button>
      </form>
    </Layout>
  );
}

identity.get('/forgot', (c) => c.html(<ForgotForm c={c} />));

identity.post('/forgot', async (c) => {
  const { t } = pageOf(c);
  const body = await c.req.parseBody();
  const email = z.string().trim().toLowerCase().email().max(254).safeParse(body.email).data;
  // Counted per source and per address whether or not an account uses it: the answer, the
  // throttling and the time taken say nothing about which addresses have accounts.
  const limit = await beginAll(c.env, [[`reset-mail:${sourceOf(c.req.header('cf-connecting-ip'))}`, RESET_MAILS], [`reset-mail:${email ?? ''}`, RESET_MAILS]]);
  if (!limit.ok) {
    c.header('retry-after', String(Math.ceil(limit.retryAfterMs / 1000)));
    return c.html(<ForgotForm c={c} notice={{ kind: 'error', text: t('forgot.throttled', { minutes: Math.ceil(limit.retryAfterMs / 60_000) }) }} />, 429);
  }
  const account = email ? await accountByEmail(c.env.DB, email) : null;
  const sending = account ? sendLink(c.env, t, account, 'reset') : Promise.resolve(false);
  c.executionCtx.waitUntil(sending.catch((err) => console.error(JSON.stringify({ reset_mail_failed: String(err) }))));
  return c.html(<ForgotForm c={c} notice={{ kind: 'ok', text: t('forgot.sent') }} />);
});

function ResetForm(props: { c: Context<AppEnv>; token: string; error?: string }) {
  const page = pageOf(props.c);
  const { t } = page;
  return (
    <Layout page={page} title={t('reset.title')}>
      <h1>{t('reset.title')}</h1>
      {props.error && <Notice kind="error">{props.error}</Notice>}
      <form class="stack card" method="post" action={`/reset?token=${encodeURIComponent(props.token)}`}>
        <label>{t('settings.new')}<input type="password" name="password" required minlength={PASSWORD_MIN} maxlength={PASSWORD_MAX} autocomplete="new-password" /></label>
        <button type="submit">{t('reset.button')}</button>
      </form>
    </Layout>
  );
}

identity.get('/reset', async (c) => {
  const page = pageOf(c);
  const token = tokenOf(c);
  const usable = await linkThrottle(c, async () => token !== null && (await resetLinkUsable(c.env, token)));
  if (usable instanceof Response) return usable;
  if (!token || !usable.value) {
    return c.html(<Layout page={page} title={page.t('reset.title')}><Notice kind="error">{page.t('reset.bad')}</Notice>
      <p><a href="/forgot">{page.t('auth.forgot')}</a></p></Layout>, 400);
  }
  return c.html(<ResetForm c={c} token={token} />);
});

identity.post('/reset', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const token = tokenOf(c);
  const password = String((await c.req.parseBody()).password ?? '');
  if (!token) return c.html(<Layout page={page} title={t('reset.title')}><Notice kind="error">{t('reset.bad')}</Notice></Layout>, 400);
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    return c.html(<ResetForm c={c} token={token} error={t('auth.short', { min: PASSWORD_MIN, max: PASSWORD_MAX })} />, 400);
  }
  const reset = await linkThrottle(c, () => useResetLink(c.env, token, password));
  if (reset instanceof Response) return reset;
  if (!reset.value) {
    return c.html(<Layout page={page} title={t('reset.title')}><Notice kind="error">{t('reset.bad')}</Notice>
      <p><a href="/forgot">{t('auth.forgot')}</a></p></Layout>, 400);
  }
  return c.html(<Layout page={page} title={t('reset.title')}><Notice kind="ok">{t('reset.done')}</Notice>
    <p><a href="/login">{t('nav.login')}</a></p></Layout>);
});

/** The console's "Resend verification email" (signed in; routes/console/index.ts). */
export async function resendVerification(c: Context<AppEnv>, account: { id: string; email: string }): Promise<'sent' | 'unsent' | 'throttled'> {
  const limit = await attempts(c.env, `verify-mail:${account.id}`).begin(VERIFY_MAILS);
  if (!limit.ok) return 'throttled';
  return (await sendLink(c.env, pageOf(c).t, account, 'verify')) ? 'sent' : 'unsent';
}
