import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { accountState } from '../../account/client';
import { startCheckout, topupAmount } from '../../billing/checkout';
import { redeem } from '../../billing/redeem';
import { config } from '../../config';
import type { AppEnv } from '../../context';
import { listLedger } from '../../db/ledger';
import { usd } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { LedgerRows } from '../../pages/ledger';
import { attempt, readForm } from '../forms';

/** /console/wallet: balance, the ledger's history, a Stripe top-up and a redemption code. */
export const wallet = new Hono<AppEnv>();

async function render(c: Context<AppEnv>, notice?: { kind: 'ok' | 'error'; text: string }, status: 200 | 400 | 429 = 200) {
  const page = pageOf(c);
  const { t } = page;
  const cfg = config(c.env);
  const { accountId } = c.var.session!;
  const state = accountState(c.env, accountId);
  await state.flushNow(accountId);
  const [balance, ledger] = await Promise.all([state.balance(accountId), listLedger(c.env.DB, accountId, 100)]);
  return c.html(
    <Layout page={page} title={t('wallet.title')} signedIn>
      <h1>{t('wallet.title')}</h1>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      <div class="grid">
        <section class="card stat"><div class="label" id="balance-label">{t('dash.balance')}</div>
          <div class="value" aria-labelledby="balance-label" role="status">{usd(balance)}</div></section>
        <section class="card">
          <h2>{t('wallet.topup')}</h2>
          {cfg.STRIPE_SECRET_KEY ? (
            <form class="inline" method="post" action="/console/wallet/topup">
              <label>{t('wallet.amount')}
                <input name="amount" type="number" required min={cfg.TOPUP_MIN_DOLLARS} max={cfg.TOPUP_MAX_DOLLARS} step="0.01" inputmode="decimal" />
              </label>
              <button type="submit">{t('wallet.topup')}</button>
            </form>
          ) : <p class="muted">{t('wallet.stripe.off')}</p>}
          <p class="muted">{t('wallet.topup.range', { min: cfg.TOPUP_MIN_DOLLARS, max: cfg.TOPUP_MAX_DOLLARS })}</p>
        </section>
        <section class="card">
          <h2>{t('wallet.code')}</h2>
          <form class="inline" method="post" action="/console/wallet/redeem">
            <label>{t('wallet.code')}<input name="code" required maxlength={100} autocomplete="off" /></label>
            <button type="submit">{t('wallet.redeem')}</button>
          </form>
        </section>
      </div>
      <h2>{t('wallet.history')}</h2>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">{t('logs.time')}</th><th scope="col">{t('wallet.kind')}</th><th scope="col" class="num">{t('wallet.change')}</th>
            <th scope="col" class="num">{t('wallet.after')}</th><th scope="col">{t('wallet.note')}</th></tr></thead>
          <tbody>
            <LedgerRows rows={ledger} money={usd} />
          </tbody>
        </table>
      </div>
    </Layout>,
    status,
  );
}

wallet.get('/', (c) => render(c));

wallet.post('/topup', async (c) => {
  const done = await attempt(async () => {
    const { amount } = await readForm(c, z.object({ amount: topupAmount(config(c.env)) }), { numbers: ['amount'] });
    return startCheckout(c.env, c.var.session!.accountId, amount);
  });
  if (!done.ok) return render(c, { kind: 'error', text: done.message }, 400);
  return c.redirect(done.value.url ?? '/console/wallet', 303);
});

wallet.post('/redeem', async (c) => {
  const done = await attempt(async () => {
    const { code } = await readForm(c, z.object({ code: z.string().trim().min(1).max(100) }));
    return redeem(c.env, c.var.session!.accountId, code);
  });
  if (!done.ok) return render(c, { kind: 'error', text: done.message }, 400);
  return render(c, { kind: 'ok', text: pageOf(c).t('wallet.redeemed', { amount: usd(done.value.credited) }) });
});
