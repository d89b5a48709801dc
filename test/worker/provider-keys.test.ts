import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { open, providerKeyRow, seal } from '../../src/auth/vault';
import { addKeys, vaultState } from '../../src/admin/provider-keys';
import type { Env } from '../../src/config';
import { insertKeys } from '../../src/db/provider-keys';
import { adminCall, call, db, ledgerInvariantAfterEachTest, newAccount, newKey, ORIGINAL_KEK, recordedRequests, sleep, unique, usageRow } from './helpers';

/**
 * Provider keys kept in D1: sealed with AES-256-GCM, many per channel, spread by weight,
 * a refused key disabled by itself and a rate-limited one rested, managed through the admin
 * API (the console calls the same actions: test/e2e/operator-keys.test.ts), and never
 * anywhere in clear — not in D1, a response, an audit row or a log line.
 */
const accounts = ledgerInvariantAfterEachTest();
const KEK = (env as unknown as { PROVIDER_KEYS_KEK: string }).PROVIDER_KEYS_KEK;
const pasted: string[] = [];
const secretKey = (name: string) => {
  const key = `sk-test-${name}-${crypto.randomUUID().replace(/-/g, '')}`;
  pasted.push(key);
  return key;
};

/** Everything the worker wrote to the log during a test, to be scanned for keys. */
let logged: string[] = [];
beforeEach(() => {
  logged = [];
  for (const level of ['log', 'info', 'warn', 'error'] as const) {
    const original = console[level].bind(console);
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
      original(...args);
    });
  }
});
afterEach(() => {
  vi.restoreAllMocks();
  for (const line of logged) for (const key of pasted) expect(line).not.toContain(key);
});

/** A channel on the fake upstream (options: its fake's switches), a priced model, a customer. */
async function channelWithKeys(o: { fixture?: string; options?: string; kind?: string; upstream?: string; secret?: string } = {}) {
  const id = unique('ch');
  const model = unique('model');
  expect((await adminCall('PUT', `/models/${model}`, { input_price: 2, output_price: 8 })).status).toBe(200);
  const tag = unique('req');
  const put = (options: string) => adminCall('PUT', `/channels/${id}`, {
    kind: o.kind ?? 'openai', base_url: `${inject('upstreamUrl')}/o:id=${tag},${options}/${o.fixture ?? 'openai/chat-nonstream-text-gpt-4o.json'}`,
    api_key_secret: o.secret ?? '', models: { [model]: o.upstream ?? 'upstream-model' },
  });
  expect((await put(o.options ?? '')).status).toBe(200);
  const account = await newAccount();
  accounts.push(account.id);
  const { key } = await newKey(account.id);
  return { id, model, tag, key, put };
}

const chat = (key: string, model: string) => call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'Say hello' }] } });
const sentKey = (r: { headers: Record<string, string> }) => (r.headers.authorization ?? '').replace('Bearer ', '') || r.headers['api-key'] || r.headers['x-api-key'] || r.headers['x-goog-api-key'];
const keysOf = async (channel: string) => (await adminCall('GET', `/channels/${channel}/keys`)).body.data as Array<Record<string, any>>;
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await read();
    if (ok(v)) return v;
    await sleep(25);
  }
  return read();
}

describe('the vault', () => {
  it('seals a key to its row: it opens there, and nowhere else', async () => {
    const sealed = await seal(KEK, 'sk-live-abcdef', providerKeyRow('ch_1', 'pk_1'));
    expect(sealed.kek_id).toBe('rotated');
    expect(sealed.ciphertext).not.toContain('abcdef');
    expect(await open(KEK, sealed, providerKeyRow('ch_1', 'pk_1'))).toBe('sk-live-abcdef');
    await expect(open(KEK, sealed, providerKeyRow('ch_1', 'pk_2'))).rejects.toThrow(); // another row
    await expect(open(KEK, sealed, providerKeyRow('ch_2', 'pk_1'))).rejects.toThrow(); // another channel
    await expect(open(ORIGINAL_KEK, sealed, providerKeyRow('ch_1', 'pk_1'))).rejects.toThrow(/no entry rotated/);
    const again = await seal(KEK, 'sk-live-abcdef', providerKeyRow('ch_1', 'pk_1'));
    expect(again.nonce).not.toBe(sealed.nonce);
  });
});

