import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { sendAccountExists, sendLink } from '../auth/email-links';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN, verifyPassword } from '../auth/password';
import { CUSTOMER_SESSION, endSession, startSession } from '../auth/session';
import { providers, type Provider } from '../auth/oauth';
import { CUSTOMER_CHALLENGE, safeNext, signInCustomer } from '../auth/sign-in';
import { turnstilePasses } from '../auth/turnstile';
import { challengeOf, endChallenge, passesSecondFactor, usedCode } from '../auth/two-factor';
import { config } from '../config';
import type { AppEnv } from '../context';
import { accountByEmail, createAccount, credentialsByEmail, type AccountRow } from '../db/accounts';
import { mailerOf } from '../email/mailer';
import { Layout, Notice, pageOf, type Page } from '../pages/layout';
import { ADDRESS_ATTEMPTS, attempts, beginAll, FAILED_ATTEMPTS, SIGNUPS, SOURCE_ATTEMPTS, sourceOf, VERIFY_MAILS } from '../ratelimit/attempts';

/** Sign-up, log-in and log-out of the customer console. */
export const signin = new Hono<AppEnv>();

const Email = z.string().trim().toLowerCase().email().max(254);
const Form = z.object({ email: z.string().max(1000).default(''), password: z.string().max(10_000).default('') });

function AuthForm(props: { page: Page; kind: 'signup' | 'login'; providers: Provider[]; email?: string; error?: string; next?: string; turnstileKey?: string }) {
  const { t } = props.page;
  const signup = props.kind === 'signup';
  return (
    <Layout page={props.page} title={t(signup ? 'auth.signup.title' : 'auth.login.title')}>
      <h1>{t(signup ? 'auth.signup.title' : 'auth.login.title')}</h1>
      {props.error && <Notice kind="error">{props.error}</Notice>}
      <form class="stack card" method="post" action={signup ? '/signup' : `/login${props.next ? `?next=${encodeURIComponent(props.next)}` : ''}`}>
        <label>{t('auth.email')}<input type="email" name="email" autocomplete="email" required value={props.email ?? ''} /></label>
        <label>{t('auth.password')}
          <input type="password" name="password" required minlength={signup ? PASSWORD_MIN : undefined} maxlength={PASSWORD_MAX}
            autocomplete={signup ? 'new-password' : 'current-password'} />
        </label>
        {signup && props.turnstileKey && <div class="cf-turnstile" data-sitekey={props.turnstileKey}></div>}
        <button type="submit">{t(signup ? 'auth.signup.button' : 'auth.login.button')}</button>
      </form>
      {props.providers.length > 0 && (
        <div class="stack">
          {props.providers.map((p) => (
            <a class="button secondary" href={`/auth/${p.id}/start${props.next ? `?next=${encodeURIComponent(props.next)}` : ''}`}>{t('oauth.continue', { provider: p.name })}</a>
          ))}
        </div>
      )}
      <p>
        {signup ? <>{t('auth.have')} <a href="/login">{t('nav.login')}</a></> : <>{t('auth.new')} <a href="/signup">{t('nav.signup')}</a></>}
      </p>
      {!signup && <p><a href="/forgot">{t('auth.forgot')}</a></p>}
      {signup && props.turnstileKey && <script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>}
    </Layout>
  );
}


async function readForm(c: Context<AppEnv>) {
  const body = await c.req.parseBody();
  return Form.parse({
    email: typeof body.email === 'string' ? body.email : undefined,
    password: typeof body.password === 'string' ? body.password : undefined,
  });
}

signin.get('/signup', (c) => c.html(<AuthForm page={pageOf(c)} kind="signup" providers={providers(c.env)} turnstileKey={config(c.env).TURNSTILE_SITE_KEY} />));

signin.post('/signup', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const cfg = config(c.env);
  const form = await readForm(c);
  const body = await c.req.parseBody();
  const again = (error: string, status: 400 | 403) =>
    c.html(<AuthForm page={page} kind="signup" providers={providers(c.env)} email={form.email} error={error} turnstileKey={cfg.TURNSTILE_SITE_KEY} />, status);
  const email = Email.safeParse(form.email);
  if (!email.success) return again(t('auth.invalid_email'), 400);
  if (form.password.length < PASSWORD_MIN || form.password.length > PASSWORD_MAX) {
    return again(t('auth.short', { min: PASSWORD_MIN, max: PASSWORD_MAX }), 400);
  }
  const signups = await attempts(c.env, `signup:${sourceOf(c.req.header('cf-connecting-ip'))}`).begin(SIGNUPS);
  if (!signups.ok) {
    c.header('retry-after', String(Math.ceil(signups.retryAfterMs / 1000)));
    return c.html(<AuthForm page={page} kind="signup" providers={providers(c.env)} email={form.email} error={t('auth.too_many_signups')} turnstileKey={cfg.TURNSTILE_SITE_KEY} />, 429);
  }
  const token = typeof body['cf-turnstile-response'] === 'string' ? body['cf-turnstile-response'] : undefined;
  if (!(await turnstilePasses(c.env, token, c.req.header('cf-connecting-ip')))) return again(t('auth.turnstile'), 403);
  // The trial credit waits for the address to be verified (auth/email-links.ts). Whether
  // or not the address already has an account, the answer is the same "check your mail"
  // (and the password is hashed either way): only the mail itself tells them apart.
  const passwordHash = await hashPassword(form.password);
  const created = await createAccount(c.env.DB, {
    email: email.data, name: null, group: 'default', rpm: null, tpm: null, max_concurrency: null,
    credit: 0, creditKind: 'signup', passwordHash, verified: false,
  });
  const canMail = mailerOf(c.env) !== null;
  c.executionCtx.waitUntil(mailAfterSignup(c, created, email.data).catch((err) => console.error(JSON.stringify({ signup_mail_failed: String(err) }))));
  return c.html(
    <Layout page={page} title={t('auth.signup.title')}>
      <h1>{t('signup.check.title')}</h1>
      <Notice kind={canMail ? 'ok' : 'error'}>{canMail ? t('signup.check', { email: email.data }) : t('verify.unsent')}</Notice>
      <p><a href="/login">{t('nav.login')}</a></p>
    </Layout>,
  );
});

