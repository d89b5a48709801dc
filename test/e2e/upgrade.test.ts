import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FIXTURES } from '../support/fake-upstream.ts';
import { payLastCheckout, startFakeStripe } from '../support/fake-stripe.ts';
import { freePort } from '../support/ports.ts';
import { MIGRATIONS } from '../../src/db/migrations.ts';
import { startWorker } from '../support/worker-process.ts';

type Running = Awaited<ReturnType<typeof startWorker>>;

/**
 * An upgrade that loses nothing: Tokengate 0.1.0 — its real bundle and schema.sql, kept in
 * test/fixtures/releases/0.1.0 — fills a database and account objects through its API
 * (balances, flushed and unflushed charges, an open hold, a Stripe top-up, redemption codes,
 * a console session, usage rows); then `scripts/migrate.mjs`, what `npm run dev` and
 * `npm run deploy` run, adopts the database and migrates it; then this version runs on the
 * same storage. Every balance equals its ledger sum before and after, no row is lost, the
 * open hold settles, and the consoles show the same data.
 */
const root = resolve(import.meta.dirname, '../..');
const RELEASE = join(FIXTURES, 'releases/0.1.0');
const WEBHOOK_SECRET = 'whsec_upgrade';
const ADMIN = 'upgrade-admin';

let dir: string;
let stripe: Server;
let bindings: Record<string, string>;
let old: Running;
let upgraded: Running;

type Db = Awaited<ReturnType<Running['mf']['getD1Database']>>;
const rows = async (db: Db, sql: string) => (await db.prepare(sql).all()).results as Array<Record<string, unknown>>;

/** What the database holds, table by table, but the tables this version adds to. */
async function snapshot(db: Db) {
  const out: Record<string, unknown[]> = {};
  for (const table of ['accounts', 'api_keys', 'ledger', 'models', 'channels', 'topups', 'stripe_events', 'redemption_codes', 'sessions', 'usage_daily', 'audit_log']) {
    out[table] = await rows(db, `SELECT * FROM ${table} ORDER BY rowid`);
  }
  return out;
}

const accounts: Record<string, { id: string; key: string; keyId: string }> = {};
let sessionCookie: string;
let unusedCode: string;
const before: { d1: Record<string, unknown[]>; views: Record<string, any>; usage: Record<string, string[]>; balances: Record<string, number> } = {
  d1: {}, views: {}, usage: {}, balances: {},
};

