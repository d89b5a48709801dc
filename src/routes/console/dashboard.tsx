import { Hono } from 'hono';
import { accountState } from '../../account/client';
import type { AppEnv } from '../../context';
import { getAccount } from '../../db/accounts';
import { dailyByModel, spentSince, utcDay } from '../../db/usage-daily';
import { UsageChart } from '../../pages/chart';
import { usd } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { resendVerification } from '../identity';

export const dashboard = new Hono<AppEnv>();

dashboard.post('/verify-email', async (c) => {
  const account = await getAccount(c.env.DB, c.var.session!.accountId);
  const result = account && !account.email_verified_at ? await resendVerification(c, account) : 'sent';
  return c.redirect(`/console?verify=${result}`, 303);
});

const DAYS = 30;

dashboard.get('/', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const { accountId } = c.var.session!;
  const state = accountState(c.env, accountId);
  // Charges still in the account's object reach the daily totals first (a no-op when none).
  await state.flushNow(accountId);
  const nowMs = Date.now();
  const days = Array.from({ length: DAYS }, (_, i) => utcDay(nowMs - (DAYS - 1 - i) * 86_400_000));
  const [balance, today, month, totals] = await Promise.all([
    state.balance(accountId),
    spentSince(c.env.DB, accountId, utcDay(nowMs)),
    spentSince(c.env.DB, accountId, `${utcDay(nowMs).slice(0, 7)}-01`),
    dailyByModel(c.env.DB, accountId, days[0]!),
  ]);
  const topup = c.req.query('topup');
  const account = await getAccount(c.env.DB, accountId);
  const verify = c.req.query('verify');
  return c.html(
    <Layout page={page} title={t('dash.title')} signedIn>
      <h1>{t('dash.title')}</h1>
      {topup === 'success' && <Notice kind="ok">{t('dash.topup.success')}</Notice>}
      {topup === 'cancelled' && <Notice kind="error">{t('dash.topup.cancelled')}</Notice>}
      {account && !account.email_verified_at && (
        <section class="card">
          <p>{t('verify.banner', { email: account.email })}</p>
          {verify === 'sent' && <Notice kind="ok">{t('verify.sent', { email: account.email })}</Notice>}
          {verify === 'unsent' && <Notice kind="error">{t('verify.unsent')}</Notice>}
          {verify === 'throttled' && <Notice kind="error">{t('forgot.throttled', { minutes: 60 })}</Notice>}
          <form method="post" action="/console/verify-email"><button type="submit" class="secondary">{t('verify.resend')}</button></form>
        </section>
      )}
      <div class="grid">
        <section class="card stat"><div class="label" id="balance-label">{t('dash.balance')}</div>
          <div class="value" aria-labelledby="balance-label" role="status">{usd(balance)}</div></section>
        <section class="card stat"><div class="label">{t('dash.today')}</div><div class="value">{usd(today.cost)}</div></section>
        <section class="card stat"><div class="label">{t('dash.month')}</div><div class="value">{usd(month.cost)}</div></section>
        <section class="card stat"><div class="label">{t('dash.requests')}</div><div class="value">{month.requests.toLocaleString('en-US')}</div></section>
      </div>
      <section class="card">
        <h2>{t('dash.chart')}</h2>
        {totals.length === 0 && <p class="muted">{t('dash.empty')}</p>}
        <UsageChart label={t('dash.chart')} costLabel={t('dash.cost')} tokensLabel={t('dash.tokens')} days={days} totals={totals} />
      </section>
    </Layout>,
  );
});
