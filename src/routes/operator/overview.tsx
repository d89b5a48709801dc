import { Hono } from 'hono';
import { auditLog } from '../../admin/actions';
import { errorRate, meanLatency, overview, PeriodSchema, PERIODS, type Period } from '../../admin/overview';
import type { AppEnv } from '../../context';
import type { Totals } from '../../db/overview';
import { UsageChart } from '../../pages/chart';
import { count, percent, usd, when } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { config } from '../../config';

/** /operator: revenue, spend, requests, tokens and errors for a period, by time, model and
 *  channel, and the latest changes operators made. */
export const overviewPage = new Hono<AppEnv>();

const PERIOD_NAMES: Record<Period, string> = { '24h': '24 hours', '7d': '7 days', '30d': '30 days' };

function Breakdown(props: { caption: string; rows: Array<Totals & { name: string }>; empty: string }) {
  return (
    <div class="table-wrap">
      <table>
        <caption>{props.caption}</caption>
        <thead><tr>
          <th scope="col">Name</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Error rate</th>
          <th scope="col" class="num">Tokens</th><th scope="col" class="num">Spend</th><th scope="col" class="num">Mean latency</th>
        </tr></thead>
        <tbody>
          {props.rows.length === 0 && <tr><td colspan={6} class="muted">{props.empty}</td></tr>}
          {props.rows.map((r) => (
            <tr>
              <td>{r.name || '(none reached)'}</td><td class="num">{count(r.requests)}</td><td class="num">{percent(errorRate(r))}</td>
              <td class="num">{count(r.tokens)}</td><td class="num">{usd(r.cost)}</td>
              <td class="num">{meanLatency(r) === null ? '—' : `${meanLatency(r)} ms`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** An audit row's detail as "field: value" pairs, which wrap where JSON would not. */
const detailText = (detail: Record<string, unknown>) =>
  Object.entries(detail).map(([k, v]) => `${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`).join(' · ');

overviewPage.get('/', async (c) => {
  const period = PeriodSchema.catch('7d').parse(c.req.query('period'));
  const [o, changes] = await Promise.all([overview(c.env, period), auditLog(c.env, 20)]);
  const hourly = o.bucket === 'hour';
  // The chart shows every bucket; the table only those with something in them, newest first.
  const active = o.byBucket.filter((b) => b.requests > 0 || b.revenue !== 0).reverse();
  const stat = (label: string, value: string, id = `stat-${label.toLowerCase().replace(/ /g, '-')}`) => (
    <section class="card stat" aria-labelledby={id}>
      <div class="label" id={id}>{label}</div><div class="value">{value}</div>
    </section>
  );
  return c.html(
    <Layout page={pageOf(c)} title="Overview" operator>
      <h1>Overview</h1>
      <nav aria-label="Period" class="tabs">
        {PERIODS.map((p) => <a href={`/operator?period=${p}`} aria-current={p === period ? 'page' : undefined}>{PERIOD_NAMES[p]}</a>)}
      </nav>
      <div class="grid stats" aria-label={`Totals for the last ${PERIOD_NAMES[period]}`}>
        {stat('Revenue', usd(o.totals.revenue))}
        {stat('Spend', usd(o.totals.cost))}
        {stat('Requests', count(o.totals.requests))}
        {stat('Tokens', count(o.totals.tokens))}
        {stat('Error rate', percent(errorRate(o.totals)))}
      </div>
      {o.totals.capped > 0 && (
        <Notice kind="error">
          {count(o.totals.capped)} {o.totals.capped === 1 ? 'request was' : 'requests were'} charged less than its provider reported: the charge
          stops at what the request was held for, so {usd(o.totals.uncharged)} went unbilled. A per-item bound a provider outgrew, or an upstream
          ignoring the output cap: see the Usage page (the capped rows), and the <code>charge_capped_at_hold</code> lines of the log.
        </Notice>
      )}
      <p class="muted">
        Revenue is Stripe top-ups less refunds and lost disputes. Spend is what customers' requests were charged.
        Figures come from the totals each account flushes within {config(c.env).FLUSH_DELAY_SECONDS + 3} seconds of its requests; times are UTC.
      </p>
      <section class="card">
        <h2>Spend and tokens by {hourly ? 'hour' : 'day'}</h2>
        <UsageChart label={`Spend by ${hourly ? 'hour' : 'day'}`} costLabel="Spend" tokensLabel="Tokens" days={o.byBucket.map((b) => b.bucket)}
          totals={o.chart.map((r) => ({ day: r.bucket, model: r.model, cost: r.cost, tokens: r.tokens }))}
          tick={hourly ? (h) => `${h.slice(11)}:00` : undefined} />
      </section>
      <Breakdown caption="By model" rows={o.byModel} empty="No requests in this period." />
      <Breakdown caption="By channel" rows={o.byChannel} empty="No requests in this period." />
      <div class="table-wrap">
        <table>
          <caption>By {hourly ? 'hour' : 'day'}</caption>
          <thead><tr>
            <th scope="col">{hourly ? 'Hour' : 'Day'}</th><th scope="col" class="num">Revenue</th><th scope="col" class="num">Spend</th>
            <th scope="col" class="num">Requests</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Error rate</th>
          </tr></thead>
          <tbody>
            {active.length === 0 && <tr><td colspan={6} class="muted">No requests or payments in this period.</td></tr>}
            {active.map((b) => (
              <tr>
                <td>{hourly ? `${b.bucket.slice(0, 10)} ${b.bucket.slice(11)}:00` : b.bucket}</td><td class="num">{usd(b.revenue)}</td>
                <td class="num">{usd(b.cost)}</td><td class="num">{count(b.requests)}</td><td class="num">{count(b.tokens)}</td>
                <td class="num">{percent(errorRate(b))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Recent changes</h2>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Time</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Detail</th></tr></thead>
          <tbody>
            {changes.length === 0 && <tr><td colspan={5} class="muted">No changes yet.</td></tr>}
            {changes.map((r) => (
              <tr><td>{when(r.at)}</td><td>{r.actor}</td><td>{r.action}</td><td><code>{r.target}</code></td>
                <td class="muted wrap">{r.detail ? detailText(r.detail) : ''}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>,
  );
});
