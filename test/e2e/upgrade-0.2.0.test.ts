import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MIGRATIONS } from '../../src/db/migrations.ts';
import { FIXTURES } from '../support/fake-upstream.ts';
import { applyMigrations, readMigrations } from '../support/migrations.ts';
import { startWorker } from '../support/worker-process.ts';

type Running = Awaited<ReturnType<typeof startWorker>>;

/**
 * An upgrade from 0.2.0 — its real bundle, kept in test/fixtures/releases/0.2.0, with the
 * four migrations it shipped — to this version's 0005 (verified addresses, e-mailed links)
 * and 0006 (sign-in methods, two-factor, named operators). 0.2.0 fills the database: an
 * account made by the operator, one signed up in the console (its trial credit granted at
 * sign-up, as 0.2.0 did), another signed up and never credited (SIGNUP_CREDIT was 0 then),
 * a provider key sealed in the vault, a customer session and an operator session. After
 * `scripts/migrate.mjs`: no row lost, every account counted verified, the trial credit never
 * granted twice, both sessions still open their consoles, the sealed key still serves, and
 * the new tables are there and empty.
 */
const root = resolve(import.meta.dirname, '../..');
const RELEASE = join(FIXTURES, 'releases/0.2.0');
const ADMIN = 'upgrade-020-admin';
const TAG = `upgrade-020-${Date.now()}`;

let dir: string;
let bindings: Record<string, string>;
let upgraded: Running;

type Db = Awaited<ReturnType<Running['mf']['getD1Database']>>;
const rows = async (db: Db, sql: string) => (await db.prepare(sql).all()).results as Array<Record<string, unknown>>;
const TABLES = ['accounts', 'api_keys', 'ledger', 'models', 'channels', 'provider_keys', 'sessions', 'audit_log', 'usage_daily'];

const before: { d1: Record<string, unknown[]>; views: Record<string, unknown> } = { d1: {}, views: {} };
const ids: Record<string, string> = {};
let apiKey = '';
let customerCookie = '';
let operatorCookie = '';

