import { Hono, type Context } from 'hono';
import * as act from '../../admin/actions';
import { resealAll, vaultState } from '../../admin/provider-keys';
import type { AppEnv } from '../../context';
import { CHANNEL_AUTHS } from '../../db/catalog';
import type { ProbeResult } from '../../proxy/probe';
import { count, percent, when } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { parse } from '../../validate';
import { attempt, formFields } from '../forms';

/** /operator/channels: every upstream with its health; add, edit, enable, disable and test. */
export const channelsPage = new Hono<AppEnv>();

function ChannelForm(props: { channel?: act.ChannelView }) {
  const ch = props.channel;
  return (
    <form class="grid-form" method="post" action="/operator/channels">
      {ch ? <input type="hidden" name="id" value={ch.id} /> : <label>Channel id<input name="id" required maxlength={100} /></label>}
      <label>Kind
        <select name="kind">{act.CHANNEL_KINDS.map((k) => <option value={k} selected={ch?.kind === k}>{k}</option>)}</select>
      </label>
      <label>Base URL<input name="base_url" maxlength={2000} value={ch?.base_url ?? ''} placeholder="https://api.openai.com/v1" /></label>
      <label>Key secret name (or leave empty and add keys)<input name="api_key_secret" maxlength={200} value={ch?.api_key_secret ?? ''} placeholder="OPENAI_API_KEY" /></label>
      <label>Key sent as
        <select name="auth">
          <option value="" selected={!ch?.auth}>the kind's own way</option>
          {CHANNEL_AUTHS.map((a) => <option value={a} selected={ch?.auth === a}>{a === 'bearer' ? 'Authorization: Bearer' : a}</option>)}
        </select>
      </label>
      <label>Query parameters (one per line: name = value)
        <textarea name="query" rows={2} placeholder="api-version = 2024-10-21">{ch?.query ? Object.entries(ch.query).map(([k, v]) => `${k} = ${v}`).join('\n') : ''}</textarea>
      </label>
      <label class="wide">Models (one per line: public-id = upstream-id)
        <textarea name="models" required rows={4}>{ch ? Object.entries(ch.models).map(([k, v]) => (k === v ? k : `${k} = ${v}`)).join('\n') : ''}</textarea>
      </label>
      <label>Priority<input name="priority" type="number" step={1} value={ch?.priority ?? 0} /></label>
      <label>Weight<input name="weight" type="number" min={0} max={1000} step={1} value={ch?.weight ?? 1} /></label>
      <label class="check"><input type="checkbox" name="enabled" checked={ch?.enabled ?? true} /> Enabled</label>
      <label class="check"><input type="checkbox" name="responses" checked={ch?.responses ?? true} /> Has the Responses API</label>
      <button type="submit">Save channel</button>
    </form>
  );
}

function TestResult(props: { id: string; result: ProbeResult }) {
  const r = props.result;
  return (
    <Notice kind={r.ok ? 'ok' : 'error'}>
      <strong>Test of {props.id}</strong> ({r.model}): {r.ok ? 'answered' : 'failed'} · status {r.status} · {r.latency_ms} ms
      {r.usage && ` · ${count(r.usage.input_tokens)} input tokens, ${count(r.usage.output_tokens)} output tokens`}
      {r.error && ` · ${r.error}`}
    </Notice>
  );
}

