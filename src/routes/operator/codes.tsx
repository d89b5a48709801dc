import { Hono, type Context } from 'hono';
import * as act from '../../admin/actions';
import type { AppEnv } from '../../context';
import { csv } from '../../pages/csv';
import { usdOf, when } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { parse } from '../../validate';
import { attempt, formFields } from '../forms';

/** /operator/codes: create a batch (the codes shown this once, with a CSV of them), list, disable. */
export const codesPage = new Hono<AppEnv>();

type Created = Awaited<ReturnType<typeof act.createCodeBatch>>;

const CSV_COLUMNS = ['id', 'code', 'amount', 'expires_at', 'note'] as const;

function NewCodes(props: { codes: Created }) {
  // The CSV is in the page itself: the codes are not kept, so no later download could have them.
  const file = csv(CSV_COLUMNS, props.codes);
  return (
    <div class="notice ok" role="status">
      <p>{props.codes.length} codes created. They are shown only this once: download or copy them now.</p>
      <p>
        <a class="button" download="redemption-codes.csv" href={`data:text/csv;charset=utf-8,${encodeURIComponent(file)}`}>Download CSV</a>{' '}
        <button type="button" class="secondary" data-copy="new-codes">Copy</button>
      </p>
      <pre id="new-codes" aria-label="New codes">{props.codes.map((k) => k.code).join('\n')}</pre>
    </div>
  );
}

async function render(c: Context<AppEnv>, shown: { created?: Created; notice?: { kind: 'ok' | 'error'; text: string } } = {}, status: 200 | 201 | 400 = 200) {
  const codes = await act.codesList(c.env, 200);
  return c.html(
    <Layout page={pageOf(c)} title="Redemption codes" operator>
      <h1>Redemption codes</h1>
      {shown.notice && <Notice kind={shown.notice.kind}>{shown.notice.text}</Notice>}
      {shown.created && <NewCodes codes={shown.created} />}
      <section class="card">
        <h2>Create a batch</h2>
        <form class="grid-form" method="post" action="/operator/codes">
          <label>Count<input name="count" type="number" required min={1} max={1000} step={1} inputmode="numeric" /></label>
          <label>Amount<input name="amount" type="number" required min={0.000001} step="0.000001" inputmode="decimal" /></label>
          <label>Expires (end of the UTC day)<input name="expires_on" type="date" /></label>
          <label>Note<input name="note" maxlength={500} /></label>
          <button type="submit">Create codes</button>
        </form>
      </section>
      <h2>Latest codes</h2>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Id</th><th scope="col" class="num">Amount</th><th scope="col">State</th><th scope="col">Note</th>
            <th scope="col">Expires</th><th scope="col">Redeemed by</th><th scope="col">Created</th><th scope="col"></th></tr></thead>
          <tbody>
            {codes.length === 0 && <tr><td colspan={8} class="muted">No codes yet.</td></tr>}
            {codes.map((k) => (
              <tr>
                <td><code>{k.id}</code></td><td class="num">{usdOf(k.amount)}</td><td>{k.state}</td><td class="muted">{k.note ?? ''}</td>
                <td>{k.expires_at ? when(k.expires_at) : '—'}</td>
                <td>{k.redeemed_by ? <><a href={`/operator/accounts/${k.redeemed_by}`}>{k.redeemed_by}</a> {when(k.redeemed_at!)}</> : '—'}</td>
                <td>{when(k.created_at)}</td>
                <td>{k.state === 'unused' && (
                  <form method="post" action="/operator/codes/disable"><input type="hidden" name="id" value={k.id} />
                    <button type="submit" class="danger" aria-label={`Disable ${k.id}`}>Disable</button></form>
                )}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>,
    status,
  );
}

codesPage.get('/', (c) => render(c));

codesPage.post('/', async (c) => {
  const done = await attempt(async () => {
    const { expires_on, ...fields } = await formFields(c, { numbers: ['count', 'amount'] });
    const expiresAt = typeof expires_on === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(expires_on) ? `${expires_on}T23:59:59.999Z` : expires_on;
    return act.createCodeBatch(c.env, c.var.operator!.actor, parse(act.CodeBatchSchema, { ...fields, expires_at: expiresAt }));
  });
  return done.ok ? render(c, { created: done.value }, 201) : render(c, { notice: { kind: 'error', text: done.message } }, 400);
});

codesPage.post('/disable', async (c) => {
  const done = await attempt(async () => {
    const id = String((await formFields(c)).id ?? '');
    await act.disableCode(c.env, c.var.operator!.actor, id);
    return id;
  });
  return render(c, { notice: done.ok ? { kind: 'ok', text: `${done.value} is disabled.` } : { kind: 'error', text: done.message } }, done.ok ? 200 : 400);
});
