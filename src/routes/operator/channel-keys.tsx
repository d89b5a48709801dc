import { Hono, type Context } from 'hono';
import { z } from 'zod';
import * as act from '../../admin/actions';
import * as keys from '../../admin/provider-keys';
import type { AppEnv } from '../../context';
import { count, percent, when } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { parse } from '../../validate';
import { attempt, formFields } from '../forms';

/**
 * /operator/channels/{id}/keys: a channel's provider keys — pasted many at once, stored
 * encrypted, shown only as their last four characters with their state and how their calls
 * went; tested, enabled, disabled, deleted — and "Fetch models", which lists what the
 * upstream offers for the channel to serve.
 */
export const channelKeysPage = new Hono<AppEnv>();

type Shown = { notice?: { kind: 'ok' | 'error'; text: string }; offered?: string[] };

function KeyRow(props: { k: keys.KeyView; channel: string }) {
  const { k } = props;
  const post = (action: string, label: string, fields: Record<string, string> = {}, cls = 'secondary') => (
    <form method="post" action={`/operator/channels/${encodeURIComponent(props.channel)}/keys/${action}`}>
      <input type="hidden" name="key" value={k.id} />
      {Object.entries(fields).map(([name, value]) => <input type="hidden" name={name} value={value} />)}
      <button type="submit" class={cls} aria-label={`${label} ${k.key}`}>{label}</button>
    </form>
  );
  return (
    <tr>
      <td><code>{k.key}</code></td>
      <td>{k.state}
        {k.state === 'disabled' && k.disabled_reason && <div class="muted small wrap">{k.disabled_reason}{k.disabled_at && `, ${when(k.disabled_at)}`}</div>}
        {k.state === 'cooling' && k.cooling_until && <div class="muted small">until {when(k.cooling_until)}</div>}</td>
      <td class="num">{k.weight}</td>
      <td class="num">{percent(k.recent.success_rate)}<div class="muted small">{count(k.recent.attempts)} {k.recent.attempts === 1 ? 'call' : 'calls'}</div></td>
      <td>{k.last_used ? when(k.last_used) : '—'}</td>
      <td class="wrap short">{k.last_error ?? '—'}</td>
      <td><div class="actions">
        {post('test', 'Test')}
        {k.state === 'disabled' ? post('enabled', 'Enable', { enabled: 'true' }, '') : post('enabled', 'Disable', { enabled: 'false' }, 'danger')}
        {post('delete', 'Delete', {}, 'danger')}
      </div></td>
    </tr>
  );
}

async function render(c: Context<AppEnv>, shown: Shown = {}, status: 200 | 400 = 200) {
  const channel = await act.channelById(c.env, parse(act.channelId, c.req.param('id')));
  const list = await keys.keysOfChannel(c.env, channel.id);
  const base = `/operator/channels/${encodeURIComponent(channel.id)}`;
  return c.html(
    <Layout page={pageOf(c)} title={`Keys of ${channel.id}`} operator>
      <h1>Keys of {channel.id}</h1>
      <p><a href="/operator/channels">All channels</a></p>
      {shown.notice && <Notice kind={shown.notice.kind}>{shown.notice.text}</Notice>}
      <p class="muted">
        Requests spread over the enabled keys by weight. A key its upstream refuses (401 or 403) is disabled by itself, with the reason; a
        rate-limited key rests for the time the upstream asks. Keys are stored encrypted and never shown again; only their last four characters.
        {channel.api_key_secret && ` With no enabled key here, the channel uses the secret ${channel.api_key_secret}.`}
      </p>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Key</th><th scope="col">State</th><th scope="col" class="num">Weight</th><th scope="col" class="num">Success rate</th>
            <th scope="col">Last used</th><th scope="col">Last error</th><th scope="col"></th></tr></thead>
          <tbody>
            {list.length === 0 && <tr><td colspan={7} class="muted">No keys yet.</td></tr>}
            {list.map((k) => <KeyRow k={k} channel={channel.id} />)}
          </tbody>
        </table>
      </div>
      {list.some((k) => k.state === 'disabled') && (
        <form class="spaced" method="post" action={`${base}/keys/delete-disabled`}><button type="submit" class="danger">Delete disabled keys</button></form>
      )}
      <section class="card">
        <h2>Add keys</h2>
        <form class="grid-form" method="post" action={`${base}/keys`}>
          <label class="wide">Keys (one per line)<textarea name="keys" rows={4} required autocomplete="off" spellcheck={false}></textarea></label>
          <label>Weight<input name="weight" type="number" min={1} max={1000} step={1} value={1} /></label>
          <button type="submit">Add keys</button>
        </form>
      </section>
      <section class="card">
        <h2>Models the upstream offers</h2>
        <form method="post" action={`${base}/keys/fetch-models`}><button type="submit" class="secondary">Fetch models</button></form>
        {shown.offered && (
          <form class="stack" method="post" action={`${base}/keys/serve-models`}>
            <fieldset>
              <legend>Serve these as (public id = upstream id; change the public id to map it)</legend>
              {shown.offered.map((id) => (
                <label class="check"><input type="checkbox" name="serve" value={id} checked={id in channel.models} />
                  <span>{id}</span><input name={`as:${id}`} aria-label={`Public id for ${id}`} value={Object.entries(channel.models).find(([, up]) => up === id)?.[0] ?? id} /></label>
              ))}
            </fieldset>
            <button type="submit">Serve selected models</button>
          </form>
        )}
        <p class="muted">Serving a model also needs its price (Models page).</p>
      </section>
    </Layout>,
    status,
  );
}

