import { Hono, type Context } from 'hono';
import { issueKey, NewKeySchema, revokeKeyEverywhere } from '../../auth/api-keys';
import type { AppEnv } from '../../context';
import { getAccount } from '../../db/accounts';
import { listKeys } from '../../db/keys';
import { ApiError } from '../../errors';
import { usd, when } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { attempt, readForm } from '../forms';

/** /console/keys: create (the secret shown in that one answer), list by prefix, revoke. */
export const keys = new Hono<AppEnv>();

async function render(c: Context<AppEnv>, shown: { key?: string; error?: string } = {}, status: 200 | 201 | 400 = 200) {
  const page = pageOf(c);
  const { t } = page;
  const rows = await listKeys(c.env.DB, c.var.session!.accountId);
  return c.html(
    <Layout page={page} title={t('keys.title')} signedIn>
      <h1>{t('keys.title')}</h1>
      {shown.error && <Notice kind="error">{shown.error}</Notice>}
      {shown.key && (
        <div class="notice ok" role="status">
          <p>{t('keys.new')}</p>
          <code class="secret" id="new-key">{shown.key}</code>{' '}
          <button type="button" class="secondary" data-copy="new-key" data-copied={t('keys.copied')}>{t('keys.copy')}</button>
        </div>
      )}
      <section class="card">
        <h2>{t('keys.create')}</h2>
        <form class="inline" method="post" action="/console/keys">
          <label>{t('keys.name')}<input name="name" required maxlength={200} /></label>
          <label>{t('keys.rpm')}<input name="rpm" type="number" min={1} step={1} inputmode="numeric" /></label>
          <label>{t('keys.tpm')}<input name="tpm" type="number" min={1} step={1} inputmode="numeric" /></label>
          <label>{t('keys.models')}<input name="models" /></label>
          <label>{t('keys.spend')}<input name="spend_limit" type="number" min={0} step="0.01" inputmode="decimal" /></label>
          <button type="submit">{t('keys.create')}</button>
        </form>
      </section>
      {rows.length === 0 ? <p>{t('keys.none')}</p> : (
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">{t('keys.name')}</th><th scope="col">{t('keys.prefix')}</th><th scope="col">{t('keys.limits')}</th>
              <th scope="col">{t('keys.created')}</th><th scope="col">{t('keys.status')}</th><th scope="col"></th></tr></thead>
            <tbody>
              {rows.map((k) => (
                <tr>
                  <td>{k.name}</td>
                  <td><code>{k.prefix}…</code></td>
                  <td class="muted">{[
                    k.rpm && `${k.rpm} rpm`, k.tpm && `${k.tpm} tpm`, k.spend_limit !== null && `≤ ${usd(k.spend_limit)}`,
                    k.models && (JSON.parse(k.models) as string[]).join(', '),
                  ].filter(Boolean).join(' · ') || '—'}</td>
                  <td>{when(k.created_at)}</td>
                  <td>{k.revoked_at ? t('keys.revoked') : t('keys.active')}</td>
                  <td>{!k.revoked_at && (
                    <form method="post" action={`/console/keys/${k.id}/revoke`} data-confirm={`${t('keys.revoke')} ${k.name}?`}>
                      <button type="submit" class="danger">{t('keys.revoke')}</button>
                    </form>
                  )}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>,
    status,
  );
}

keys.get('/', (c) => render(c));

keys.post('/', async (c) => {
  const done = await attempt(async () => {
    // Keys wait for a verified address (README, "Accounts").
    if (!(await getAccount(c.env.DB, c.var.session!.accountId))?.email_verified_at) throw new ApiError('forbidden', pageOf(c).t('keys.unverified'));
    return issueKey(c.env, c.var.session!.accountId, await readForm(c, NewKeySchema, { numbers: ['rpm', 'tpm', 'spend_limit'], lists: ['models'] }));
  });
  return done.ok ? render(c, { key: done.value.key }, 201) : render(c, { error: done.message }, 400);
});

keys.post('/:id/revoke', async (c) => {
  // Only a key of the signed-in account: another account's key id changes nothing.
  await revokeKeyEverywhere(c.env, c.req.param('id'), c.var.session!.accountId);
  return c.redirect('/console/keys', 303);
});