const chat = (w: Running, key: string) => fetch(`${w.url}/v1/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50 }),
});

/** The account's object, as the gateway's isolates call it (RPC). */
const accountObject = (w: Running, accountId: string) =>
  w.mf.getDurableObjectNamespace('ACCOUNTS').then((ns: any) => ns.get(ns.idFromName(accountId)));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tokengate-upgrade-'));
  const stripePort = await freePort();
  stripe = await startFakeStripe(stripePort);
  bindings = {
    ADMIN_TOKEN: ADMIN, FAKE_UPSTREAM_KEY: 'sk-upstream-upgrade', STRIPE_SECRET_KEY: 'sk_test_upgrade', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: `http://127.0.0.1:${stripePort}`, PUBLIC_URL: 'http://gateway.test',
    // Charges stay in the account objects, unflushed, across the upgrade unless flushed on purpose.
    FLUSH_DELAY_SECONDS: '3600',
  };

  // ---- 0.1.0: its bundle, its schema.sql applied as it applied it, its API filling both ----
  const oldDir = join(dir, 'release-0.1.0');
  mkdirSync(oldDir);
  writeFileSync(join(oldDir, 'index.js'), gunzipSync(readFileSync(join(RELEASE, 'worker.js.gz'))));
  old = await startWorker(bindings, { migrate: false, persist: join(dir, 'state'), scriptPath: join(oldDir, 'index.js') });
  const db = await old.mf.getD1Database('DB');
  const schema = readFileSync(join(RELEASE, 'schema.sql'), 'utf8').replace(/--.*$/gm, '').split(/;\s*\n/).map((s) => s.trim()).filter(Boolean);
  await db.batch(schema.map((s) => db.prepare(s)));

  await old.admin('PUT', '/models/gpt', { input_price: 2, output_price: 8 });
  await old.admin('PUT', '/channels/gpt', {
    kind: 'openai', base_url: `${inject('upstreamUrl')}/o:/openai/chat-nonstream-text-gpt-4o.json`, api_key_secret: 'FAKE_UPSTREAM_KEY', models: { gpt: 'gpt-4o' },
  });
  for (const [name, credit] of [['alice', 10], ['bob', 3]] as const) {
    const account = await old.admin('POST', '/accounts', { email: `${name}@example.com`, credit });
    const key = await old.admin('POST', `/accounts/${account.id}/keys`, { name: `${name}'s key` });
    accounts[name] = { id: account.id, key: key.key, keyId: key.id };
  }
  // Charges: some flushed to the ledger, then more left in the objects.
  for (const name of ['alice', 'bob', 'alice']) expect((await chat(old, accounts[name]!.key)).status).toBe(200);
  await old.admin('GET', `/accounts/${accounts.alice!.id}/ledger`); // flushes alice's so far
  for (const name of ['alice', 'bob']) expect((await chat(old, accounts[name]!.key)).status).toBe(200);
  // Redemption codes: one redeemed, one not.
  const codes = (await old.admin('POST', '/redemption-codes', { count: 2, amount: 1, note: 'before the upgrade' })).data;
  const redeemed = await fetch(`${old.url}/v1/billing/redeem`, {
    method: 'POST', headers: { authorization: `Bearer ${accounts.alice!.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ code: codes[0].code }),
  });
  expect(redeemed.status).toBe(200);
  unusedCode = codes[1].code;
  // A Stripe top-up, paid.
  expect((await fetch(`${old.url}/v1/billing/checkout`, {
    method: 'POST', headers: { authorization: `Bearer ${accounts.bob!.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ amount: 10 }),
  })).status).toBe(200);
  expect((await payLastCheckout(`http://127.0.0.1:${stripePort}`, old.url, WEBHOOK_SECRET)).status).toBe(200);
  // A customer of the console, signed in.
  const signup = await fetch(`${old.url}/signup`, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams({ email: 'carol@example.com', password: 'correct horse battery' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: old.url },
  });
  expect(signup.status).toBe(303);
  sessionCookie = signup.headers.get('set-cookie')!.split(';')[0]!;
  // A request in flight across the upgrade: its hold placed by 0.1.0's object, its
  // settlement to come from an isolate still running 0.1.0's code.
  const held = await (await accountObject(old, accounts.alice!.id)).admit({
    accountId: accounts.alice!.id, requestId: 'in-flight-across-the-upgrade', model: 'gpt', amount: 5000, tokens: 100,
    key: { id: accounts.alice!.keyId, name: "alice's key", limits: { rpm: null, tpm: null, concurrency: null }, spendLimit: null, spent: 0 },
  });
  expect(held).toMatchObject({ ok: true });

  before.d1 = await snapshot(db);
  for (const [name, a] of Object.entries(accounts)) {
    before.views[name] = await old.admin('GET', `/accounts/${a.id}`);
    before.usage[name] = (await old.admin('GET', `/usage?account=${a.id}`)).data.map((r: any) => `${r.request_id} ${r.cost} ${r.status}`);
    before.balances[name] = (await rows(db, `SELECT balance FROM accounts WHERE id = '${a.id}'`))[0]!.balance as number;
  }
  expect(before.usage.alice).toHaveLength(3);
  await old.dispose();

  // ---- the upgrade, as npm run dev and npm run deploy do it ----
  const out = execFileSync(process.execPath, [join(root, 'scripts/migrate.mjs'), '--local', '--persist-to', join(dir, 'state')], {
    cwd: root, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  expect(out).toMatch(/Adopted a database made before migrations: 0001_baseline\.sql marked applied\./);

  upgraded = await startWorker(bindings, { migrate: false, persist: join(dir, 'state') });
}, 180_000);

afterAll(async () => {
  await upgraded?.dispose();
  await new Promise<void>((r) => (stripe ? stripe.close(() => r()) : r()));
});