const form = (w: Running, path: string, fields: Record<string, string>, cookie?: string) => fetch(`${w.url}${path}`, {
  method: 'POST', redirect: 'manual', body: new URLSearchParams(fields),
  headers: { 'content-type': 'application/x-www-form-urlencoded', origin: w.url, ...(cookie ? { cookie } : {}) },
});
const chat = (w: Running) => fetch(`${w.url}/v1/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50 }),
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tokengate-upgrade-020-'));
  bindings = { ADMIN_TOKEN: ADMIN, PUBLIC_URL: 'http://gateway.test', PROVIDER_KEYS_KEK: `k1:${randomBytes(32).toString('base64')}`, FLUSH_DELAY_SECONDS: '1' };
  const oldDir = join(dir, 'release-0.2.0');
  mkdirSync(oldDir);
  writeFileSync(join(oldDir, 'index.js'), gunzipSync(readFileSync(join(RELEASE, 'worker.js.gz'))));

  // ---- 0.2.0 with the migrations it shipped, filled through its own API ----
  const old = await startWorker({ ...bindings, SIGNUP_CREDIT: '0' }, { migrate: false, persist: join(dir, 'state'), scriptPath: join(oldDir, 'index.js') });
  const db = await old.mf.getD1Database('DB');
  await applyMigrations(db, (await readMigrations()).filter((m) => m.name < '0005'));
  expect((await (await fetch(`${old.url}/health`)).json())).toMatchObject({ version: '0.2.0' });
  await old.admin('PUT', '/models/gpt', { input_price: 2, output_price: 8 });
  await old.admin('PUT', '/channels/gpt', { kind: 'openai', base_url: `${inject('upstreamUrl')}/o:id=${TAG}/openai/chat-nonstream-text-gpt-4o.json`, models: { gpt: 'gpt-4o' } });
  await old.admin('POST', '/channels/gpt/keys', { keys: ['sk-sealed-by-0.2.0-0123456789'] });
  const made = await old.admin('POST', '/accounts', { email: 'made@example.com', credit: 5 });
  ids.made = made.id;
  apiKey = (await old.admin('POST', `/accounts/${made.id}/keys`, { name: 'made key' })).key;
  expect((await chat(old)).status).toBe(200);
  // A sign-up with no trial credit (SIGNUP_CREDIT 0), signed in.
  const signup = await form(old, '/signup', { email: 'nocredit@example.com', password: 'correct horse battery' });
  expect(signup.status).toBe(303);
  customerCookie = signup.headers.get('set-cookie')!.split(';')[0]!;
  await old.dispose();
  // A sign-up when SIGNUP_CREDIT was 2: credited at sign-up, as 0.2.0 did.
  const credited = await startWorker({ ...bindings, SIGNUP_CREDIT: '2' }, { migrate: false, persist: join(dir, 'state'), scriptPath: join(oldDir, 'index.js') });
  expect((await form(credited, '/signup', { email: 'credited@example.com', password: 'correct horse battery' })).status).toBe(303);
  const op = await form(credited, '/operator/login', { token: ADMIN });
  expect(op.status).toBe(303);
  operatorCookie = op.headers.get('set-cookie')!.split(';')[0]!;
  const cdb = await credited.mf.getD1Database('DB');
  for (const email of ['nocredit', 'credited']) ids[email] = (await rows(cdb, `SELECT id FROM accounts WHERE email = '${email}@example.com'`))[0]!.id as string;
  await credited.admin('GET', `/accounts/${ids.made}/ledger`); // flushes the charge
  for (const t of TABLES) before.d1[t] = await rows(cdb, `SELECT * FROM ${t} ORDER BY rowid`);
  for (const [name, id] of Object.entries(ids)) before.views[name] = await credited.admin('GET', `/accounts/${id}`);
  await credited.dispose();

  // ---- the upgrade, as npm run dev and npm run deploy do it ----
  const out = execFileSync(process.execPath, [join(root, 'scripts/migrate.mjs'), '--local', '--persist-to', join(dir, 'state')], {
    cwd: root, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  expect(out).toMatch(/0005_email_identity\.sql/);
  expect(out).toMatch(/0006_sign_in_methods\.sql/);
  upgraded = await startWorker({ ...bindings, SIGNUP_CREDIT: '2' }, { migrate: false, persist: join(dir, 'state') });
}, 180_000);

afterAll(async () => {
  await upgraded?.dispose();
});

describe('upgrading from 0.2.0', () => {
  it('applies 0005 and 0006, keeping every row and value', async () => {
    const db = await upgraded.mf.getD1Database('DB');
    expect((await rows(db, 'SELECT name FROM d1_migrations ORDER BY id')).map((r) => r.name)).toEqual([...MIGRATIONS]);
    for (const [table, rowsBefore] of Object.entries(before.d1)) {
      const after = await rows(db, `SELECT * FROM ${table} ORDER BY rowid`);
      expect(after.map((row) => Object.fromEntries(Object.keys(rowsBefore[0] ?? row).map((k) => [k, row[k]]))), table).toEqual(rowsBefore);
    }
    for (const t of ['email_links', 'operators', 'second_factors', 'recovery_codes', 'login_challenges', 'oauth_identities']) {
      expect(await rows(db, `SELECT * FROM ${t}`), t).toEqual([]);
    }
  });

  it('counts every earlier account verified, and never grants a trial credit twice', async () => {
    for (const [name, id] of Object.entries(ids)) {
      expect(await upgraded.admin('GET', `/accounts/${id}`)).toEqual({ ...(before.views[name] as object), email_verified: true });
    }
    const db = await upgraded.mf.getD1Database('DB');
    // None is owed one: credited at sign-up, made by the operator, or signed up when there
    // was no trial credit (a sign-up took what there was).
    expect((await rows(db, 'SELECT trial_credit_at IS NOT NULL AS granted FROM accounts')).map((r) => r.granted)).toEqual([1, 1, 1]);
    for (const id of Object.values(ids)) await upgraded.admin('POST', `/accounts/${id}/verify-email`);
    const signups = await rows(db, "SELECT account_id FROM ledger WHERE kind = 'signup'");
    expect(signups.map((r) => r.account_id)).toEqual([ids.credited]);
  });

  it('keeps the sessions 0.2.0 opened, and the provider key it sealed', async () => {
    expect((await fetch(`${upgraded.url}/console/keys`, { headers: { cookie: customerCookie }, redirect: 'manual' })).status).toBe(200);
    // With no named operator yet, the admin token's session still opens the console.
    expect((await fetch(`${upgraded.url}/operator`, { headers: { cookie: operatorCookie }, redirect: 'manual' })).status).toBe(200);
    expect((await chat(upgraded)).status).toBe(200);
    const keys = (await upgraded.admin('GET', '/channels/gpt/keys')).data;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ key: '…6789', state: 'enabled' });
    // The key 0.2.0 sealed opens under this version's vault: it went upstream, before and after.
    const sent = (await (await fetch(`${inject('upstreamUrl')}/__requests?id=${TAG}`)).json()) as Array<{ headers: Record<string, string> }>;
    expect(sent.map((r) => r.headers.authorization)).toEqual(['Bearer sk-sealed-by-0.2.0-0123456789', 'Bearer sk-sealed-by-0.2.0-0123456789']);
    expect(await (await fetch(`${upgraded.url}/health`)).json()).toMatchObject({ status: 'ok', version: '0.3.0' });
  });
});
