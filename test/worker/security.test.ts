import { beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/auth/keys';
import { accountObject, adminCall, call, db, newAccount, newKey, newModel, usageRow } from './helpers';

/** One suite, run against every route a customer key opens. */
let model: string;
let embeddingModel: string;
const routes: Array<[string, string, () => unknown]> = [
  ['POST', '/v1/chat/completions', () => ({ model, messages: [{ role: 'user', content: 'hi' }] })],
  ['POST', '/v1/embeddings', () => ({ model: embeddingModel, input: 'hi' })],
  ['POST', '/v1/messages', () => ({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })],
  ['POST', '/v1/messages/count_tokens', () => ({ model, messages: [{ role: 'user', content: 'hi' }] })],
  ['POST', '/v1/responses', () => ({ model, input: 'hi' })],
  ['GET', '/v1/models', () => undefined],
  ['GET', '/v1/models/:model', () => undefined],
  ['GET', '/v1/usage', () => undefined],
  ['GET', '/v1/billing/balance', () => undefined],
  ['POST', '/v1/billing/checkout', () => ({ amount: 10 })],
  ['POST', '/v1/billing/redeem', () => ({ code: 'not-a-code' })],
];

beforeAll(async () => {
  // A chat channel without the Responses API: /v1/responses and /v1/messages are translated onto it.
  ({ model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json', responses: false }]));
  ({ model: embeddingModel } = await newModel([{ fixture: 'openai/embeddings-response.openapi-example.json' }]));
});

async function expect401(res: Response) {
  expect(res.status).toBe(401);
  const body = (await res.json()) as any;
  expect(body.error.type).toBe('authentication_error');
  expect(res.headers.get('x-should-retry')).toBe('false');
}

const send = (method: string, path: string, body: unknown, headers: Record<string, string>) =>
  call(path.replace(':model', model), { method, json: body, headers });

describe.each(routes)('%s %s', (method, path, body) => {
  it('refuses a request without a key', async () => {
    await expect401(await send(method, path, body(), {}));
  });

  it('refuses a malformed key (without a database lookup)', async () => {
    for (const auth of ['Bearer', 'Bearer sk-short', 'Basic abc', `Bearer sk-${'!'.repeat(43)}`, 'sk-abc']) {
      await expect401(await send(method, path, body(), { authorization: auth }));
    }
  });

  it('refuses an unknown key', async () => {
    await expect401(await send(method, path, body(), { authorization: `Bearer sk-${'A'.repeat(43)}` }));
  });

  it('refuses a revoked key from the next request on', async () => {
    const account = await newAccount();
    const { key, id } = await newKey(account.id);
    expect((await send(method, path, body(), { authorization: `Bearer ${key}` })).status).not.toBe(401);
    expect((await adminCall('DELETE', `/keys/${id}`)).status).toBe(204);
    await expect401(await send(method, path, body(), { authorization: `Bearer ${key}` }));
  });

  it('refuses a key revoked through another isolate, whose cached copy of it this one still has', async () => {
    const account = await newAccount();
    const { key, id } = await newKey(account.id);
    expect((await send(method, path, body(), { authorization: `Bearer ${key}` })).status).not.toBe(401); // now cached here
    // What DELETE /admin/keys/{id} does elsewhere: D1 and the account's object, not this isolate's cache.
    await db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').bind(new Date().toISOString(), id).run();
    await accountObject(account.id).revokeKey(account.id, id);
    await expect401(await send(method, path, body(), { authorization: `Bearer ${key}` }));
  });

  it('refuses a suspended account with 403 from the next request on, this isolate\'s copy notwithstanding', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    expect((await send(method, path, body(), { authorization: `Bearer ${key}` })).status).not.toBe(403);
    await db.prepare('UPDATE accounts SET suspended = 1 WHERE id = ?').bind(account.id).run();
    await accountObject(account.id).setSuspended(account.id, true);
    const res = await send(method, path, body(), { authorization: `Bearer ${key}` });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error.type).toBe('permission_error');
  });

  it('refuses an expired key', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id, { expires_at: new Date(Date.now() - 1000).toISOString() });
    await expect401(await send(method, path, body(), { authorization: `Bearer ${key}` }));
  });
});

describe('tenancy and secrets', () => {
  it("never shows one account another account's usage", async () => {
    const a = await newAccount();
    const b = await newAccount();
    const keyA = (await newKey(a.id)).key;
    const keyB = (await newKey(b.id)).key;
    const res = await call('/v1/chat/completions', { method: 'POST', key: keyA, json: { model, messages: [{ role: 'user', content: 'hi' }] } });
    const requestId = res.headers.get('x-request-id')!;
    await usageRow(requestId);
    const seenByB = (await (await call('/v1/usage', { key: keyB })).json()) as any;
    expect(seenByB.data).toEqual([]);
    const seenByA = (await (await call('/v1/usage', { key: keyA })).json()) as any;
    expect(seenByA.data.map((r: any) => r.request_id)).toEqual([requestId]);
  });

  it('stores only the SHA-256 of a key, and shows the key once', async () => {
    const account = await newAccount();
    const created = await newKey(account.id);
    expect(created.key).toMatch(/^sk-[A-Za-z0-9_-]{43}$/);
    expect(created.prefix).toBe(created.key.slice(0, 11));
    const row = await db.prepare('SELECT * FROM api_keys WHERE id = ?').bind(created.id).first<Record<string, unknown>>();
    expect(Object.values(row!).join(' ')).not.toContain(created.key);
    expect(row!.key_hash).toBe(await hashKey(created.key));
    const dump = await db.prepare("SELECT group_concat(key_hash || name || prefix, ' ') AS all_text FROM api_keys").first<{ all_text: string }>();
    expect(dump!.all_text).not.toContain(created.key);
  });

  it('refuses the admin API without the right token', async () => {
    for (const auth of [undefined, 'Bearer wrong', 'Bearer test-admin-token-but-longer', 'test-admin-token']) {
      const res = await call('/admin/accounts', { method: 'POST', json: { email: 'x@example.com' }, headers: auth ? { authorization: auth } : {} });
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error.type).toBe('authentication_error');
    }
  });

  it('does not accept a customer key on the admin API', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    expect((await call(`/admin/accounts/${account.id}`, { key })).status).toBe(401);
  });
});
