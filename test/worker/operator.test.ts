import { env } from 'cloudflare:workers';
import { createExecutionContext } from 'cloudflare:test';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { usageAcross } from '../../src/admin/actions';
import { app } from '../../src/app';
import { costMicros } from '../../src/money';
import { ADMIN_TOKEN, adminCall, balanceOf, call, db, expectLedgerInvariant, flushAccounts, newAccount, newKey, newModel, recordedRequests, unique, usageRow } from './helpers';

/**
 * The operator console (DESIGN.md "Operator console"): ADMIN_TOKEN exchanged for a hashed,
 * HttpOnly session; no page or action without it, from another site, or with a customer's
 * session; sign-in throttled apart from customers'; every action the admin API's own
 * (same effect, same audit log). Driven here by plain form posts; test/e2e/operator.test.ts
 * drives the pages in Chromium.
 */
const ORIGIN = 'http://gateway.test';

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

async function post(path: string, fields: Record<string, string>, opts: { cookie?: string; origin?: string | null; ip?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (opts.origin !== null) headers.origin = opts.origin ?? ORIGIN;
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.ip) headers['cf-connecting-ip'] = opts.ip;
  return call(path, { method: 'POST', body: form(fields), headers, redirect: 'manual' });
}

const page = (path: string, cookie?: string, headers: Record<string, string> = {}) =>
  call(path, { headers: { ...headers, ...(cookie ? { cookie } : {}) }, redirect: 'manual' });