describe('upgrading from 0.1.0', () => {
  it('records every migration, and adds what they add', async () => {
    const db = await upgraded.mf.getD1Database('DB');
    expect((await rows(db, 'SELECT name FROM d1_migrations ORDER BY id')).map((r) => r.name)).toEqual([...MIGRATIONS]);
    expect((await rows(db, "SELECT name FROM pragma_table_info('usage_hourly') WHERE name IN ('capped', 'uncharged')")).length).toBe(2);
    // 0004's prices in other units: none set on the models 0.1.0 had.
    expect(await rows(db, 'SELECT DISTINCT image_prices, character_price, audio_minute_price FROM models')).toEqual([{ image_prices: null, character_price: null, audio_minute_price: null }]);
  });

  it('loses no row: accounts, keys, ledger, prices, channels, top-ups, Stripe events, codes, sessions, daily totals, audit', async () => {
    // Every row, every value it had (columns added since are new, and their defaults aside).
    const after = await snapshot(await upgraded.mf.getD1Database('DB'));
    for (const [table, rowsBefore] of Object.entries(before.d1)) {
      expect(after[table]!.map((row: any) => Object.fromEntries(Object.keys(rowsBefore[0] ?? row).map((k) => [k, row[k]]))), table).toEqual(rowsBefore);
    }
  });

  it("keeps every account's view — balance less its open hold and unflushed charges — and its usage rows", async () => {
    for (const [name, a] of Object.entries(accounts)) {
      // Accounts made before 0005 got their trial credit at sign-up: they are counted verified.
      expect(await upgraded.admin('GET', `/accounts/${a.id}`)).toEqual({ ...before.views[name], email_verified: true });
      const rowsAfter = (await upgraded.admin('GET', `/usage?account=${a.id}`)).data as any[];
      expect(rowsAfter.map((r) => `${r.request_id} ${r.cost} ${r.status}`)).toEqual(before.usage[name]);
      // Rows 0.1.0 wrote were priced in tokens (object storage step 3's default).
      for (const r of rowsAfter) expect([r.unit, r.quantity]).toEqual(['tokens', null]);
    }
  });

  it('settles the hold 0.1.0 placed, from a 0.1.0 isolate, and flushes the charges it left: every balance is its ledger sum', async () => {
    const alice = accounts.alice!;
    await (await accountObject(upgraded, alice.id)).settle(alice.id, 'in-flight-across-the-upgrade', {
      // A receipt as 0.1.0's isolates write it.
      channel: 'gpt', input_tokens: 100, output_tokens: 200, cached_tokens: 0, cache_write_tokens: 0, cost: 3000, reported_cost: 3000, capped: false,
      status: 'success', latency_ms: 900, first_byte_ms: 100, estimated: false, created_at: new Date().toISOString(), tokens_used: 300,
    });
    const db = await upgraded.mf.getD1Database('DB');
    for (const [name, a] of Object.entries(accounts)) {
      const ledger = (await upgraded.admin('GET', `/accounts/${a.id}/ledger`)).data as Array<{ amount: number }>; // flushes first
      const balance = (await rows(db, `SELECT balance FROM accounts WHERE id = '${a.id}'`))[0]!.balance as number;
      expect(Math.round(ledger.reduce((s, r) => s + r.amount, 0) * 1e6)).toBe(balance);
      // The view is unchanged but for the hold: released, its 3000 µ$ charged.
      const view = await upgraded.admin('GET', `/accounts/${a.id}`);
      expect(Math.round(view.balance * 1e6)).toBe(Math.round(before.views[name].balance * 1e6) + (name === 'alice' ? 5000 - 3000 : 0));
      expect(balance).toBeLessThanOrEqual(before.balances[name]!);
    }
    expect((await upgraded.admin('GET', `/usage?account=${alice.id}`)).data[0]).toMatchObject({ request_id: 'in-flight-across-the-upgrade', cost: 0.003 });
  });

  it('serves the same customers: keys, the console session, an unused code', async () => {
    expect((await chat(upgraded, accounts.bob!.key)).status).toBe(200);
    const console = await fetch(`${upgraded.url}/console`, { headers: { cookie: sessionCookie } });
    expect(console.status).toBe(200);
    expect(await console.text()).toMatch(/Balance[\s\S]*\$1\.00/); // her sign-up credit
    const redeemed = await fetch(`${upgraded.url}/v1/billing/redeem`, {
      method: 'POST', headers: { authorization: `Bearer ${accounts.bob!.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ code: unusedCode }),
    });
    expect(await redeemed.json()).toMatchObject({ credited: 1 });
    const operator = await fetch(`${upgraded.url}/health`);
    expect(await operator.json()).toMatchObject({ status: 'ok', version: '0.3.0' });
  });

  it('running the upgrade again changes nothing', () => {
    const out = execFileSync(process.execPath, [join(root, 'scripts/migrate.mjs'), '--local', '--persist-to', join(dir, 'state')], {
      cwd: root, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    });
    expect(out).not.toMatch(/Adopted/);
    expect(out).toMatch(/No migrations to apply/);
  });
});
