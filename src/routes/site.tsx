import { Hono } from 'hono';
import { config } from '../config';
import type { AppEnv } from '../context';
import { getAccount } from '../db/accounts';
import { imagePrices } from '../billing/units';
import { priceList, type ModelRow } from '../db/catalog';
import { ERRORS } from '../errors';
import { perMillion, usd } from '../pages/format';
import { Layout, pageOf, type Page } from '../pages/layout';
import { currentSession, CUSTOMER_SESSION } from '../auth/session';

/** The public pages: home, pricing (per the visitor's group) and this deployment's API docs. */
export const site = new Hono<AppEnv>();

async function signedInGroup(c: Parameters<typeof currentSession>[0]): Promise<{ signedIn: boolean; group: string }> {
  const session = await currentSession(c, CUSTOMER_SESSION);
  const account = session?.accountId ? await getAccount(c.env.DB, session.accountId) : null;
  return { signedIn: account !== null, group: account?.group_name ?? 'default' };
}

site.get('/', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const { signedIn } = await signedInGroup(c);
  const credit = config(c.env).SIGNUP_CREDIT;
  return c.html(
    <Layout page={page} title={page.site} signedIn={signedIn}>
      <section class="hero">
        <h1>{t('home.title')}</h1>
        <p>{t('home.lead')}</p>
        {credit > 0 && <p>{t('home.trial', { credit: usd(credit) })}</p>}
        <p>
          <a class="button" href={signedIn ? '/console' : '/signup'}>{signedIn ? t('nav.dashboard') : t('home.cta')}</a>{' '}
          <a class="button secondary" href="/docs">{t('nav.docs')}</a>
        </p>
      </section>
      <div class="grid">
        {(['home.f1', 'home.f2', 'home.f3'] as const).map((k) => (
          <section class="card"><h2>{t(k)}</h2><p>{t(`${k}.text`)}</p></section>
        ))}
      </div>
    </Layout>,
  );
});

/** A model's prices in the units of the image, audio and moderation APIs, a line each. */
function otherUnits(m: ModelRow, t: Page['t']): string[] {
  const pair = (a: number | null, b: number | null) => `${perMillion(a)} / ${perMillion(b)}`;
  return [
    ...Object.entries(imagePrices(m)).map(([key, micros]) => `${usd(micros)} ${t('pricing.perImage')} (${key.replace('/', ', ')})`),
    ...(m.character_price === null ? [] : [`${usd(m.character_price)} ${t('pricing.perChars')}`]),
    ...(m.audio_minute_price === null ? [] : [`${usd(m.audio_minute_price)} ${t('pricing.perMinute')}`]),
    ...(m.image_input_price === null && m.image_output_price === null ? [] : [`${t('pricing.imageTokens')}: ${pair(m.image_input_price, m.image_output_price)}`]),
    ...(m.audio_input_price === null && m.audio_output_price === null ? [] : [`${t('pricing.audioTokens')}: ${pair(m.audio_input_price, m.audio_output_price)}`]),
  ];
}

