import { Hono, type Context } from 'hono';
import { deleteCookie } from 'hono/cookie';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN, verifyPassword } from '../../auth/password';
import { CUSTOMER_COOKIE } from '../../auth/session';
import type { AppEnv } from '../../context';
import { z } from 'zod';
import { beginEnrolment, confirmEnrolment, newRecoveryCodes, passesSecondFactor, pendingEnrolment, usedCode } from '../../auth/two-factor';
import { providers } from '../../auth/oauth';
import { getAccount, passwordHashOf, updateAccount } from '../../db/accounts';
import { deleteIdentity, identitiesOf } from '../../db/oauth-identities';
import { recordAudit } from '../../db/audit';
import { hasSecondFactor, recoveryCodesLeft, removeSecondFactor } from '../../db/second-factors';
import { ApiError } from '../../errors';
import { TwoFactorSection, type TwoFactorState } from '../../pages/two-factor';
import { deleteAccountSessions } from '../../db/sessions';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { attempts, FAILED_ATTEMPTS } from '../../ratelimit/attempts';

/** /console/settings: change the password (other sessions end), two-factor sign-in, sign out everywhere. */
export const settings = new Hono<AppEnv>();

async function render(c: Context<AppEnv>, notice?: { kind: 'ok' | 'error'; text: string }, status: 200 | 400 | 401 | 429 = 200, twoFactor?: TwoFactorState) {
  const page = pageOf(c);
  const { t } = page;
  const { accountId } = c.var.session!;
  const state = twoFactor ?? ((await hasSecondFactor(c.env.DB, accountId)) ? { kind: 'on', left: await recoveryCodesLeft(c.env.DB, accountId) } as const : { kind: 'off' } as const);
  const [account, linked, hasPassword] = await Promise.all([getAccount(c.env.DB, accountId), identitiesOf(c.env.DB, accountId), passwordHashOf(c.env.DB, accountId).then((h) => h !== null)]);
  const offered = providers(c.env);
  const nameOf = (id: string) => offered.find((p) => p.id === id)?.name ?? id;
  const linkedNotice = c.req.query('linked');
  return c.html(
    <Layout page={page} title={t('settings.title')} signedIn>
      <h1>{t('settings.title')}</h1>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      {linkedNotice && !notice && (linkedNotice === 'taken'
        ? <Notice kind="error">{t('methods.taken')}</Notice>
        : <Notice kind="ok">{t('methods.linked', { provider: nameOf(linkedNotice) })}</Notice>)}
      {(offered.length > 0 || linked.length > 0) && (
        <section class="card stack" aria-labelledby="methods-title">
          <h2 id="methods-title">{t('methods.title')}</h2>
          <p class="muted">{t('methods.text')}</p>
          <ul>
            {linked.map((i) => (
              <li class="actions">
                <span>{nameOf(i.provider)}{i.email && <span class="muted"> · {i.email}</span>}</span>
                <form method="post" action="/console/settings/unlink"><input type="hidden" name="provider" value={i.provider} />
                  <button type="submit" class="secondary">{t('methods.unlink', { provider: nameOf(i.provider) })}</button></form>
              </li>
            ))}
          </ul>
          <div class="actions">
            {offered.filter((p) => !linked.some((i) => i.provider === p.id)).map((p) => (
              <a class="button secondary" href={`/auth/${p.id}/start?link=1`}>{t('methods.link', { provider: p.name })}</a>
            ))}
          </div>
        </section>
      )}
      {!hasPassword && (
        <section class="card stack">
          <h2>{t('settings.password')}</h2>
          <p class="muted">{t('methods.no_password')}</p>
          <form method="post" action="/forgot"><input type="hidden" name="email" value={account!.email} />
            <button type="submit">{t('methods.send')}</button></form>
        </section>
      )}
      {hasPassword && <section class="card">
        <h2>{t('settings.password')}</h2>
        <form class="stack" method="post" action="/console/settings/password">
          <label>{t('settings.current')}<input type="password" name="current" required autocomplete="current-password" /></label>
          <label>{t('settings.new')}
            <input type="password" name="password" required minlength={PASSWORD_MIN} maxlength={PASSWORD_MAX} autocomplete="new-password" />
          </label>
          <button type="submit">{t('settings.save')}</button>
        </form>
      </section>}
      <TwoFactorSection t={t} base="/console/settings/2fa" state={state} />
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

settings.post('/2fa/begin', async (c) => {
  const { accountId } = c.var.session!;
  const account = (await getAccount(c.env.DB, accountId))!;
  try {
    const enrolment = await beginEnrolment(c.env, accountId, account.email);
    return render(c, undefined, 200, enrolment ? { kind: 'enrolling', enrolment } : undefined);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'vault_not_configured') return render(c, { kind: 'error', text: pageOf(c).t('twofa.needs_vault') }, 400);
    throw err;
  }
});

settings.post('/2fa/confirm', async (c) => {
  const { t } = pageOf(c);
  const { accountId } = c.var.session!;
  let codes: string[] | null = null;
  // A session is not the second factor: its codes are throttled like a sign-in's.
  const checked = await usedCode(c, accountId, async (code) => (codes = await confirmEnrolment(c.env, accountId, code)) !== null);
  if (typeof checked === 'object') return render(c, { kind: 'error', text: t('auth.locked', { minutes: Math.ceil(checked.retryAfterMs / 60_000) }) }, 429);
  if (checked === 'wrong' || !codes) {
    const enrolment = await pendingEnrolment(c.env, accountId, (await getAccount(c.env.DB, accountId))!.email);
    return render(c, { kind: 'error', text: t('twofa.wrong') }, 400, enrolment ? { kind: 'enrolling', enrolment } : undefined);
  }
  await recordAudit(c.env.DB, { actor: 'customer', action: 'account.two_factor_on', target: accountId });
  return render(c, { kind: 'ok', text: t('twofa.turned_on') }, 200, { kind: 'codes', codes });
});

settings.post('/2fa/change', async (c) => {
  const { t } = pageOf(c);
  const { accountId } = c.var.session!;
  const action = (await c.req.parseBody()).action === 'off' ? 'off' : 'codes';
  const checked = await usedCode(c, accountId, (code) => passesSecondFactor(c.env, accountId, code));
  if (typeof checked === 'object') return render(c, { kind: 'error', text: t('auth.locked', { minutes: Math.ceil(checked.retryAfterMs / 60_000) }) }, 429);
  if (checked === 'wrong') return render(c, { kind: 'error', text: t('twofa.wrong') }, 400);
  if (action === 'codes') return render(c, undefined, 200, { kind: 'codes', codes: await newRecoveryCodes(c.env, accountId) });
  await removeSecondFactor(c.env.DB, accountId);
  await recordAudit(c.env.DB, { actor: 'customer', action: 'account.two_factor_off', target: accountId });
  return render(c, { kind: 'ok', text: t('twofa.turned_off') });
});

settings.post('/unlink', async (c) => {
  const { t } = pageOf(c);
  const { accountId } = c.var.session!;
  const provider = z.string().max(20).catch('').parse((await c.req.parseBody()).provider);
  if (!(await deleteIdentity(c.env.DB, accountId, provider))) return render(c, { kind: 'error', text: t('methods.last') }, 400);
  await recordAudit(c.env.DB, { actor: 'customer', action: 'account.unlink', target: accountId, detail: { provider } });
  return render(c, { kind: 'ok', text: t('methods.unlinked') });
});

settings.post('/sign-out-everywhere', async (c) => {
  await deleteAccountSessions(c.env.DB, c.var.session!.accountId);
  deleteCookie(c, CUSTOMER_COOKIE, { path: '/' });
  return c.redirect('/login', 303);
});
