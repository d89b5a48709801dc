import { Hono, type Context } from 'hono';
import { deleteCookie } from 'hono/cookie';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN, verifyPassword } from '../../auth/password';
import { CUSTOMER_COOKIE } from '../../auth/session';
import type { AppEnv } from '../../context';
import { passwordHashOf, updateAccount } from '../../db/accounts';
import { deleteAccountSessions } from '../../db/sessions';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { attempts, FAILED_ATTEMPTS } from '../../ratelimit/attempts';

/** /console/settings: change the password (other sessions end), sign out everywhere. */
export const settings = new Hono<AppEnv>();

function render(c: Context<AppEnv>, notice?: { kind: 'ok' | 'error'; text: string }, status: 200 | 400 | 429 = 200) {
  const page = pageOf(c);
  const { t } = page;
  return c.html(
    <Layout page={page} title={t('settings.title')} signedIn>
      <h1>{t('settings.title')}</h1>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      <section class="card">
        <h2>{t('settings.password')}</h2>
        <form class="stack" method="post" action="/console/settings/password">
          <label>{t('settings.current')}<input type="password" name="current" required autocomplete="current-password" /></label>
          <label>{t('settings.new')}
            <input type="password" name="password" required minlength={PASSWORD_MIN} maxlength={PASSWORD_MAX} autocomplete="new-password" />
          </label>
          <button type="submit">{t('settings.save')}</button>
        </form>
      </section>
      <section class="card">
        <h2>{t('settings.everywhere')}</h2>
        <p class="muted">{t('settings.everywhere.text')}</p>
        <form method="post" action="/console/settings/sign-out-everywhere">
          <button type="submit" class="danger">{t('settings.everywhere')}</button>
        </form>
      </section>
    </Layout>,
    status,
  );
}

settings.get('/', (c) => render(c));

settings.post('/password', async (c) => {
  const { t } = pageOf(c);
  const { accountId, tokenHash } = c.var.session!;
  const body = await c.req.parseBody();
  const current = typeof body.current === 'string' ? body.current : '';
  const next = typeof body.password === 'string' ? body.password : '';
  if (next.length < PASSWORD_MIN || next.length > PASSWORD_MAX) {
    return render(c, { kind: 'error', text: t('auth.short', { min: PASSWORD_MIN, max: PASSWORD_MAX }) }, 400);
  }
  // A session is not the password: guessing the current one is throttled like log-in.
  const limiter = attempts(c.env, `password:${accountId}`);
  const attempt = await limiter.begin(FAILED_ATTEMPTS);
  if (!attempt.ok) return render(c, { kind: 'error', text: t('settings.locked', { minutes: Math.ceil(attempt.retryAfterMs / 60_000) }) }, 429);
  if (!(await verifyPassword(current, await passwordHashOf(c.env.DB, accountId)))) {
    return render(c, { kind: 'error', text: t('settings.wrong') }, 400);
  }
  await limiter.succeeded(FAILED_ATTEMPTS);
  await updateAccount(c.env.DB, accountId, { passwordHash: await hashPassword(next) });
  await deleteAccountSessions(c.env.DB, accountId, tokenHash);
  return render(c, { kind: 'ok', text: t('settings.changed') });
});

settings.post('/sign-out-everywhere', async (c) => {
  await deleteAccountSessions(c.env.DB, c.var.session!.accountId);
  deleteCookie(c, CUSTOMER_COOKIE, { path: '/' });
  return c.redirect('/login', 303);
});
