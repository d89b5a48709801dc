import { env, exports } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { afterEach, expect, inject } from 'vitest';
import type { AccountState } from '../../src/account/object';
import type { UsageRow } from '../../src/account/storage';

/** Helpers shared by the worker tests. Each test makes its own accounts, keys, models and
 *  channels (unique ids), so test files can share one D1. */
export const ADMIN_TOKEN = 'test-admin-token';
/** The key-encryption key that sealed provider keys before the tests' rotation (vitest.config.ts). */
export const ORIGINAL_KEK = 'original:E2eMqqUvNE4kwTpXv/qT0naPd1ze9rE0IDiDUWk1/Hw=';
export const UPSTREAM_KEY = 'sk-upstream-secret-never-leaks-0123456789abcdef';
export const db = (env as unknown as { DB: D1Database }).DB;
const accounts = (env as unknown as { ACCOUNTS: DurableObjectNamespace<AccountState> }).ACCOUNTS;

/** The account's object, as the gateway reaches it. */
export const accountObject = (accountId: string) => accounts.get(accounts.idFromName(accountId));

/** Accounts this test file made, so a usage row can be found by its request id alone. */
const made: string[] = [];

const worker = (exports as unknown as { default: { fetch: (r: Request) => Promise<Response> } }).default;

export function call(path: string, init: RequestInit & { json?: unknown; key?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set('authorization', `Bearer ${init.key}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  return worker.fetch(new Request(`http://gateway.test${path}`, { ...init, headers, body }));
}

export async function adminCall<T = any>(method: string, path: string, json?: unknown): Promise<{ status: number; body: T }> {
  const res = await call(`/admin${path}`, { method, json, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : (null as T) };
}

export const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

export async function newAccount(opts: { credit?: number; group?: string } = {}) {
  const { status, body } = await adminCall('POST', '/accounts', {
    email: `${unique('user')}@example.com`,
    credit: opts.credit ?? 10,
    group: opts.group,
  });
  if (status !== 201) throw new Error(`account: ${status} ${JSON.stringify(body)}`);
  made.push(body.id);
  return body as { id: string; email: string; group: string; balance: number };
}

export async function newKey(accountId: string, opts: Record<string, unknown> = {}) {
  const { status, body } = await adminCall('POST', `/accounts/${accountId}/keys`, { name: unique('key'), ...opts });
  if (status !== 201) throw new Error(`key: ${status} ${JSON.stringify(body)}`);
  return body as { id: string; key: string; name: string; prefix: string };
}

/** A priced model served by one channel (or several) pointing at the fake upstream. */
export async function newModel(
  channels: Array<{ fixture: string; options?: string; priority?: number; weight?: number; kind?: string; secret?: string; responses?: boolean }>,
  prices: Record<string, unknown> = { input_price: 2, output_price: 8 },
) {
  const model = unique('model');
  const put = await adminCall('PUT', `/models/${model}`, prices);
  if (put.status !== 200) throw new Error(`model: ${put.status} ${JSON.stringify(put.body)}`);
  const channelIds: string[] = [];
  for (const ch of channels) {
    const id = unique('ch');
    const res = await adminCall('PUT', `/channels/${id}`, {
      kind: ch.kind ?? 'openai',
      base_url: `${inject('upstreamUrl')}/o:${ch.options ?? ''}/${ch.fixture}`,
      api_key_secret: ch.secret ?? 'FAKE_UPSTREAM_KEY',
      models: { [model]: 'upstream-model' },
      priority: ch.priority ?? 0,
      weight: ch.weight ?? 1,
      responses: ch.responses ?? true,
    });
    if (res.status !== 200) throw new Error(`channel: ${res.status} ${JSON.stringify(res.body)}`);
    channelIds.push(id);
  }
  return { model, channelIds };
}

/** A customer with a key, and a model on the fake upstream replaying `fixture`. */
export async function setup(fixture: string, options = '', credit = 10) {
  const account = await newAccount({ credit });
  const key = await newKey(account.id);
  const { model, channelIds } = await newModel([{ fixture, options }]);
  return { account, key: key.key, keyId: key.id, model, channel: channelIds[0] as string };
}

export async function recordedRequests(id: string): Promise<Array<{ headers: Record<string, string>; body: any; path: string; raw?: string }>> {
  return (await fetch(`${inject('upstreamUrl')}/__requests?id=${id}`)).json();
}

/** The usage row of a request, read from its account's object's storage; `accountId`
 *  narrows the search to one account, else every account this file made is asked.
 *  Settlement runs in waitUntil after the response, so this polls. */
export async function usageRow(requestId: string, timeoutMs = 5000, accountId?: string): Promise<UsageRow & { account_id: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const id of accountId ? [accountId] : made) {
      const row = await runInDurableObject(accountObject(id), (_instance, state) =>
        state.storage.sql.exec('SELECT * FROM usage WHERE request_id = ?', requestId).toArray()[0]);
      if (row) return { ...(row as unknown as UsageRow), capped: row.capped === 1, estimated: row.estimated === 1, account_id: id };
    }
    if (Date.now() > deadline) throw new Error(`no usage row for ${requestId}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** How many usage rows the account has. */
export const usageCount = (accountId: string) =>
  runInDurableObject(accountObject(accountId), (_instance, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM usage').one().n);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a streamed chat, reads `chunks` chunks, then goes away the way a client can:
 * aborting its request (the runtime's request signal), cancelling the body, or both.
 * Returns the request id.
 */
export async function disconnectMidStream(key: string, model: string, how: { abort: boolean; cancel: boolean }, chunks = 4): Promise<string> {
  const controller = new AbortController();
  const res = await call('/v1/chat/completions', {
    method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'Say hello' }], stream: true }, signal: controller.signal,
  });
  const reader = res.body!.getReader();
  for (let i = 0; i < chunks; i++) await reader.read();
  if (how.abort) controller.abort();
  if (how.cancel) await reader.cancel().catch(() => {});
  return res.headers.get('x-request-id')!;
}

/** The account's settled balance in D1, once its object has flushed every charge it holds. */
export async function balanceOf(accountId: string): Promise<number> {
  await accountObject(accountId).flushNow(accountId);
  return (await db.prepare('SELECT balance FROM accounts WHERE id = ?').bind(accountId).first<{ balance: number }>())!.balance;
}

/** Flushes every account this file made, so no flush alarm is left to fire after the file's
 *  tests (the test runtime closes D1 then). */
export async function flushAccounts(): Promise<void> {
  await Promise.all(made.map((id) => accountObject(id).flushNow(id)));
}

/** Requests admitted by the account's object and not yet settled. */
export const openHolds = (accountId: string) =>
  runInDurableObject(accountObject(accountId), (_instance, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM holds').one().n);

/** The ledger invariant, checked after every scenario (its object flushed first): balance =
 *  sum of ledger rows, ≥ 0, the reservation within it, integers only, and no hold left
 *  open once every request has settled. */
export async function expectLedgerInvariant(accountId: string, settled = true) {
  const balance = await balanceOf(accountId);
  const sum = (await db.prepare('SELECT COALESCE(SUM(amount), 0) AS s FROM ledger WHERE account_id = ?').bind(accountId).first<{ s: number }>())!.s;
  expect(balance).toBe(sum);
  expect(balance).toBeGreaterThanOrEqual(0);
  const { reserved } = (await db.prepare('SELECT reserved FROM accounts WHERE id = ?').bind(accountId).first<{ reserved: number }>())!;
  expect(reserved).toBeGreaterThanOrEqual(0);
  expect(reserved).toBeLessThanOrEqual(balance);
  // No floating-point money in D1: every stored amount is an INTEGER value.
  const reals = await db
    .prepare(
      `SELECT (SELECT COUNT(*) FROM ledger WHERE account_id = ?1 AND (typeof(amount) != 'integer' OR typeof(balance_after) != 'integer'))
            + (SELECT COUNT(*) FROM accounts WHERE id = ?1 AND (typeof(balance) != 'integer' OR typeof(reserved) != 'integer'))
            + (SELECT COUNT(*) FROM usage_daily WHERE account_id = ?1 AND typeof(cost) != 'integer') AS n`,
    )
    .bind(accountId)
    .first<{ n: number }>();
  expect(reals!.n).toBe(0);
  if (settled) expect(await openHolds(accountId)).toBe(0);
}

/** The accounts a test file pushes here get the ledger invariant checked after each test,
 *  once their settlements (waitUntil, after the responses) have landed. */
export function ledgerInvariantAfterEachTest(): string[] {
  const accounts: string[] = [];
  afterEach(async () => {
    const ids = accounts.splice(0);
    for (const id of ids) for (let i = 0; i < 200 && (await openHolds(id)) > 0; i++) await sleep(25);
    await flushAccounts();
    for (const id of ids) await expectLedgerInvariant(id);
  });
  return accounts;
}

/** The webhook secret the tests' worker is configured with. */
export const WEBHOOK_SECRET = 'whsec_test_secret';

/** A Stripe-Signature header for `body`, computed the way Stripe signs deliveries. */
export async function signStripe(body: string, secret = WEBHOOK_SECRET, timestamp = Math.floor(Date.now() / 1000)): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${timestamp}.${body}`));
  const hex = Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, '0')).join('');
  return `t=${timestamp},v1=${hex}`;
}

/** A model row's prices in other units, none set (billing/units.ts). */
export const NO_UNIT_PRICES = {
  image_prices: null, character_price: null, audio_minute_price: null, max_audio_seconds: null,
  image_input_price: null, image_output_price: null, audio_input_price: null, audio_output_price: null,
} as const;

/** The messages the fake e-mail provider received for `to` (test/support/fake-mail.ts), oldest first. */
export async function mailsTo(to: string): Promise<Array<{ subject: string; text: string; html: string; from: string }>> {
  return (await fetch(`${inject('mailUrl')}/__mails?to=${encodeURIComponent(to)}`)).json();
}

/** The link (path and query) in the newest message to `to`, once it has arrived. */
export async function linkMailedTo(to: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const link = /https:\/\/gateway\.example\.com(\/\S+\?token=[\w-]+)/.exec((await mailsTo(to)).at(-1)?.text ?? '')?.[1];
    if (link) return link;
    await sleep(20);
  }
  throw new Error(`no link mailed to ${to}`);
}
