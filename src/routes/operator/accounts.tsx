import { Hono, type Context } from 'hono';
import { z } from 'zod';
import * as act from '../../admin/actions';
import { accountState } from '../../account/client';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../auth/password';
import type { AppEnv } from '../../context';
import { hasSecondFactor } from '../../db/second-factors';
import { count, measuredAs, usd, usdOf, when } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { LedgerRows } from '../../pages/ledger';
import { attempt, formFields, readForm } from '../forms';
import { parse } from '../../validate';

/** /operator/accounts: search, and one account's page (balance, keys, usage, ledger) with
 *  its changes: credit, group, suspension, password, key revocation. */
export const accountsPage = new Hono<AppEnv>();

accountsPage.get('/', async (c) => {
  const q = z.string().trim().max(254).catch('').parse(c.req.query('q') ?? '');
  const accounts = await act.findAccounts(c.env, q || undefined, 50);
  return c.html(
    <Layout page={pageOf(c)} title="Accounts" operator>
      <h1>Accounts</h1>
      <form class="inline card" method="get" action="/operator/accounts" role="search">
        <label>Search<input name="q" type="search" value={q} placeholder="email, its beginning, or an account id" /></label>
        <button type="submit">Search</button>
      </form>
      <p class="muted">{q ? `${accounts.length} found for “${q}”.` : 'The newest accounts.'}</p>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Email</th><th scope="col">Id</th><th scope="col">Group</th><th scope="col" class="num">Balance</th>
            <th scope="col">Status</th><th scope="col">Created</th></tr></thead>
          <tbody>
            {accounts.length === 0 && <tr><td colspan={6} class="muted">No accounts.</td></tr>}
            {accounts.map((a) => (
              <tr><td><a href={`/operator/accounts/${a.id}`}>{a.email}</a></td><td><code>{a.id}</code></td><td>{a.group}</td>
                <td class="num">{usdOf(a.balance)}</td><td>{a.suspended ? 'suspended' : 'active'}</td><td>{when(a.created_at)}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>,
  );
});

/** What each action says once done (by a fixed key in the URL: no text is taken from it). */
const DONE = {
  credit: 'Credit adjusted.', group: 'Group changed.', suspended: 'Account suspended: its keys now answer 403.',
  resumed: 'Account resumed.', password: 'Password set.', revoked: 'Key revoked.', verified: 'Email verified.',
  two_factor: 'Two-factor sign-in turned off, and every session ended.',
} as const;

async function render(c: Context<AppEnv>, id: string, notice?: { kind: 'ok' | 'error'; text: string }, status: 200 | 400 = 200) {
  const account = await act.accountById(c.env, id);
  const [keys, ledger, usage, twoFactor] = await Promise.all([
    act.keysOf(c.env, id), act.ledgerOf(c.env, id, 50), accountState(c.env, id).usage(id, 20), hasSecondFactor(c.env.DB, id),
  ]);
  return c.html(
    <Layout page={pageOf(c)} title={account.email} operator>
      <p><a href="/operator/accounts">← Accounts</a></p>
      <h1>{account.email}</h1>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      <div class="grid stats">
        <section class="card stat"><div class="label" id="balance-label">Balance</div>
          <div class="value" aria-labelledby="balance-label" role="status">{usdOf(account.balance)}</div></section>
        <section class="card stat"><div class="label">Group</div><div class="value">{account.group}</div></section>
        <section class="card stat"><div class="label">Status</div><div class="value">{account.suspended ? 'Suspended' : 'Active'}</div></section>
      </div>
      <p class="muted">Id <code>{account.id}</code> · {account.name ?? 'no name'} · created {when(account.created_at)} ·
        {account.email_verified ? ' email verified' : ' email not verified'}</p>
      {!account.email_verified && (
        <form class="spaced" method="post" action={`/operator/accounts/${id}/verify-email`}>
          <button type="submit" class="secondary">Verify email</button>
          <span class="muted small"> Vouch for the address: keys can be made, and the trial credit is granted if it never was.</span>
        </form>
      )}
      {twoFactor && (
        <form class="spaced" method="post" action={`/operator/accounts/${id}/two-factor-reset`}>
          <button type="submit" class="danger">Turn off two-factor</button>
          <span class="muted small"> For a customer who lost their authenticator and recovery codes: they sign in with their password alone.</span>
        </form>
      )}
      <div class="grid">
        <section class="card">
          <h2>Adjust credit</h2>
          <form class="stack" method="post" action={`/operator/accounts/${id}/credit`}>
            <label>Amount<input name="amount" type="number" required step="0.000001" inputmode="decimal" /></label>
            <label>Reason<input name="reason" required maxlength={500} /></label>
            <button type="submit">Adjust credit</button>
          </form>
          <p class="muted">A negative amount takes credit away, never below zero; the ledger records it as an adjustment.</p>
        </section>
        <section class="card">
          <h2>Group and access</h2>
          <form class="inline" method="post" action={`/operator/accounts/${id}/group`}>
            <label>Group<input name="group" required maxlength={64} value={account.group} /></label>
            <button type="submit" class="secondary">Change group</button>
          </form>
          <form method="post" action={`/operator/accounts/${id}/${account.suspended ? 'resume' : 'suspend'}`} class="spaced">
            {account.suspended ? <button type="submit">Resume</button> : <button type="submit" class="danger">Suspend</button>}
          </form>
          <form class="inline" method="post" action={`/operator/accounts/${id}/password`}>
            <label>New password<input name="password" type="password" required minlength={PASSWORD_MIN} maxlength={PASSWORD_MAX} autocomplete="new-password" /></label>
            <button type="submit" class="secondary">Set password</button>
          </form>
        </section>
      </div>
      <h2>Keys</h2>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Created</th><th scope="col">Status</th><th scope="col"></th></tr></thead>
          <tbody>
            {keys.length === 0 && <tr><td colspan={5} class="muted">No keys.</td></tr>}
            {keys.map((k) => (
              <tr><td>{k.name}</td><td><code>{k.prefix}…</code></td><td>{when(k.created_at)}</td><td>{k.revoked_at ? 'revoked' : 'active'}</td>
                <td>{!k.revoked_at && (
                  <form method="post" action={`/operator/accounts/${id}/keys/${k.id}/revoke`}><button type="submit" class="danger">Revoke</button></form>
                )}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Recent usage</h2>
      <p><a href={`/operator/usage?account=${id}`}>All of this account's usage →</a></p>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Time</th><th scope="col">Model</th><th scope="col">Key</th><th scope="col">Channel</th>
            <th scope="col" class="num">Input tokens</th><th scope="col" class="num">Output tokens</th><th scope="col" class="num">Cost</th><th scope="col">Status</th></tr></thead>
          <tbody>
            {usage.length === 0 && <tr><td colspan={8} class="muted">No requests yet.</td></tr>}
            {usage.map((r) => (
              <tr><td>{when(r.created_at)}</td><td>{r.model}{measuredAs(r) && <div class="muted small">{measuredAs(r)}</div>}</td><td>{r.key_name}</td><td>{r.channel ?? '—'}</td><td class="num">{count(r.input_tokens)}</td>
                <td class="num">{count(r.output_tokens)}</td><td class="num">{usd(r.cost)}</td><td>{r.status}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Ledger</h2>
      <div class="table-wrap">
        <table aria-label="Ledger">
          <thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col" class="num">Change</th><th scope="col" class="num">Balance after</th>
            <th scope="col">Reason</th></tr></thead>
          <tbody>
            <LedgerRows rows={ledger} money={usdOf} />
          </tbody>
        </table>
      </div>
    </Layout>,
    status,
  );
}

const accountId = (c: Context<AppEnv>) => parse(z.string().min(1).max(100), c.req.param('id'));

accountsPage.get('/:id', async (c) => {
  const done = z.enum(Object.keys(DONE) as [keyof typeof DONE]).optional().catch(undefined).parse(c.req.query('done'));
  return render(c, accountId(c), done && { kind: 'ok', text: DONE[done] });
});

/** A change to the account: made by the shared action, then back to its page saying so. */
function change(path: string, done: keyof typeof DONE, action: (c: Context<AppEnv>, id: string, actor: string) => Promise<unknown>) {
  accountsPage.post(`/:id/${path}`, async (c) => {
    const id = accountId(c);
    const result = await attempt(() => action(c, id, c.var.operator!.actor));
    if (!result.ok) return render(c, id, { kind: 'error', text: result.message }, 400);
    return c.redirect(`/operator/accounts/${id}?done=${done}`, 303);
  });
}

change('credit', 'credit', async (c, id, actor) => act.adjustCredit(c.env, actor, id, await readForm(c, act.CreditSchema, { numbers: ['amount'] })));
change('group', 'group', async (c, id, actor) => act.changeAccount(c.env, actor, id, parse(act.AccountChangeSchema, { group: (await formFields(c)).group })));
change('verify-email', 'verified', (c, id, actor) => act.verifyEmail(c.env, actor, id));
change('two-factor-reset', 'two_factor', (c, id, actor) => act.resetTwoFactor(c.env, actor, id));
change('suspend', 'suspended', (c, id, actor) => act.changeAccount(c.env, actor, id, { suspended: true }));
change('resume', 'resumed', (c, id, actor) => act.changeAccount(c.env, actor, id, { suspended: false }));
change('password', 'password', async (c, id, actor) =>
  act.changeAccount(c.env, actor, id, parse(act.AccountChangeSchema, { password: (await c.req.parseBody()).password })));
change('keys/:key/revoke', 'revoked', async (c, _id, actor) => act.revokeKey(c.env, actor, c.req.param('key')!));