describe('keys pasted in bulk', () => {
  it('are stored sealed and shown as their last four characters, in answers, D1 and the audit log', async () => {
    const { id } = await channelWithKeys();
    const keys = [secretKey('one'), secretKey('two'), secretKey('three')];
    const res = await call(`/admin/channels/${id}/keys`, {
      method: 'POST', headers: { authorization: 'Bearer test-admin-token' }, json: { keys: `${keys[0]}\n\n  ${keys[1]}  \n${keys[2]}\n${keys[0]}\n` },
    });
    expect(res.status).toBe(201);
    const text = await res.text();
    const { data } = JSON.parse(text);
    expect(data.map((k: any) => k.key)).toEqual(keys.map((k) => `…${k.slice(-4)}`)); // the repeat is dropped
    expect(data.every((k: any) => k.state === 'enabled')).toBe(true);
    const rows = (await db.prepare('SELECT * FROM provider_keys WHERE channel_id = ?').bind(id).all()).results;
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(await open(KEK, row as any, providerKeyRow(id, String(row.id)))).toMatch(/^sk-test-/);
    const audit = await adminCall('GET', '/audit?limit=20');
    expect(JSON.stringify(audit.body.data.find((a: any) => a.action === 'provider_keys.add' && a.target === id).detail)).toContain(`…${keys[1]!.slice(-4)}`);
    const everything = [text, JSON.stringify(audit.body), JSON.stringify((await adminCall('GET', `/channels/${id}/keys`)).body), JSON.stringify(await dumpD1())];
    for (const key of keys) for (const seen of everything) expect(seen).not.toContain(key);
  });

  it('are spread round robin, by weight, with no restart: the next request uses them', async () => {
    const { id, model, tag, key } = await channelWithKeys();
    const keys = [secretKey('a'), secretKey('b'), secretKey('c')];
    await adminCall('POST', `/channels/${id}/keys`, { keys });
    for (let i = 0; i < 6; i++) expect((await chat(key, model)).status).toBe(200);
    const used = (await recordedRequests(tag)).map(sentKey);
    expect(used).toEqual([...keys, ...keys]);
    // Weight 3 to a fourth key: it takes three turns in six.
    const heavy = secretKey('heavy');
    await adminCall('POST', `/channels/${id}/keys`, { keys: [heavy], weight: 3 });
    for (let i = 0; i < 6; i++) expect((await chat(key, model)).status).toBe(200);
    expect((await recordedRequests(tag)).slice(6).map(sentKey).filter((k) => k === heavy)).toHaveLength(3);
  });

  it('refuses a key list with spaces, and keys on the echo channel, and needs the vault configured to be kept', async () => {
    const { id } = await channelWithKeys();
    expect((await adminCall('POST', `/channels/${id}/keys`, { keys: 'sk-one two' })).status).toBe(400);
    expect((await adminCall('POST', `/channels/${id}/keys`, { keys: '' })).status).toBe(400);
    expect((await adminCall('POST', '/channels/no-such-channel/keys', { keys: 'sk-abcdefgh' })).status).toBe(404);
    // No PROVIDER_KEYS_KEK, or a malformed one: refused with what to do, and nothing stored.
    for (const kek of [undefined, 'k1:too-short', 'no-material', 'k1:%%%']) {
      const unconfigured = { ...(env as unknown as Env), PROVIDER_KEYS_KEK: kek };
      await expect(addKeys(unconfigured, 'test', id, { keys: ['sk-abcdefgh'], weight: 1 })).rejects.toMatchObject({ code: 'vault_not_configured' });
      expect(await vaultState(unconfigured)).toMatchObject({ configured: false, problem: expect.stringContaining(kek ? 'malformed' : 'not set') });
    }
    expect((await keysOf(id))).toEqual([]);
  });
});

