import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { accountState } from '../../account/client';
import type { UsageFilter, UsageRow } from '../../account/storage';
import type { AppEnv } from '../../context';
import { listKeys } from '../../db/keys';
import { toDollars } from '../../money';
import { csv, csvHeaders } from '../../pages/csv';
import { count, usd, when } from '../../pages/format';
import { Layout, pageOf } from '../../pages/layout';

/** /console/logs: the account's usage rows (from its object), filtered, paged, as CSV. */
export const logs = new Hono<AppEnv>();

const PAGE = 50;
const CSV_MAX = 10_000;
const STATUSES = ['success', 'failed', 'cancelled', 'timeout'] as const;
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).refine((d) => !Number.isNaN(Date.parse(d)));

const Query = z.object({
  key: z.string().max(100).optional().catch(undefined),
  model: z.string().max(200).optional().catch(undefined),
  status: z.enum(STATUSES).optional().catch(undefined),
  from: day.optional().catch(undefined),
  to: day.optional().catch(undefined),
  before: z.coerce.number().int().positive().optional().catch(undefined),
});
type Query = z.infer<typeof Query>;

function filterOf(q: Query, limit: number): UsageFilter {
  const nextDay = (d: string) => new Date(Date.parse(d) + 86_400_000).toISOString();
  return {
    limit, before: q.before ?? null, keyId: q.key || null, model: q.model || null, status: q.status ?? null,
    from: q.from ? new Date(Date.parse(q.from)).toISOString() : null, to: q.to ? nextDay(q.to) : null,
  };
}

const queryOf = (c: Context<AppEnv>) => Query.parse(Object.fromEntries(new URL(c.req.url).searchParams));

logs.get('/logs', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const { accountId } = c.var.session!;
  const q = queryOf(c);
  const [{ rows, next }, keyRows] = await Promise.all([
    accountState(c.env, accountId).findUsage(accountId, filterOf(q, PAGE)),
    listKeys(c.env.DB, accountId),
  ]);
  const params = (extra: Record<string, string | number | undefined>) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...q, ...extra })) if (v !== undefined && v !== '') p.set(k, String(v));
    return p.toString();
  };
  return c.html(
    <Layout page={page} title={t('logs.title')} signedIn>
      <h1>{t('logs.title')}</h1>
      <form class="inline card" method="get" action="/console/logs">
        <label>{t('logs.key')}
          <select name="key">
            <option value="">{t('logs.any')}</option>
            {keyRows.map((k) => <option value={k.id} selected={q.key === k.id}>{`${k.name} (${k.prefix}…)`}</option>)}
          </select>
        </label>
        <label>{t('logs.model')}<input name="model" value={q.model ?? ''} /></label>
        <label>{t('logs.status')}
          <select name="status">
            <option value="">{t('logs.any')}</option>
            {STATUSES.map((s) => <option value={s} selected={q.status === s}>{s}</option>)}
          </select>
        </label>
        <label>{t('logs.from')}<input name="from" type="date" value={q.from ?? ''} /></label>
        <label>{t('logs.to')}<input name="to" type="date" value={q.to ?? ''} /></label>
        <button type="submit">{t('logs.filter')}</button>
        <a class="button secondary" href={`/console/logs.csv?${params({ before: undefined })}`}>{t('logs.csv')}</a>
      </form>
      {rows.length === 0 ? <p>{t('logs.none')}</p> : (
        <div class="table-wrap">
          <table>
            <thead><tr>
              <th scope="col">{t('logs.time')}</th><th scope="col">{t('logs.model')}</th><th scope="col">{t('logs.key')}</th>
              <th scope="col" class="num">{t('logs.input')}</th><th scope="col" class="num">{t('logs.output')}</th>
              <th scope="col" class="num">{t('logs.cost')}</th><th scope="col">{t('logs.status')}</th><th scope="col" class="num">{t('logs.latency')}</th>
            </tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr>
                  <td>{when(r.created_at)}</td>
                  <td>{r.model}{r.unit !== 'tokens' && r.quantity !== null && <div class="muted small">{`${count(r.quantity)} ${t(`logs.unit.${r.unit}`)}`}</div>}</td>
                  <td>{r.key_name}</td>
                  <td class="num">{r.input_tokens}</td><td class="num">{r.output_tokens}</td><td class="num">{usd(r.cost)}</td>
                  <td>{r.status}</td><td class="num">{`${r.latency_ms} ms`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p>
        {q.before !== undefined && <><a href={`/console/logs?${params({ before: undefined })}`}>{t('logs.first')}</a>{' '}</>}
        {next !== null && <a href={`/console/logs?${params({ before: next })}`}>{t('logs.next')} →</a>}
      </p>
    </Layout>,
  );
});

const CSV_COLUMNS = [
  'request_id', 'created_at', 'key_name', 'model', 'channel', 'input_tokens', 'output_tokens', 'cached_tokens', 'cache_write_tokens', 'unit', 'quantity', 'cost', 'status',
  'latency_ms', 'first_byte_ms', 'estimated',
] as const satisfies readonly (keyof UsageRow)[];

logs.get('/logs.csv', async (c) => {
  const { accountId } = c.var.session!;
  const { rows } = await accountState(c.env, accountId).findUsage(accountId, filterOf(queryOf(c), CSV_MAX));
  return c.body(csv(CSV_COLUMNS, rows.map((r) => ({ ...r, cost: toDollars(r.cost) }))), 200, csvHeaders('usage.csv'));
});