site.get('/pricing', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const { signedIn, group } = await signedInGroup(c);
  const models = await priceList(c.env.DB, group);
  return c.html(
    <Layout page={page} title={t('pricing.title')} signedIn={signedIn}>
      <h1>{t('pricing.title')}</h1>
      <p class="muted">{t('pricing.lead')}</p>
      {models.length === 0 ? <p>{t('pricing.none')}</p> : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr><th scope="col">{t('pricing.model')}</th><th scope="col" class="num">{t('pricing.input')}</th>
                <th scope="col" class="num">{t('pricing.cached')}</th><th scope="col" class="num">{t('pricing.cacheWrite')}</th>
                <th scope="col" class="num">{t('pricing.output')}</th><th scope="col">{t('pricing.units')}</th></tr>
            </thead>
            <tbody>
              {models.map((m) => (
                <tr><td><code>{m.id}</code></td><td class="num">{perMillion(m.input_price)}</td>
                  <td class="num">{perMillion(m.cached_input_price)}</td><td class="num">{perMillion(m.cache_write_price)}</td>
                  <td class="num">{perMillion(m.output_price)}</td><td class="small">{otherUnits(m, t).map((line) => <div>{line}</div>)}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>,
  );
});

site.get('/docs', async (c) => {
  const page = pageOf(c);
  const { t } = page;
  const { signedIn } = await signedInGroup(c);
  const origin = config(c.env).PUBLIC_URL.replace(/\/$/, '');
  const base = `${origin}/v1`;
  return c.html(
    <Layout page={page} title={t('docs.title')} signedIn={signedIn}>
      <h1>{t('docs.title')}</h1>
      <p>This is an OpenAI-compatible API, and an Anthropic-compatible one. Base URL: <code>{base}</code>. Create a key under
        {' '}<a href="/console/keys">API keys</a>, and send it as <code>Authorization: Bearer sk-…</code> (or <code>x-api-key: sk-…</code>).
        Every call is paid from your balance at the prices on the <a href="/pricing">pricing page</a>; a call that fails costs nothing.</p>

      <h2 id="curl">Quick start: curl</h2>
      <pre>{`curl ${base}/chat/completions \\
  -H "Authorization: Bearer $API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "MODEL", "messages": [{"role": "user", "content": "Hello!"}]}'`}</pre>

      <h2 id="python">Python</h2>
      <pre>{`from openai import OpenAI

client = OpenAI(base_url="${base}", api_key="sk-...")
reply = client.chat.completions.create(model="MODEL", messages=[{"role": "user", "content": "Hello!"}])
print(reply.choices[0].message.content)`}</pre>

      <h2 id="node">Node</h2>
      <pre>{`import OpenAI from 'openai';

const client = new OpenAI({ baseURL: '${base}', apiKey: process.env.API_KEY });
const reply = await client.chat.completions.create({ model: 'MODEL', messages: [{ role: 'user', content: 'Hello!' }] });
console.log(reply.choices[0].message.content);`}</pre>

      <h2 id="streaming">Streaming</h2>
      <p>Set <code>"stream": true</code>: the answer arrives as server-sent events, ending with <code>data: [DONE]</code>. Add
        {' '}<code>"stream_options": {'{"include_usage": true}'}</code> for a last chunk with the token counts. A stream you close early is
        charged for what was generated until then.</p>
      <pre>{`stream = client.chat.completions.create(model="MODEL", messages=[...], stream=True)
for chunk in stream:
    print(chunk.choices[0].delta.content or "", end="")`}</pre>

      <h2 id="claude-code">Claude Code and the Anthropic SDKs</h2>
      <pre>{`export ANTHROPIC_BASE_URL=${origin}
export ANTHROPIC_AUTH_TOKEN=sk-...`}</pre>

      <h2 id="routes">Routes</h2>
      <div class="table-wrap"><table>
        <thead><tr><th scope="col">Route</th><th scope="col">What it does</th></tr></thead>
        <tbody>
          <tr><td><code>POST /v1/chat/completions</code></td><td>Chat completions, streamed or not</td></tr>
          <tr><td><code>POST /v1/responses</code></td><td>OpenAI's Responses API (the Vercel AI SDK, Codex), streamed or not</td></tr>
          <tr><td><code>POST /v1/messages</code></td><td>Anthropic's Messages API (Claude Code, the Anthropic SDKs), streamed or not; <code>/v1/messages/count_tokens</code></td></tr>
          <tr><td><code>POST /v1/embeddings</code></td><td>Embeddings, billed on input tokens</td></tr>
          <tr><td><code>GET /v1/models</code></td><td>The models your key may use (<a href="/pricing">prices</a>)</td></tr>
          <tr><td><code>GET /v1/usage?limit=</code></td><td>Your recent requests: tokens, cost, status, latency</td></tr>
          <tr><td><code>GET /v1/billing/balance</code></td><td>What you can spend now, in USD</td></tr>
          <tr><td><code>POST /v1/billing/checkout</code></td><td><code>{'{"amount": 10}'}</code> → a Stripe Checkout link to top up</td></tr>
          <tr><td><code>POST /v1/billing/redeem</code></td><td><code>{'{"code": "…"}'}</code> → redeems a redemption code</td></tr>
        </tbody>
      </table></div>

      <h2 id="errors">Errors</h2>
      <p>Errors are JSON: <code>{'{"error": {"message", "type", "param", "code"}}'}</code>, with the status below. Every answer
        carries an <code>x-request-id</code>, also shown in your logs.</p>
      <div class="table-wrap"><table>
        <thead><tr><th scope="col">Status</th><th scope="col">Type</th><th scope="col">Code</th></tr></thead>
        <tbody>
          {Object.entries(ERRORS).map(([code, e]) => <tr><td>{e.status}</td><td><code>{e.type}</code></td><td><code>{code}</code></td></tr>)}
        </tbody>
      </table></div>
    </Layout>,
  );
});
