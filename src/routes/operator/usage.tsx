import { Hono, type Context } from 'hono';
import * as act from '../../admin/actions';
import type { AppEnv } from '../../context';
import { csv, csvHeaders } from '../../pages/csv';
import { count, measuredAs, usdOf, when } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { parse } from '../../validate';
import { attempt } from '../forms';

/** /operator/usage: request rows across accounts, filtered, and as CSV (the admin API's GET /admin/usage). */
export const usagePage = new Hono<AppEnv>();

const SHOWN = 200;
const CSV_MAX = 10_000;
const CSV_COLUMNS = [
  'request_id', 'created_at', 'account_id', 'key_id', 'key_name', 'model', 'channel', 'input_tokens', 'output_tokens', 'cached_tokens',
  'cache_write_tokens', 'unit', 'quantity', 'cost', 'reported_cost', 'capped', 'status', 'latency_ms', 'first_byte_ms', 'estimated',
] as const;

/** The filters from the query string, as GET /admin/usage takes them. */
function queryOf(c: Context<AppEnv>, limit: number): act.UsageQuery {
  const params = Object.fromEntries([...new URL(c.req.url).searchParams].filter(([k, v]) => v !== '' && k !== 'limit'));
  return parse(act.UsageQuerySchema, { ...params, limit });
}

usagePage.get('/usage', async (c) => {
  const params = new URL(c.req.url).searchParams;
  const value = (k: string) => params.get(k) ?? '';
  const [found, channels] = await Promise.all([
    attempt(async () => act.usageAcross(c.env, queryOf(c, SHOWN))),
    act.channelsList(c.env),
  ]);
  const rows = found.ok ? found.value : [];
  return c.html(
    <Layout page={pageOf(c)} title="Usage" operator>
      <h1>Usage</h1>
      {!found.ok && <Notice kind="error">{found.message}</Notice>}
      <form class="inline card" method="get" action="/operator/usage">
        <label>Account<input name="account" value={value('account')} placeholder="id or email" /></label>
        <label>Key<input name="key" value={value('key')} placeholder="key id" /></label>
        <label>Model<input name="model" value={value('model')} /></label>
        <label>Channel
          <select name="channel"><option value="">any</option>{channels.map((ch) => <option value={ch.id} selected={value('channel') === ch.id}>{ch.id}</option>)}</select>
        </label>
        <label>Status
          <select name="status"><option value="">any</option>{act.STATUSES.map((s) => <option value={s} selected={value('status') === s}>{s}</option>)}</select>
        </label>
        <label>From<input name="from" type="date" value={value('from')} /></label>
        <label>To<input name="to" type="date" value={value('to')} /></label>
        <button type="submit">Filter</button>
        <a class="button secondary" href={`/operator/usage.csv?${params.toString()}`}>Export CSV</a>
      </form>
      <p class="muted">
        The newest {SHOWN} rows{value('account') ? '' : ` of the ${act.ACROSS_ACCOUNTS_MAX} accounts most active in the period (the last two days without a date)`}; the CSV has up to {count(CSV_MAX)}.
      </p>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Time</th><th scope="col">Account</th><th scope="col">Key</th><th scope="col">Model</th><th scope="col">Channel</th>
            <th scope="col" class="num">Input tokens</th><th scope="col" class="num">Output tokens</th><th scope="col" class="num">Cost</th>
            <th scope="col">Status</th><th scope="col" class="num">Latency</th></tr></thead>
          <tbody>
            {rows.length === 0 && <tr><td colspan={10} class="muted">No requests match.</td></tr>}
            {rows.map((r) => (
              <tr>
                <td>{when(r.created_at)}</td><td><a href={`/operator/accounts/${r.account_id}`}><code>{r.account_id}</code></a></td>
                <td>{r.key_name}</td><td>{r.model}{measuredAs(r) && <div class="muted small">{measuredAs(r)}</div>}</td><td>{r.channel ?? '—'}</td><td class="num">{count(r.input_tokens)}</td>
                <td class="num">{count(r.output_tokens)}</td>
                <td class="num">{usdOf(r.cost)}{r.capped && <><br /><small class="muted">capped at the hold; reported {usdOf(r.reported_cost)}</small></>}</td>
                <td>{r.status}</td><td class="num">{`${r.latency_ms} ms`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>,
  );
});

usagePage.get('/usage.csv', async (c) => {
  const rows = await act.usageAcross(c.env, queryOf(c, CSV_MAX));
  return c.body(csv(CSV_COLUMNS, rows), 200, csvHeaders('usage-all-accounts.csv'));
});