const freshIp = () => `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;

/** Signs in; returns the session cookie ("tg_operator=…") and the raw Set-Cookie. */
async function signIn(token = ADMIN_TOKEN) {
  const res = await post('/operator/login', { token }, { ip: freshIp() });
  expect(res.status).toBe(303);
  const setCookie = res.headers.get('set-cookie')!;
  return { cookie: setCookie.split(';')[0]!, setCookie, location: res.headers.get('location') };
}

const ledgerRows = async (accountId: string) =>
  (await db.prepare('SELECT COUNT(*) AS n FROM ledger WHERE account_id = ?').bind(accountId).first<{ n: number }>())!.n;

const lastAudit = (target: string) =>
  db.prepare('SELECT actor, action, detail FROM audit_log WHERE target = ? ORDER BY id DESC LIMIT 1').bind(target).first<{ actor: string; action: string; detail: string | null }>();

const chat = (key: string, model: string) =>
  call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'hello operator' }] } });

afterAll(flushAccounts);

describe('operator sign-in', () => {
  it('exchanges ADMIN_TOKEN for a hashed HttpOnly session cookie that is not the token', async () => {
    const login = await page('/operator/login');
    expect(login.status).toBe(200);
    const html = await login.text();
    expect(html).toContain('Admin token');
    expect(html).toContain('Sign in');

    const s = await signIn();
    expect(s.location).toBe('/operator');
    expect(s.setCookie).toMatch(/^tg_operator=/);
    expect(s.setCookie).toMatch(/HttpOnly/i);
    expect(s.setCookie).toMatch(/SameSite=Lax/i);
    expect(s.setCookie).toMatch(/Secure/i);
    expect(s.setCookie).not.toContain(ADMIN_TOKEN);
    const token = s.cookie.split('=')[1]!;
    const sessions = await db.prepare('SELECT * FROM sessions WHERE account_id IS NULL').all();
    expect(sessions.results.length).toBeGreaterThan(0);
    expect(JSON.stringify(sessions.results)).not.toContain(token);
    expect(JSON.stringify(sessions.results)).not.toContain(ADMIN_TOKEN);

    const overview = await page('/operator', s.cookie);
    expect(overview.status).toBe(200);
    expect(await overview.text()).toContain('Overview');
  });

  it('ends every operator session when ADMIN_TOKEN changes', async () => {
    const { cookie } = await signIn();
    const underToken = (token: string) => app.fetch(
      new Request(`${ORIGIN}/operator`, { headers: { cookie }, redirect: 'manual' }), { ...env, ADMIN_TOKEN: token }, createExecutionContext(),
    );
    expect((await underToken(ADMIN_TOKEN)).status).toBe(200);
    const rotated = await underToken('a-new-admin-token');
    expect(rotated.status).toBe(303);
    expect(rotated.headers.get('location')).toMatch(/^\/operator\/login/);
  });

  it('refuses a wrong token with no cookie, and signs out for good', async () => {
    const wrong = await post('/operator/login', { token: 'not-the-token' }, { ip: freshIp() });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).toContain('not the admin token');

    const s = await signIn();
    const out = await post('/operator/logout', {}, { cookie: s.cookie });
    expect(out.status).toBe(303);
    expect((await page('/operator', s.cookie)).status).toBe(303);
  });

  it('locks sign-in after 10 failures from one address, the right token included, apart from customer log-ins', async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i++) expect((await post('/operator/login', { token: `wrong-${i}` }, { ip })).status).toBe(401);
    const locked = await post('/operator/login', { token: ADMIN_TOKEN }, { ip });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await locked.text()).toContain('Too many failed sign-ins');
    // Customers' log-in is throttled apart: an email with an account still logs in.
    const account = await newAccount();
    await adminCall('PATCH', `/accounts/${account.id}`, { password: 'a good long password' });
    const customer = await post('/login', { email: account.email, password: 'a good long password' }, { ip });
    expect(customer.status).toBe(303);
    // And a customer email locked out does not lock the operator out.
    const email = `${unique('locked')}@example.com`;
    for (let i = 0; i < 11; i++) await post('/login', { email, password: `wrong-${i}` });
    expect((await post('/login', { email, password: 'x' })).status).toBe(429);
    expect((await post('/operator/login', { token: ADMIN_TOKEN }, { ip: freshIp() })).status).toBe(303);
  });

  it('only sends the operator back to a page of the console after sign-in', async () => {
    const ok = await call('/operator/login?next=%2Foperator%2Fchannels', {
      method: 'POST', body: form({ token: ADMIN_TOKEN }), redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN, 'cf-connecting-ip': freshIp() },
    });
    expect(ok.headers.get('location')).toBe('/operator/channels');
    const evil = await call('/operator/login?next=https%3A%2F%2Fevil.example%2F', {
      method: 'POST', body: form({ token: ADMIN_TOKEN }), redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN, 'cf-connecting-ip': freshIp() },
    });
    expect(evil.headers.get('location')).toBe('/operator');
  });
});

describe('no operator page or action without an operator session', () => {
  const PAGES = ['/operator', '/operator?period=30d', '/operator/accounts', '/operator/accounts/acct_x', '/operator/models', '/operator/channels',
    '/operator/codes', '/operator/usage', '/operator/usage.csv'];

  it('sends every page to sign-in: without a cookie, with the admin token as a bearer, with a customer session', async () => {
    const account = await newAccount();
    await adminCall('PATCH', `/accounts/${account.id}`, { password: 'a good long password' });
    const login = await post('/login', { email: account.email, password: 'a good long password' });
    const customer = login.headers.get('set-cookie')!.split(';')[0]!;
    expect(customer).toMatch(/^tg_session=/);
    const customerToken = customer.split('=')[1]!;
    for (const path of PAGES) {
      for (const [cookie, headers] of [
        [undefined, {}], [undefined, { authorization: `Bearer ${ADMIN_TOKEN}` }], [customer, {}], [`tg_operator=${customerToken}`, {}],
      ] as const) {
        const res = await page(path, cookie, headers);
        expect(res.status, `${path} with ${cookie ?? JSON.stringify(headers)}`).toBe(303);
        expect(res.headers.get('location')).toMatch(/^\/operator\/login\?next=/);
      }
    }
  });

  it('changes nothing for an action without a session, or with a customer session', async () => {
    const account = await newAccount({ credit: 3 });
    await adminCall('PATCH', `/accounts/${account.id}`, { password: 'a good long password' });
    const login = await post('/login', { email: account.email, password: 'a good long password' });
    const customerToken = login.headers.get('set-cookie')!.split(';')[0]!.split('=')[1]!;
    const rows = await ledgerRows(account.id);
    for (const cookie of [undefined, `tg_session=${customerToken}`, `tg_operator=${customerToken}`]) {
      const res = await post(`/operator/accounts/${account.id}/credit`, { amount: '50', reason: 'free money' }, { cookie });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/operator/login?next=%2Foperator');
      expect((await post(`/operator/accounts/${account.id}/suspend`, {}, { cookie })).status).toBe(303);
      expect((await post('/operator/codes', { count: '5', amount: '100' }, { cookie })).status).toBe(303);
    }
    expect(await ledgerRows(account.id)).toBe(rows);
    expect(await balanceOf(account.id)).toBe(3_000_000);
    expect((await adminCall('GET', `/accounts/${account.id}`)).body.suspended).toBe(false);
  });

  it('refuses a signed-in action from another site, or with no Origin (CSRF), changing nothing', async () => {
    const { cookie } = await signIn();
    const account = await newAccount({ credit: 3 });
    for (const origin of ['https://evil.example', null]) {
      const res = await post(`/operator/accounts/${account.id}/credit`, { amount: '50', reason: 'csrf' }, { cookie, origin });
      expect(res.status).toBe(403);
      expect((await post(`/operator/accounts/${account.id}/suspend`, {}, { cookie, origin })).status).toBe(403);
      expect((await post('/operator/logout', {}, { cookie, origin })).status).toBe(403);
    }
    expect(await ledgerRows(account.id)).toBe(1);
    expect((await adminCall('GET', `/accounts/${account.id}`)).body.suspended).toBe(false);
    expect((await page('/operator', cookie)).status).toBe(200);
  });
});

describe("operator actions are the admin API's, and audited", () => {
  it('adjusts credit with a reason (an adjustment row), refuses taking it below zero, and records who did it', async () => {
    const { cookie } = await signIn();
    const account = await newAccount({ credit: 2 });
    const res = await post(`/operator/accounts/${account.id}/credit`, { amount: '1.25', reason: 'goodwill' }, { cookie });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/operator/accounts/${account.id}?done=credit`);
    const shown = await (await page(res.headers.get('location')!, cookie)).text();
    expect(shown).toContain('Credit adjusted.');
    expect(shown).toContain('$3.25');
    expect(shown).toContain('goodwill');
    const { body: ledger } = await adminCall('GET', `/accounts/${account.id}/ledger`);
    expect(ledger.data[0]).toMatchObject({ kind: 'adjustment', amount: 1.25, balance_after: 3.25, reason: 'goodwill' });
    const audit = await lastAudit(account.id);
    expect(audit).toMatchObject({ action: 'account.credit' });
    expect(audit!.actor).toMatch(/^console:[0-9a-f]{12}$/);
    expect(JSON.parse(audit!.detail!)).toEqual({ amount: 1.25, reason: 'goodwill' });

    const below = await post(`/operator/accounts/${account.id}/credit`, { amount: '-10', reason: 'too much' }, { cookie });
    expect(below.status).toBe(400);
    expect(await below.text()).toContain('below zero');
    const empty = await post(`/operator/accounts/${account.id}/credit`, { amount: '5', reason: '' }, { cookie });
    expect(empty.status).toBe(400);
    expect(await empty.text()).toContain('reason');
    expect(await balanceOf(account.id)).toBe(3_250_000);
    await expectLedgerInvariant(account.id);
  });

  it("suspends (the account's keys answer 403 account_suspended) and resumes; changes the group; sets a password", async () => {
    const { cookie } = await signIn();
    const account = await newAccount();
    const key = await newKey(account.id);
    const { model: echo } = await newModel([{ fixture: '', kind: 'echo' }]);
    expect((await chat(key.key, echo)).status).toBe(200);
    expect((await post(`/operator/accounts/${account.id}/suspend`, {}, { cookie })).status).toBe(303);
    const refused = await chat(key.key, echo);
    expect(refused.status).toBe(403);
    expect((await refused.json() as any).error.code).toBe('account_suspended');
    expect(await (await page(`/operator/accounts/${account.id}`, cookie)).text()).toContain('Resume');
    expect((await post(`/operator/accounts/${account.id}/resume`, {}, { cookie })).status).toBe(303);
    expect((await chat(key.key, echo)).status).toBe(200);

    expect((await post(`/operator/accounts/${account.id}/group`, { group: 'vip' }, { cookie })).status).toBe(303);
    expect((await adminCall('GET', `/accounts/${account.id}`)).body.group).toBe('vip');
    const badGroup = await post(`/operator/accounts/${account.id}/group`, { group: 'no spaces allowed' }, { cookie });
    expect(badGroup.status).toBe(400);

    expect((await post(`/operator/accounts/${account.id}/password`, { password: 'set by the operator' }, { cookie })).status).toBe(303);
    expect((await post('/login', { email: account.email, password: 'set by the operator' })).status).toBe(303);
    const audit = await db.prepare('SELECT detail FROM audit_log WHERE target = ? AND action = ?').bind(account.id, 'account.update').all<{ detail: string }>();
    expect(audit.results.map((r) => JSON.parse(r.detail))).toEqual([{ suspended: true }, { suspended: false }, { group: 'vip' }, { password: 'set' }]);
    expect(JSON.stringify(audit.results)).not.toContain('set by the operator');
  });

  it('revokes a key from the account page', async () => {
    const { cookie } = await signIn();
    const account = await newAccount();
    const key = await newKey(account.id);
    const { model: echo } = await newModel([{ fixture: '', kind: 'echo' }]);
    expect((await chat(key.key, echo)).status).toBe(200);
    expect((await post(`/operator/accounts/${account.id}/keys/${key.id}/revoke`, {}, { cookie })).status).toBe(303);
    expect((await chat(key.key, echo)).status).toBe(401);
    expect(await lastAudit(key.id)).toMatchObject({ action: 'key.revoke' });
  });

  it('finds accounts by email prefix or id', async () => {
    const { cookie } = await signIn();
    const account = await newAccount();
    for (const q of [account.email.slice(0, 12), account.id, account.email.toUpperCase()]) {
      const html = await (await page(`/operator/accounts?q=${encodeURIComponent(q)}`, cookie)).text();
      expect(html, q).toContain(`/operator/accounts/${account.id}`);
    }
    const none = await (await page('/operator/accounts?q=nobody-here%40example.com', cookie)).text();
    expect(none).toContain('No accounts.');
  });

  it('edits a price, and the next request is charged at it', async () => {
    const { cookie } = await signIn();
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-gpt-4.1-nano.json' }], { input_price: 1, output_price: 1 });
    const account = await newAccount();
    const key = await newKey(account.id);
    const saved = await post('/operator/models', {
      id: model, input_price: '3', output_price: '12.5', cached_input_price: '0.75', cache_write_price: '', max_output_tokens: '4096', groups: '',
    }, { cookie });
    expect(saved.status).toBe(200);
    const html = await saved.text();
    expect(html).toContain(`Saved ${model}`);
    expect(html).toMatch(/within \d+ seconds everywhere/);
    const { body: models } = await adminCall('GET', '/models');
    expect(models.data.find((m: any) => m.id === model)).toMatchObject({
      input_price: 3, output_price: 12.5, cached_input_price: 0.75, cache_write_price: null, max_output_tokens: 4096, groups: null,
    });
    const res = await chat(key.key, model);
    expect(res.status).toBe(200);
    const row = await usageRow(res.headers.get('x-request-id')!);
    // The recording's usage: 16 in, 363 out.
    expect(row.cost).toBe(costMicros({ input_price: 3_000_000, output_price: 12_500_000, cached_input_price: 750_000 }, { input_tokens: 16, output_tokens: 363, cached_tokens: 0 }));
    expect(await lastAudit(model)).toMatchObject({ action: 'model.put' });
    const bad = await post('/operator/models', { id: model, input_price: '-1', output_price: '1' }, { cookie });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('input_price');
  });

  it('sets prices in other units — per image by size and quality, per 1M characters, per minute, image and audio tokens', async () => {
    const { cookie } = await signIn();
    const model = unique('model');
    const saved = await post('/operator/models', {
      id: model, input_price: '0', output_price: '0', image_prices: '1024x1024 = 0.04\r\n1024x1024/hd = 0.08\r\n* = 0.25', character_price: '15',
      audio_minute_price: '0.006', max_audio_seconds: '1500', image_input_price: '10', image_output_price: '40', audio_input_price: '', audio_output_price: '',
    }, { cookie });
    expect(saved.status).toBe(200);
    const html = await saved.text();
    expect(html).toContain('$0.08 / image (1024x1024/hd)');
    expect(html).toContain('$0.006 / minute, at most 1500 s');
    const { body: models } = await adminCall('GET', '/models');
    expect(models.data.find((m: any) => m.id === model)).toMatchObject({
      image_prices: { '1024x1024': 0.04, '1024x1024/hd': 0.08, '*': 0.25 }, character_price: 15, audio_minute_price: 0.006, max_audio_seconds: 1500,
      image_input_price: 10, image_output_price: 40, audio_input_price: null, audio_output_price: null,
    });
    const bad = await post('/operator/models', { id: model, input_price: '0', output_price: '0', image_prices: 'huge = 1' }, { cookie });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('image_prices');
  });

  it('creates a channel, tests it against the upstream (status, latency, usage), and disables it', async () => {
    const { cookie } = await signIn();
    const id = unique('ch');
    const model = unique('model');
    await adminCall('PUT', `/models/${model}`, { input_price: 1, output_price: 1 });
    const saved = await post('/operator/channels', {
      id, kind: 'openai', base_url: `${inject('upstreamUrl')}/o:/openai/chat-nonstream-gpt-4.1-nano.json`, api_key_secret: 'FAKE_UPSTREAM_KEY',
      models: `${model} = upstream-model`, priority: '2', weight: '3', enabled: 'on',
    }, { cookie });
    expect(saved.status).toBe(200);
    expect(await saved.text()).toContain(`Saved ${id}.`);
    const { body: channels } = await adminCall('GET', '/channels');
    expect(channels.data.find((ch: any) => ch.id === id)).toMatchObject({ models: { [model]: 'upstream-model' }, priority: 2, weight: 3, enabled: true, responses: false });

    const tested = await post('/operator/channels/test', { id }, { cookie });
    expect(tested.status).toBe(200);
    const html = await tested.text();
    expect(html).toMatch(new RegExp(`Test of ${id}</strong> \\(${model}\\): answered · status 200 · \\d+ ms · 16 input tokens, 363 output tokens`));
    expect(html).not.toContain('sk-upstream-secret');

    expect((await post('/operator/channels/enabled', { id, enabled: 'false' }, { cookie })).status).toBe(200);
    const { body: after } = await adminCall('GET', '/channels');
    expect(after.data.find((ch: any) => ch.id === id).enabled).toBe(false);
    const actions = await db.prepare('SELECT action FROM audit_log WHERE target = ? ORDER BY id').bind(id).all<{ action: string }>();
    expect(actions.results.map((r) => r.action)).toEqual(['channel.put', 'channel.test', 'channel.put']);
  });

  it('tests Anthropic and Gemini channels in their own APIs, through the admin API too', async () => {
    for (const [kind, fixture, path, limit, tokens] of [
      ['anthropic', 'anthropic/messages-nonstream-text-sonnet-4-5.json', '/messages', { max_tokens: 16 }, [12, 29]],
      ['gemini', 'gemini/generateContent-text-gemini-3-pro-preview.json', '/models/upstream-model:generateContent', { generationConfig: { maxOutputTokens: 16 } }, [9, 28 + 244]],
    ] as const) {
      const tag = unique(kind);
      const { channelIds: [id] } = await newModel([{ fixture, kind, options: `id=${tag}` }]);
      const { status, body } = await adminCall('POST', `/channels/${id}/test`);
      expect(status).toBe(200);
      expect(body).toMatchObject({ ok: true, status: 200, usage: { input_tokens: tokens[0], output_tokens: tokens[1] }, error: null });
      const [sent] = await recordedRequests(tag);
      expect(sent!.path.endsWith(`${fixture}${path}`)).toBe(true);
      expect(sent!.body).toMatchObject(limit);
      expect(await lastAudit(id!)).toMatchObject({ actor: 'admin-api', action: 'channel.test' });
    }
    expect((await adminCall('POST', '/channels/no-such-channel/test')).status).toBe(404);
  });

  it('shows a failing channel test with its status, and a bad channel form as an error', async () => {
    const { cookie } = await signIn();
    const { channelIds: [id] } = await newModel([{ fixture: 'openai/chat-nonstream-gpt-4.1-nano.json', options: 'status=503' }]);
    const html = await (await post('/operator/channels/test', { id: id! }, { cookie })).text();
    expect(html).toMatch(/failed · status 503 · \d+ ms · The upstream provider failed \(HTTP 503\)/);
    const { body } = await adminCall('POST', `/channels/${id}/test`);
    expect(body).toMatchObject({ ok: false, status: 503, usage: null });

    const bad = await post('/operator/channels', { id: unique('ch'), kind: 'openai', base_url: 'http://169.254.169.254/', api_key_secret: 'X', models: 'm' }, { cookie });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('base_url');
  });

  it('creates a batch of codes shown once with a CSV, stored only hashed; one redeems through the API, one is disabled', async () => {
    const { cookie } = await signIn();
    const note = unique('batch');
    const res = await post('/operator/codes', { count: '3', amount: '2.5', expires_on: '2099-12-31', note }, { cookie });
    expect(res.status).toBe(201);
    const html = await res.text();
    const codes = [...html.matchAll(/\b([0-9A-Z]{5}(?:-[0-9A-Z]{5}){5})\b/g)].map((m) => m[1]!);
    const unique3 = [...new Set(codes)];
    expect(unique3).toHaveLength(3);
    const csvHref = /download="redemption-codes.csv" href="data:text\/csv;charset=utf-8,([^"]+)"/.exec(html)![1]!;
    const file = decodeURIComponent(csvHref.replace(/&amp;/g, '&'));
    expect(file.split('\r\n')[0]).toBe('id,code,amount,expires_at,note');
    for (const code of unique3) expect(file).toContain(`,${code},2.5,2099-12-31T23:59:59.999Z,${note}`);
    const stored = await db.prepare('SELECT * FROM redemption_codes WHERE note = ?').bind(note).all();
    expect(stored.results).toHaveLength(3);
    for (const code of unique3) expect(JSON.stringify(stored.results)).not.toContain(code);
    const audit = await db.prepare("SELECT detail FROM audit_log WHERE action = 'codes.create' AND detail LIKE ?").bind(`%${note}%`).first<{ detail: string }>();
    expect(JSON.parse(audit!.detail)).toMatchObject({ count: 3, amount: 2.5, note });
    for (const code of unique3) expect(audit!.detail).not.toContain(code);

    const account = await newAccount({ credit: 0 });
    const key = await newKey(account.id);
    const redeemed = await call('/v1/billing/redeem', { method: 'POST', key: key.key, json: { code: unique3[0] } });
    expect(await redeemed.json()).toMatchObject({ credited: 2.5, balance: 2.5 });
    const batch = async () => (await adminCall('GET', '/redemption-codes')).body.data.filter((k: any) => k.note === note);
    const unused = (await batch()).find((k: any) => k.state === 'unused');
    expect((await post('/operator/codes/disable', { id: unused.id }, { cookie })).status).toBe(200);
    expect((await batch()).map((k: any) => k.state).sort()).toEqual(['disabled', 'redeemed', 'unused']);
    expect(await lastAudit(unused.id)).toMatchObject({ action: 'code.disable' });
    const listed = await (await page('/operator/codes', cookie)).text();
    expect(listed).toContain(note);
    expect(listed).toContain('redeemed');
    await expectLedgerInvariant(account.id);
  });

  it('refuses a bad batch, creating nothing', async () => {
    const { cookie } = await signIn();
    const note = unique('bad');
    for (const fields of [{ count: '0', amount: '1' }, { count: '2', amount: '0' }, { count: '2', amount: '1', expires_on: 'soon' }] as Record<string, string>[]) {
      const res = await post('/operator/codes', { ...fields, note }, { cookie });
      expect(res.status).toBe(400);
    }
    expect((await db.prepare('SELECT COUNT(*) AS n FROM redemption_codes WHERE note = ?').bind(note).first<{ n: number }>())!.n).toBe(0);
  });

  it('records admin API changes as admin-api, and lists them on the overview', async () => {
    const { cookie } = await signIn();
    const account = await newAccount();
    expect(await lastAudit(account.id)).toMatchObject({ actor: 'admin-api', action: 'account.create' });
    await adminCall('POST', `/accounts/${account.id}/credit`, { amount: 1, reason: unique('why') });
    const { body } = await adminCall('GET', '/audit?limit=1000');
    expect(body.data.find((r: any) => r.target === account.id && r.action === 'account.credit')).toMatchObject({ actor: 'admin-api' });
    const html = await (await page('/operator', cookie)).text();
    expect(html).toContain('Recent changes');
  });
});