async function render(c: Context<AppEnv>, shown: { notice?: { kind: 'ok' | 'error'; text: string }; test?: { id: string; result: ProbeResult } } = {}, status: 200 | 400 = 200) {
  const [channels, vault] = await Promise.all([act.channelsList(c.env), vaultState(c.env)]);
  const editing = channels.find((ch) => ch.id === c.req.query('edit'));
  return c.html(
    <Layout page={pageOf(c)} title="Channels" operator>
      <h1>Channels</h1>
      {shown.notice && <Notice kind={shown.notice.kind}>{shown.notice.text}</Notice>}
      {shown.test && <TestResult id={shown.test.id} result={shown.test.result} />}
      <p class="muted">Health is what the gateway's isolates saw in the last 15 minutes of real traffic. "Test" sends one tiny request ("Say OK.", at most 16 tokens) to the channel's first model; nobody is charged.</p>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Channel</th><th scope="col">Kind</th><th scope="col">Models</th><th scope="col" class="num">Priority</th>
            <th scope="col" class="num">Weight</th><th scope="col">State</th><th scope="col" class="num">Success rate</th>
            <th scope="col" class="num">Latency</th><th scope="col"></th></tr></thead>
          <tbody>
            {channels.length === 0 && <tr><td colspan={9} class="muted">No channels yet.</td></tr>}
            {channels.map((ch) => (
              <tr>
                <td><code>{ch.id}</code><div class="muted small url">{ch.kind === 'echo' ? 'built in' : ch.base_url}</div></td>
                <td>{ch.kind}</td><td class="wrap short">{Object.keys(ch.models).join(', ')}</td>
                <td class="num">{ch.priority}</td><td class="num">{ch.weight}</td>
                <td>{ch.enabled ? ch.health.state : 'disabled'}
                  {ch.health.cool_down_until && <div class="muted small">until {when(ch.health.cool_down_until!)}</div>}</td>
                <td class="num">{percent(ch.health.recent.success_rate)}<div class="muted small">{count(ch.health.recent.attempts)} attempts</div></td>
                <td class="num">{ch.health.recent.latency_ms === null ? '—' : `${ch.health.recent.latency_ms} ms`}</td>
                <td><div class="actions">
                  <form method="post" action="/operator/channels/test"><input type="hidden" name="id" value={ch.id} />
                    <button type="submit" class="secondary" aria-label={`Test ${ch.id}`}>Test</button></form>
                  <form method="post" action="/operator/channels/enabled"><input type="hidden" name="id" value={ch.id} />
                    <input type="hidden" name="enabled" value={ch.enabled ? 'false' : 'true'} />
                    <button type="submit" class={ch.enabled ? 'danger' : ''} aria-label={`${ch.enabled ? 'Disable' : 'Enable'} ${ch.id}`}>{ch.enabled ? 'Disable' : 'Enable'}</button></form>
                  <a href={`/operator/channels?edit=${encodeURIComponent(ch.id)}#edit`} aria-label={`Edit ${ch.id}`}>Edit</a>
                  {ch.kind !== 'echo' && <a href={`/operator/channels/${encodeURIComponent(ch.id)}/keys`} aria-label={`Keys of ${ch.id}`}>Keys</a>}
                </div></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <section class="card" id="edit">
        <h2>{editing ? `Edit ${editing.id}` : 'Add a channel'}</h2>
        <ChannelForm channel={editing} />
        <p class="muted">A channel's keys are pasted on its Keys page, stored encrypted and shown only as their last four characters; or the channel names a Worker secret (in <code>.dev.vars</code> locally, <code>wrangler secret put</code> in production) holding one key. Azure OpenAI: kind openai, the deployment's URL as base URL, key sent as <code>api-key</code>, query <code>api-version = …</code>.</p>
        {editing && <p><a href="/operator/channels">Add a new channel instead</a></p>}
      </section>
      <section class="card">
        <h2>Key encryption</h2>
        {vault.configured ? (
          <>
            <p>Provider keys are sealed under <code>{vault.kek_id}</code>, the first entry of the <code>PROVIDER_KEYS_KEK</code> secret ({count(vault.keys)} stored).</p>
            {vault.stale > 0 && (
              <form class="spaced" method="post" action="/operator/channels/reseal">
                <p>{count(vault.stale)} {vault.stale === 1 ? 'key is' : 'keys are'} sealed under an older entry: reseal them, then the old entry can be dropped.</p>
                <button type="submit">Reseal every key</button>
              </form>
            )}
          </>
        ) : (
          <p>{vault.problem}</p>
        )}
      </section>
    </Layout>,
    status,
  );
}

const idOf = async (c: Context<AppEnv>) => parse(act.channelId, (await formFields(c)).id);

channelsPage.get('/', (c) => render(c));

channelsPage.post('/', async (c) => {
  const done = await attempt(async () => {
    const { id, ...fields } = await formFields(c, { numbers: ['priority', 'weight'], booleans: ['enabled', 'responses'], maps: ['models', 'query'] });
    return act.putChannel(c.env, c.var.operator!.actor, parse(act.channelId, id), parse(act.ChannelSchema, { base_url: '', ...fields }));
  });
  if (!done.ok) return render(c, { notice: { kind: 'error', text: done.message } }, 400);
  return render(c, { notice: { kind: done.value.warnings.length ? 'error' : 'ok', text: [`Saved ${done.value.id}.`, ...done.value.warnings].join(' ') } });
});

/** Enable or disable: the channel as it is, with `enabled` changed, through the same save. */
channelsPage.post('/enabled', async (c) => {
  const done = await attempt(async () => {
    const fields = await formFields(c);
    const { id, updated_at: _at, ...channel } = await act.channelById(c.env, parse(act.channelId, fields.id));
    return act.putChannel(c.env, c.var.operator!.actor, id, parse(act.ChannelSchema, { ...channel, enabled: fields.enabled === 'true' }));
  });
  if (!done.ok) return render(c, { notice: { kind: 'error', text: done.message } }, 400);
  return render(c, { notice: { kind: 'ok', text: `${done.value.id} is ${done.value.enabled ? 'enabled' : 'disabled'}.` } });
});

channelsPage.post('/test', async (c) => {
  const done = await attempt(async () => {
    const id = await idOf(c);
    return { id, result: await act.testChannel(c.env, c.var.operator!.actor, id) };
  });
  if (!done.ok) return render(c, { notice: { kind: 'error', text: done.message } }, 400);
  return render(c, { test: done.value });
});

channelsPage.post('/reseal', async (c) => {
  const done = await attempt(() => resealAll(c.env, c.var.operator!.actor));
  if (!done.ok) return render(c, { notice: { kind: 'error', text: done.message } }, 400);
  return render(c, { notice: { kind: 'ok', text: `Resealed ${done.value.resealed} ${done.value.resealed === 1 ? 'key' : 'keys'} under ${done.value.kek_id}.` } });
});