describe('a key the upstream refuses or rate-limits', () => {
  it('401: disabled after its first failure, with the reason, while the same request is served by the next key', async () => {
    const bad = secretKey('refused');
    const good = secretKey('fine');
    const { id, model, tag, key } = await channelWithKeys({ options: `deny=${bad.slice(-6)}:401:openai~error-400-unsupported-parameter-max-tokens.json` });
    await adminCall('POST', `/channels/${id}/keys`, { keys: [bad, good] });
    const res = await chat(key, model);
    expect(res.status).toBe(200);
    await usageRow(res.headers.get('x-request-id')!);
    expect((await recordedRequests(tag)).map(sentKey)).toEqual([bad, good]);
    const keys = await until(() => keysOf(id), (ks) => ks[0]?.state === 'disabled');
    expect(keys[0]).toMatchObject({ key: `…${bad.slice(-4)}`, state: 'disabled', disabled_reason: expect.stringMatching(/^HTTP 401/) });
    expect(keys[1]).toMatchObject({ state: 'enabled' });
    const audit = (await adminCall('GET', '/audit?limit=50')).body.data.find((a: any) => a.action === 'provider_key.disable' && a.target === keys[0]!.id);
    expect(audit).toMatchObject({ actor: 'gateway' });
    // From now on only the good key is used.
    for (let i = 0; i < 3; i++) expect((await chat(key, model)).status).toBe(200);
    expect((await recordedRequests(tag)).slice(2).map(sentKey)).toEqual([good, good, good]);
    // Every key refused: the channel fails over like any failure, and the answer says why without a key.
    const { id: all, model: allModel, key: allKey } = await channelWithKeys({ options: `deny=${bad.slice(-6)}:403` });
    await adminCall('POST', `/channels/${all}/keys`, { keys: [bad] });
    const refused = await chat(allKey, allModel);
    expect(refused.status).toBe(502);
    expect(await refused.text()).not.toContain(bad);
  });

  it("429 with Gemini's recorded RESOURCE_EXHAUSTED: the key rests for its retryDelay (34.4 s), not disabled; the request is served by the next key", async () => {
    const tired = secretKey('tired');
    const fresh = secretKey('fresh');
    const { id, model, tag, key } = await channelWithKeys({
      kind: 'gemini', fixture: 'gemini/generateContent-text-gemini-3-pro-preview.json', upstream: 'gemini-3-pro-preview',
      options: `deny=${tired.slice(-6)}:429:gemini~error-429-resource-exhausted-retry-info.json`,
    });
    await adminCall('POST', `/channels/${id}/keys`, { keys: [tired, fresh] });
    const started = Date.now();
    expect((await chat(key, model)).status).toBe(200);
    // The resting key is tried last: the next request goes to the fresh one first (and its
    // waitUntil carries this isolate's reports to the shared view).
    expect((await chat(key, model)).status).toBe(200);
    expect((await recordedRequests(tag)).map(sentKey)).toEqual([tired, fresh, fresh]);
    // Statistics reach the shared view in a later request's waitUntil (health/view.ts).
    await sleep(100);
    expect((await chat(key, model)).status).toBe(200);
    const keys = await until(() => keysOf(id), (ks) => ks[0]?.state === 'cooling');
    expect(keys[0]).toMatchObject({ state: 'cooling', disabled_reason: null, last_error: expect.stringMatching(/429/) });
    expect(Date.parse(keys[0]!.cooling_until) - started).toBeGreaterThanOrEqual(34_000);
    expect(Date.parse(keys[0]!.cooling_until) - started).toBeLessThan(40_000);
    expect((await recordedRequests(tag))[0]!.headers['x-goog-api-key']).toBe(tired);
  });

  it('a passing Test enables a disabled key again; an operator can disable, enable, reweight and delete one, or every disabled one', async () => {
    const bad = secretKey('comeback');
    const { id, model, key, put } = await channelWithKeys({ options: `deny=${bad.slice(-6)}:401` });
    const [k] = (await adminCall('POST', `/channels/${id}/keys`, { keys: [bad] })).body.data;
    expect((await chat(key, model)).status).toBe(502);
    await until(() => keysOf(id), (ks) => ks[0]?.state === 'disabled');
    const failing = await adminCall('POST', `/provider-keys/${k.id}/test`);
    expect(failing.body).toMatchObject({ ok: false, enabled: false });
    await put(''); // the provider takes the key again
    const passing = await adminCall('POST', `/provider-keys/${k.id}/test`);
    expect(passing.body).toMatchObject({ ok: true, enabled: true, status: 200 });
    expect((await chat(key, model)).status).toBe(200);

    expect((await adminCall('PATCH', `/provider-keys/${k.id}`, { enabled: false })).body).toMatchObject({ state: 'disabled', disabled_reason: 'disabled by admin-api' });
    expect((await adminCall('PATCH', `/provider-keys/${k.id}`, { enabled: true, weight: 5 })).body).toMatchObject({ state: 'enabled', weight: 5 });
    const extra = (await adminCall('POST', `/channels/${id}/keys`, { keys: [secretKey('x'), secretKey('y')] })).body.data;
    await adminCall('PATCH', `/provider-keys/${extra[0].id}`, { enabled: false });
    await adminCall('PATCH', `/provider-keys/${extra[1].id}`, { enabled: false });
    expect((await adminCall('DELETE', `/channels/${id}/keys?state=disabled`)).body).toEqual({ deleted: 2 });
    expect((await adminCall('DELETE', `/provider-keys/${k.id}`)).status).toBe(204);
    expect(await keysOf(id)).toEqual([]);
    expect((await adminCall('DELETE', `/channels/${id}/keys`)).status).toBe(400); // only ?state=disabled
  });
});