/** A new account gets its verification link; an address that has an account already gets
 *  a fresh verification link if it is still unverified, else a note that it has one. */
async function mailAfterSignup(c: Context<AppEnv>, created: AccountRow | null, email: string) {
  const account = created ?? (await accountByEmail(c.env.DB, email));
  if (!account) return;
  if (!(await attempts(c.env, `verify-mail:${account.id}`).begin(VERIFY_MAILS)).ok) return;
  const { t } = pageOf(c);
  if (created || !account.email_verified_at) await sendLink(c.env, t, account, 'verify');
  else await sendAccountExists(c.env, t, account.email);
}

signin.get('/login', (c) => c.html(<AuthForm page={pageOf(c)} kind="login" providers={providers(c.env)} next={c.req.query('next')} />));

signin.post('/login', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const form = await readForm(c);
  const next = c.req.query('next');
  const email = form.email.trim().toLowerCase();
  // Counted before the password is checked, per email whether or not it has an account,
  // so that the answers (and the lock-out) never tell the two apart. The contract's rule
  // (10 failures, then 15 minutes) holds per address and source, so an attacker failing on
  // a customer's address locks out only the attacker's own source; a source failing on
  // many addresses, and one address failed from many sources, are throttled too.
  const source = sourceOf(c.req.header('cf-connecting-ip'));
  const attempt = await beginAll(c.env, [
    [`login:${email}:${source}`, FAILED_ATTEMPTS], [`login-source:${source}`, SOURCE_ATTEMPTS], [`login:${email}`, ADDRESS_ATTEMPTS],
  ]);
  if (!attempt.ok) {
    const minutes = Math.ceil(attempt.retryAfterMs / 60_000);
    c.header('retry-after', String(Math.ceil(attempt.retryAfterMs / 1000)));
    return c.html(<AuthForm page={page} kind="login" providers={providers(c.env)} email={form.email} next={next} error={t('auth.locked', { minutes })} />, 429);
  }
  const account = await credentialsByEmail(c.env.DB, email);
  if (!(await verifyPassword(form.password, account?.password_hash ?? null)) || !account) {
    return c.html(<AuthForm page={page} kind="login" providers={providers(c.env)} email={form.email} next={next} error={t('auth.bad')} />, 401);
  }
  await attempt.succeeded();
  return signInCustomer(c, account.id, safeNext(next));
});

function CodeForm(props: { page: Page; error?: string }) {
  const { t } = props.page;
  return (
    <Layout page={props.page} title={t('twofa.title')}>
      <h1>{t('twofa.title')}</h1>
      {props.error && <Notice kind="error">{props.error}</Notice>}
      <form class="stack card" method="post" action="/login/code">
        <label>{t('twofa.code')}<input name="code" required autocomplete="one-time-code" maxlength={100} /></label>
        <p class="muted">{t('twofa.code.hint')}</p>
        <button type="submit">{t('twofa.verify')}</button>
      </form>
    </Layout>
  );
}

signin.get('/login/code', async (c) => {
  if (!(await challengeOf(c, CUSTOMER_CHALLENGE))) return c.redirect('/login', 303);
  return c.html(<CodeForm page={pageOf(c)} />);
});

signin.post('/login/code', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const challenge = await challengeOf(c, CUSTOMER_CHALLENGE);
  if (!challenge) return c.html(<AuthForm page={page} kind="login" providers={providers(c.env)} error={t('twofa.expired')} />, 401);
  const used = await usedCode(c, challenge.owner, (code) => passesSecondFactor(c.env, challenge.owner, code));
  if (typeof used === 'object') {
    c.header('retry-after', String(Math.ceil(used.retryAfterMs / 1000)));
    return c.html(<CodeForm page={page} error={t('auth.locked', { minutes: Math.ceil(used.retryAfterMs / 60_000) })} />, 429);
  }
  if (used === 'wrong') return c.html(<CodeForm page={page} error={t('twofa.wrong')} />, 401);
  await endChallenge(c, CUSTOMER_CHALLENGE, challenge.tokenHash);
  await startSession(c, CUSTOMER_SESSION, challenge.owner);
  return c.redirect(safeNext(challenge.next), 303);
});

signin.post('/logout', async (c) => {
  await endSession(c, CUSTOMER_SESSION);
  return c.redirect('/', 303);
});