const keyField = async (c: Context<AppEnv>) => parse(z.string().min(1).max(100), (await formFields(c)).key);
const actor = (c: Context<AppEnv>) => c.var.operator!.actor;
const failed = (c: Context<AppEnv>, message: string) => render(c, { notice: { kind: 'error', text: message } }, 400);

/** What each change says once done (by a fixed key in the URL: no text is taken from it). */
const DONE = {
  added: 'Keys added: the next request may use them.', enabled: 'Key enabled.', disabled: 'Key disabled.', deleted: 'Key deleted.',
  'deleted-disabled': 'Disabled keys deleted.', served: 'The channel serves the selected models.',
} as const;

channelKeysPage.get('/:id/keys', (c) => {
  const done = z.enum(Object.keys(DONE) as [keyof typeof DONE]).optional().catch(undefined).parse(c.req.query('done'));
  return render(c, done && { notice: { kind: 'ok', text: DONE[done] } });
});

/** A change: made, then back to the page saying so — a reload does not make it twice
 *  (pasting the same keys again would add them again). */
function change(path: string, action: (c: Context<AppEnv>) => Promise<keyof typeof DONE>) {
  channelKeysPage.post(`/:id/keys${path}`, async (c) => {
    const r = await attempt(() => action(c));
    if (!r.ok) return failed(c, r.message);
    return c.redirect(`/operator/channels/${encodeURIComponent(c.req.param('id'))}/keys?done=${r.value}`, 303);
  });
}

change('', async (c) => {
  await keys.addKeys(c.env, actor(c), c.req.param('id')!, parse(keys.AddKeysSchema, await formFields(c, { numbers: ['weight'] })));
  return 'added';
});

change('/enabled', async (c) => {
  const k = await keys.changeKey(c.env, actor(c), await keyField(c), { enabled: (await formFields(c)).enabled === 'true' });
  return k.state === 'disabled' ? 'disabled' : 'enabled';
});

change('/delete', async (c) => {
  await keys.removeKey(c.env, actor(c), await keyField(c));
  return 'deleted';
});

change('/delete-disabled', async (c) => {
  await keys.removeDisabledKeys(c.env, actor(c), c.req.param('id')!);
  return 'deleted-disabled';
});

/** The checked models join the channel's (public id as given, upstream id as listed). */
change('/serve-models', async (c) => {
  const body = await c.req.parseBody({ all: true });
  const serve = ([] as unknown[]).concat(body.serve ?? []).filter((v): v is string => typeof v === 'string');
  const { id, updated_at: _at, ...channel } = await act.channelById(c.env, parse(act.channelId, c.req.param('id')));
  const models = { ...channel.models };
  for (const upstream of serve) {
    const alias = body[`as:${upstream}`];
    models[typeof alias === 'string' && alias.trim() ? alias.trim() : upstream] = upstream;
  }
  await act.putChannel(c.env, actor(c), id, parse(act.ChannelSchema, { ...channel, models }));
  return 'served';
});

/** Testing and fetching are safe to repeat: their results are the page itself. */
channelKeysPage.post('/:id/keys/test', async (c) => {
  const r = await attempt(async () => keys.testKey(c.env, actor(c), await keyField(c)));
  if (!r.ok) return failed(c, r.message);
  const t = r.value;
  return render(c, { notice: { kind: t.ok ? 'ok' : 'error', text: `Test: ${t.ok ? 'answered' : 'failed'} · status ${t.status} · ${t.latency_ms} ms${t.error ? ` · ${t.error}` : ''}${t.ok && t.enabled ? ' · enabled' : ''}` } });
});

channelKeysPage.post('/:id/keys/fetch-models', async (c) => {
  const r = await attempt(() => act.discoverModels(c.env, c.req.param('id')));
  return r.ok ? render(c, { offered: r.value }) : failed(c, r.message);
});
