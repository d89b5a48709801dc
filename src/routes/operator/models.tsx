import { Hono, type Context } from 'hono';
import * as act from '../../admin/actions';
import { modelId } from '../../auth/api-keys';
import type { AppEnv } from '../../context';
import { usdOf } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { parse } from '../../validate';
import { attempt, formFields } from '../forms';

/** /operator/models: every model's prices, groups and channels; a form to add or edit one. */
export const modelsPage = new Hono<AppEnv>();

type Model = Awaited<ReturnType<typeof act.modelsList>>[number];

const price = (dollars: number | null) => (dollars === null ? '—' : usdOf(dollars));

/** A model's prices in the units of the image, audio and moderation APIs, a line each. */
const otherUnits = (m: Model): string[] => [
  ...Object.entries(m.image_prices ?? {}).map(([key, dollars]) => `${usdOf(dollars)} / image (${key})`),
  ...(m.character_price === null ? [] : [`${usdOf(m.character_price)} / 1M characters`]),
  ...(m.audio_minute_price === null ? [] : [`${usdOf(m.audio_minute_price)} / minute${m.max_audio_seconds ? `, at most ${m.max_audio_seconds} s` : ''}`]),
  ...(m.image_input_price === null && m.image_output_price === null ? [] : [`image tokens ${price(m.image_input_price)} / ${price(m.image_output_price)}`]),
  ...(m.audio_input_price === null && m.audio_output_price === null ? [] : [`audio tokens ${price(m.audio_input_price)} / ${price(m.audio_output_price)}`]),
];

function ModelForm(props: { model?: Model }) {
  const m = props.model;
  const field = (label: string, name: string, value: number | null | undefined, required = false) => (
    <label>{label}<input name={name} type="number" min={0} step="0.000001" inputmode="decimal" required={required} value={value ?? ''} /></label>
  );
  return (
    <form class="grid-form" method="post" action="/operator/models">
      {m ? <input type="hidden" name="id" value={m.id} /> : <label>Model id<input name="id" required maxlength={200} /></label>}
      {field('Input price', 'input_price', m?.input_price, true)}
      {field('Cached input price', 'cached_input_price', m?.cached_input_price)}
      {field('Cache write price', 'cache_write_price', m?.cache_write_price)}
      {field('Output price', 'output_price', m?.output_price, true)}
      <label>Output cap (tokens)<input name="max_output_tokens" type="number" min={1} step={1} inputmode="numeric" value={m?.max_output_tokens ?? ''} /></label>
      <label class="wide">Per image, by size and quality (one per line: size[/quality] = price; * for any)
        <textarea name="image_prices" rows={3} placeholder={'1024x1024 = 0.04\n1024x1024/hd = 0.08\n* = 0.25'}>
          {m?.image_prices ? Object.entries(m.image_prices).map(([k, v]) => `${k} = ${v}`).join('\n') : ''}</textarea>
      </label>
      {field('Per 1M characters (speech, moderation)', 'character_price', m?.character_price)}
      {field('Per minute of audio (transcription)', 'audio_minute_price', m?.audio_minute_price)}
      <label>Longest audio (seconds)<input name="max_audio_seconds" type="number" min={1} step={1} inputmode="numeric" value={m?.max_audio_seconds ?? ''} /></label>
      {field('Image input tokens', 'image_input_price', m?.image_input_price)}
      {field('Image output tokens', 'image_output_price', m?.image_output_price)}
      {field('Audio input tokens', 'audio_input_price', m?.audio_input_price)}
      {field('Audio output tokens', 'audio_output_price', m?.audio_output_price)}
      <label>Groups<input name="groups" value={m?.groups?.join(', ') ?? ''} placeholder="every group" /></label>
      <label>Owned by<input name="owned_by" maxlength={100} value={m?.owned_by ?? ''} placeholder="tokengate" /></label>
      <button type="submit">Save prices</button>
    </form>
  );
}

async function render(c: Context<AppEnv>, notice?: { kind: 'ok' | 'error'; text: string }, status: 200 | 400 = 200) {
  const models = await act.modelsList(c.env);
  const editing = models.find((m) => m.id === c.req.query('edit'));
  const seconds = act.catalogPropagationSeconds(c.env);
  return c.html(
    <Layout page={pageOf(c)} title="Models" operator>
      <h1>Models and prices</h1>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      <p class="muted">Prices are USD per 1M tokens, and for OpenAI's image, audio and moderation APIs per image, per 1M characters or per minute (README, "Images, audio and moderations"). A change applies at once on this isolate and within {seconds} seconds everywhere (each isolate's cached catalog).</p>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Model</th><th scope="col" class="num">Input</th><th scope="col" class="num">Cached input</th>
            <th scope="col" class="num">Cache write</th><th scope="col" class="num">Output</th><th scope="col" class="num">Output cap</th>
            <th scope="col">Other units</th><th scope="col">Groups</th><th scope="col">Channels</th><th scope="col"></th></tr></thead>
          <tbody>
            {models.length === 0 && <tr><td colspan={10} class="muted">No models yet.</td></tr>}
            {models.map((m) => (
              <tr>
                <td><code>{m.id}</code></td><td class="num">{price(m.input_price)}</td><td class="num">{price(m.cached_input_price)}</td>
                <td class="num">{price(m.cache_write_price)}</td><td class="num">{price(m.output_price)}</td>
                <td class="num">{m.max_output_tokens ?? '—'}</td><td class="small">{otherUnits(m).map((line) => <div>{line}</div>)}</td>
                <td>{m.groups?.join(', ') ?? 'every group'}</td>
                <td>{m.channels.length === 0 ? <span class="bad">none</span>
                  : m.channels.map((ch, i) => <>{i > 0 && ', '}<a href={`/operator/channels?edit=${encodeURIComponent(ch.id)}`}>{ch.id}</a>{!ch.enabled && ' (disabled)'}</>)}</td>
                <td><a href={`/operator/models?edit=${encodeURIComponent(m.id)}#edit`} aria-label={`Edit ${m.id}`}>Edit</a></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <section class="card" id="edit">
        <h2>{editing ? `Edit ${editing.id}` : 'Add a model'}</h2>
        <ModelForm model={editing} />
        {editing && <p><a href="/operator/models">Add a new model instead</a></p>}
      </section>
    </Layout>,
    status,
  );
}

modelsPage.get('/', (c) => render(c));

modelsPage.post('/', async (c) => {
  const done = await attempt(async () => {
    const { id, image_prices: images, ...fields } = await formFields(c, {
      numbers: ['input_price', 'output_price', 'cached_input_price', 'cache_write_price', 'max_output_tokens', 'character_price', 'audio_minute_price',
        'max_audio_seconds', 'image_input_price', 'image_output_price', 'audio_input_price', 'audio_output_price'],
      lists: ['groups'],
      maps: ['image_prices'],
    });
    const model = parse(modelId.trim(), typeof id === 'string' ? id : '');
    const image_prices = images && Object.fromEntries(Object.entries(images as Record<string, string>).map(([k, v]) => [k, Number(v)]));
    return act.putModel(c.env, c.var.operator!.actor, model, parse(act.ModelSchema, { ...fields, image_prices }));
  });
  if (!done.ok) return render(c, { kind: 'error', text: done.message }, 400);
  return render(c, { kind: 'ok', text: `Saved ${done.value.id}: ${usdOf(done.value.input_price)} in, ${usdOf(done.value.output_price)} out per 1M tokens.` });
});