describe('how a key is sent, and rotation', () => {
  it('an Azure OpenAI deployment: its path, the api-key header and a fixed api-version', async () => {
    const azureKey = secretKey('azure');
    const id = unique('azure');
    const model = unique('gpt-4o');
    const tag = unique('req');
    await adminCall('PUT', `/models/${model}`, { input_price: 2.5, output_price: 10 });
    expect((await adminCall('PUT', `/channels/${id}`, {
      kind: 'openai', base_url: `${inject('upstreamUrl')}/o:id=${tag}/deployments/prod-gpt-4o/openai/chat-nonstream-text-gpt-4o.json`,
      models: { [model]: 'gpt-4o' }, auth: 'api-key', query: { 'api-version': '2024-10-21' },
    })).status).toBe(200);
    await adminCall('POST', `/channels/${id}/keys`, { keys: [azureKey] });
    const account = await newAccount();
    accounts.push(account.id);
    const res = await chat((await newKey(account.id)).key, model);
    expect(res.status).toBe(200);
    const [sent] = await recordedRequests(tag);
    expect(sent!.path).toMatch(/\/deployments\/prod-gpt-4o\/openai\/chat-nonstream-text-gpt-4o\.json\/chat\/completions$/);
    expect((sent as any).query).toBe('?api-version=2024-10-21');
    expect(sent!.headers['api-key']).toBe(azureKey);
    expect(sent!.headers.authorization).toBeUndefined();
  });

  it('keys sealed under the previous key-encryption key keep serving, and a reseal moves every key to the current one', async () => {
    const { id, model, tag, key } = await channelWithKeys();
    const old = secretKey('before-rotation');
    const keyId = `pk_${crypto.randomUUID().replace(/-/g, '')}`;
    // Sealed before the rotation, under 'original' alone.
    await insertKeys(db, [{ id: keyId, channel_id: id, last4: old.slice(-4), weight: 1, ...(await seal(ORIGINAL_KEK, old, providerKeyRow(id, keyId))) }]);
    await adminCall('PUT', `/channels/${id}`, {
      kind: 'openai', base_url: `${inject('upstreamUrl')}/o:id=${tag}/openai/chat-nonstream-text-gpt-4o.json`, models: { [model]: 'upstream-model' },
    });
    expect((await chat(key, model)).status).toBe(200);
    const resealed = await adminCall('POST', '/provider-keys/reseal');
    expect(resealed.body.kek_id).toBe('rotated');
    expect(resealed.body.resealed).toBeGreaterThanOrEqual(1);
    const row = await db.prepare('SELECT * FROM provider_keys WHERE id = ?').bind(keyId).first<any>();
    expect(row.kek_id).toBe('rotated');
    await expect(open(ORIGINAL_KEK, row, providerKeyRow(id, keyId))).rejects.toThrow(); // the original entry could now be dropped
    expect((await chat(key, model)).status).toBe(200);
    expect((await recordedRequests(tag)).map(sentKey)).toEqual([old, old]);
    expect((await adminCall('GET', '/audit?limit=20')).body.data.some((a: any) => a.action === 'provider_keys.reseal')).toBe(true);
  });

  it('a channel may not name the vault\'s own secret', async () => {
    const res = await adminCall('PUT', `/channels/${unique('ch')}`, { kind: 'openai', base_url: 'https://api.openai.com/v1', api_key_secret: 'PROVIDER_KEYS_KEK', models: { m: 'm' } });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('api_key_secret');
  });
});

describe('model discovery', () => {
  it("lists the upstream's models (OpenAI's published GET /models example), asked with one of the channel's keys", async () => {
    const { id, tag } = await channelWithKeys();
    const k = secretKey('lister');
    await adminCall('POST', `/channels/${id}/keys`, { keys: [k] });
    const res = await adminCall('GET', `/channels/${id}/upstream-models`);
    expect(res.body).toEqual({ data: ['model-id-0', 'model-id-1', 'model-id-2'] });
    const [asked] = await recordedRequests(tag);
    expect(asked!.path).toMatch(/\/models$/);
    expect(sentKey(asked!)).toBe(k);
  });

  it('says why when the upstream does not list them, and when the channel has no key to ask with', async () => {
    const refused = secretKey('refused-lister');
    const { id } = await channelWithKeys({ options: `deny=${refused.slice(-6)}:401` });
    const none = await adminCall('GET', `/channels/${id}/upstream-models`);
    expect(none.status).toBe(503);
    expect(none.body.error.code).toBe('channel_misconfigured');
    await adminCall('POST', `/channels/${id}/keys`, { keys: [refused] });
    const res = await adminCall('GET', `/channels/${id}/upstream-models`);
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({ code: 'upstream_error', message: 'The upstream did not list its models (HTTP 401).' });
  });
});

async function dumpD1(): Promise<Record<string, unknown[]>> {
  const tables = (await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'").all<{ name: string }>()).results;
  const out: Record<string, unknown[]> = {};
  for (const { name } of tables) out[name] = (await db.prepare(`SELECT * FROM "${name}"`).all()).results;
  return out;
}