describe('usage and the overview', () => {
  it('filters usage across accounts by account, key, model, channel and status, and exports it as CSV', async () => {
    const { cookie } = await signIn();
    const { model, channelIds: [channel] } = await newModel([{ fixture: 'openai/chat-nonstream-gpt-4.1-nano.json' }]);
    const { model: failing } = await newModel([{ fixture: 'openai/chat-nonstream-gpt-4.1-nano.json', options: 'status=500' }]);
    const a = await newAccount();
    const b = await newAccount();
    const ka = await newKey(a.id);
    const kb = await newKey(b.id);
    const ids = [];
    for (const [key, m] of [[ka.key, model], [kb.key, model], [kb.key, failing]] as const) ids.push((await chat(key, m)).headers.get('x-request-id')!);
    for (const id of ids) await usageRow(id);
    await flushAccounts();

    const byModel = await adminCall('GET', `/usage?model=${model}`);
    expect(byModel.body.data.map((r: any) => r.account_id).sort()).toEqual([a.id, b.id].sort());
    expect((await adminCall('GET', `/usage?channel=${channel}&account=${b.id}`)).body.data).toHaveLength(1);
    expect((await adminCall('GET', `/usage?key=${kb.id}&account=${b.id}`)).body.data).toHaveLength(2);
    expect((await adminCall('GET', `/usage?account=${b.id}&status=failed`)).body.data.map((r: any) => r.model)).toEqual([failing]);
    const today = new Date().toISOString().slice(0, 10);
    expect((await adminCall('GET', `/usage?account=${a.id}&from=${today}&to=${today}`)).body.data).toHaveLength(1);
    expect((await adminCall('GET', `/usage?account=${a.id}&to=2000-01-01`)).body.data).toHaveLength(0);
    expect((await adminCall('GET', '/usage?status=exploded')).status).toBe(400);
    expect((await adminCall('GET', `/usage?account=${encodeURIComponent(b.email.toUpperCase())}`)).body.data).toHaveLength(2);
    expect((await adminCall('GET', `/usage?account=nobody-${encodeURIComponent(b.email)}`)).status).toBe(404);

    const html = await (await page(`/operator/usage?account=${encodeURIComponent(b.email)}`, cookie)).text();
    expect(html).toContain(failing);
    expect(html).not.toContain(a.id);
    const csv = await page(`/operator/usage.csv?model=${model}`, cookie);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('request_id,created_at,account_id,key_id,key_name,model,channel,input_tokens,output_tokens,cached_tokens,cache_write_tokens,unit,quantity,cost,reported_cost,capped,status,latency_ms,first_byte_ms,estimated');
    expect(lines.slice(1).map((l) => l.split(',')[0]).sort()).toEqual(ids.slice(0, 2).sort());

    // The merge across accounts gives the same rows, newest first, however small its pages.
    await usageRow((await chat(ka.key, model)).headers.get('x-request-id')!);
    const across = await usageAcross(env as never, { model, limit: 100 });
    expect(across.map((r) => r.account_id)).toEqual([a.id, b.id, a.id]);
    expect(await usageAcross(env as never, { model, limit: 100 }, 1)).toEqual(across);
    expect(await usageAcross(env as never, { model, limit: 2 }, 1)).toEqual(across.slice(0, 2));
  });

  it('sums the hourly totals by model and channel to exactly what was done, and revenue from top-ups less refunds', async () => {
    const { cookie } = await signIn();
    const { model, channelIds: [channel] } = await newModel([{ fixture: 'openai/chat-nonstream-gpt-4.1-nano.json' }], { input_price: 2, output_price: 8 });
    const { model: failing, channelIds: [failingChannel] } = await newModel([{ fixture: 'openai/chat-nonstream-gpt-4.1-nano.json', options: 'status=500' }]);
    const account = await newAccount();
    const key = await newKey(account.id);
    const ids = [];
    for (const m of [model, model, failing]) ids.push((await chat(key.key, m)).headers.get('x-request-id')!);
    const rows = await Promise.all(ids.map((id) => usageRow(id)));
    await flushAccounts();

    for (const period of ['24h', '7d', '30d']) {
      const { body } = await adminCall('GET', `/overview?period=${period}`);
      expect(body.by_model.find((r: any) => r.name === model)).toEqual({
        name: model, requests: 2, failed: 0, tokens: 2 * (16 + 363), spend: (rows[0]!.cost + rows[1]!.cost) / 1e6, error_rate: 0,
        latency_ms: Math.round((rows[0]!.latency_ms + rows[1]!.latency_ms) / 2), capped: 0, uncharged: 0,
      });
      expect(body.by_model.find((r: any) => r.name === failing)).toMatchObject({ requests: 1, failed: 1, spend: 0, error_rate: 1 });
      expect(body.by_channel.find((r: any) => r.name === channel)).toMatchObject({ requests: 2, failed: 0 });
      expect(body.by_channel.find((r: any) => r.name === failingChannel)).toMatchObject({ requests: 1, failed: 1 });
      expect(body.by_bucket).toHaveLength(period === '24h' ? 24 : period === '7d' ? 7 : 30);
      expect(body.totals.requests).toBe(body.by_bucket.reduce((s: number, b: any) => s + b.requests, 0));
    }
    const html = await (await page('/operator?period=24h', cookie)).text();
    expect(html).toContain(model);
    expect(html).toContain('Spend by hour');

    // Revenue: a top-up and a refund in an hour of their own (rows written as the webhook
    // writes them, the balance moved with them so the ledger stays whole).
    const payer = await newAccount({ credit: 0 });
    const hour = '2001-02-03T04';
    await db.batch([
      db.prepare("INSERT INTO ledger (account_id, kind, amount, balance_after, request_id, created_at) VALUES (?, 'topup', 10000000, 10000000, ?, ?)")
        .bind(payer.id, unique('top'), `${hour}:05:00.000Z`),
      db.prepare("INSERT INTO ledger (account_id, kind, amount, balance_after, request_id, created_at) VALUES (?, 'refund', -3000000, 7000000, ?, ?)")
        .bind(payer.id, unique('evt'), `${hour}:45:00.000Z`),
      db.prepare('UPDATE accounts SET balance = balance + 7000000 WHERE id = ?').bind(payer.id),
    ]);
    const { totalsByBucket } = await import('../../src/db/overview');
    const buckets = await totalsByBucket(db, 'hour', hour);
    expect(buckets.find((b) => b.bucket === hour)).toMatchObject({ revenue: 7_000_000, requests: 0 });
    expect((await totalsByBucket(db, 'day', `${hour.slice(0, 10)}T00`)).find((b) => b.bucket === hour.slice(0, 10))).toMatchObject({ revenue: 7_000_000 });
    await expectLedgerInvariant(payer.id);
  });
});
