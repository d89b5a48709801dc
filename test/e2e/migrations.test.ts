import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Miniflare } from 'miniflare';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, missingMigrations } from '../../src/db/migrations.ts';
import { applyMigrations, MIGRATIONS_DIR, readMigrations } from '../support/migrations.ts';
import { LOCAL_DATABASE_ID, startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * D1 migrations (migrations/): never edited once applied, together the whole schema.sql,
 * each one transaction — one that fails halfway leaves the database as it was — and the
 * worker serves nothing from a database that lacks one, naming it instead.
 */

/** Every migration that has shipped, by its SHA-256: a change to one fails here. Add the
 *  next one's line with the file; never change a line. */
const APPLIED: Record<string, string> = {
  '0001_baseline.sql': 'c7e0f3fa8c7e397c5096dcbcd9a89f527353796e5cd8eb333995ed253007f365',
  '0002_capped_charges.sql': 'eb76c4bb823419ebe320b4f71cd366d25be447a88837710695a1a7fe8a8c4d75',
  '0003_provider_keys.sql': 'ba39e587d833d8ac236740a58794e67c4c0fc384e126753e5daebe99241dfa80',
  '0004_unit_prices.sql': 'b2bd52d4b9fc74d3b2344610d951acabd2a0d29ba9a3a7e095508b73e7be896e',
  '0005_email_identity.sql': 'd5150fac06930ea67a08508cfab58c2f376ed5a43954b16fcbe27aabca9b6d09',
  '0006_sign_in_methods.sql': '7620ffdcfd946eb462494d58488f1801969bdb49fedd5e739439b25b9d700f4a',
};

type Db = Awaited<ReturnType<Miniflare['getD1Database']>>;
const workers: RunningWorker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.dispose()));
});

/** A database's schema as structure: per table its columns, indexes, foreign keys and CHECKs. */
async function structure(db: Db) {
  const rows = async <T>(sql: string) => (await db.prepare(sql).all<T>()).results as T[];
  const tables = await rows<{ name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT IN ('d1_migrations', 'sqlite_sequence', '_cf_KV') AND name NOT LIKE '_cf_%' ORDER BY name");
  const out: Record<string, unknown> = {};
  for (const t of tables) {
    const indexes = await rows<{ name: string; unique: number; origin: string }>(`SELECT name, "unique", origin FROM pragma_index_list('${t.name}') ORDER BY name`);
    out[t.name] = {
      columns: await rows(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info('${t.name}') ORDER BY cid`),
      indexes: await Promise.all(indexes.map(async (i) => ({
        unique: i.unique, origin: i.origin, name: i.origin === 'c' ? i.name : '(constraint)',
        columns: (await rows<{ name: string }>(`SELECT name FROM pragma_index_info('${i.name}') ORDER BY seqno`)).map((c) => c.name),
      }))),
      foreignKeys: await rows(`SELECT "table", "from", "to" FROM pragma_foreign_key_list('${t.name}') ORDER BY id`),
      checks: [...t.sql.replace(/--[^\n]*/g, '').matchAll(/CHECK\s*\(((?:[^()]|\([^()]*\))*)\)/gi)].map((m) => m[1]!.replace(/\s+/g, ' ').trim()).sort(),
    };
  }
  return out;
}

/** Every row of every table, for "nothing changed". */
async function dump(db: Db): Promise<Record<string, unknown[]>> {
  const tables = (await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' ORDER BY name").all<{ name: string }>()).results;
  const out: Record<string, unknown[]> = {};
  for (const { name } of tables) out[name] = (await db.prepare(`SELECT * FROM "${name}"`).all()).results;
  return out;
}

describe('the migrations directory', () => {
  it('keeps every shipped migration as it was applied', () => {
    const files = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort();
    expect(files).toEqual(Object.keys(APPLIED));
    for (const file of files) {
      expect(createHash('sha256').update(readFileSync(join(MIGRATIONS_DIR, file))).digest('hex'), `${file} changed after it shipped`).toBe(APPLIED[file]);
    }
  });

  it('is what the worker requires, in order', () => {
    expect([...MIGRATIONS]).toEqual(Object.keys(APPLIED));
  });

  it('gives exactly the schema schema.sql describes: tables, columns, indexes, foreign keys and CHECKs', async () => {
    const mf = new Miniflare({ modules: true, script: 'export default {}', d1Databases: ['MIGRATED', 'DESCRIBED'], compatibilityDate: '2026-04-01' });
    try {
      const migrated = await mf.getD1Database('MIGRATED');
      await applyMigrations(migrated, await readMigrations());
      const described = await mf.getD1Database('DESCRIBED');
      const schema = readFileSync(resolve(MIGRATIONS_DIR, '../schema.sql'), 'utf8').replace(/--[^\n]*/g, '').split(';').map((s) => s.trim()).filter(Boolean);
      await described.batch(schema.map((s) => described.prepare(s)));
      const expected = await structure(described);
      expect(Object.keys(expected).length).toBeGreaterThan(10);
      expect(await structure(migrated)).toEqual(expected);
    } finally {
      await mf.dispose();
    }
  });
});

describe('a migration that fails', () => {
  it('leaves the database as it was, and the worker refuses to serve, naming the migration, until it is applied', async () => {
    const worker = await startWorker({ ADMIN_TOKEN: 'a' }, { migrate: false });
    workers.push(worker);
    const db = await worker.mf.getD1Database('DB');
    const [baseline, capped] = await readMigrations();
    await applyMigrations(db, [baseline!]);
    await db.batch([
      db.prepare("INSERT INTO accounts (id, email, balance, created_at) VALUES ('acct_1', 'a@example.com', 5000000, '2026-01-01T00:00:00.000Z')"),
      db.prepare("INSERT INTO ledger (account_id, kind, amount, balance_after, created_at) VALUES ('acct_1', 'adjustment', 5000000, 5000000, '2026-01-01T00:00:00.000Z')"),
      db.prepare("INSERT INTO usage_hourly (hour, model, channel, requests) VALUES ('2026-01-01T00', 'm', 'c', 3)"),
    ]);
    const before = await dump(db);

    // 0002's own statements, then one that fails (a ledger kind its CHECK refuses): halfway.
    const failing = { name: capped!.name, queries: [...capped!.queries, "INSERT INTO ledger (account_id, kind, amount, balance_after, created_at) VALUES ('acct_1', 'bogus', 1, 1, 'x')"] };
    await expect(applyMigrations(db, [baseline!, failing])).rejects.toThrow(/CHECK constraint failed/);
    expect(await dump(db)).toEqual(before);
    expect((await db.prepare("SELECT name FROM pragma_table_info('usage_hourly') WHERE name = 'capped'").all()).results).toEqual([]);

    const refused = await fetch(`${worker.url}/v1/models`, { headers: { authorization: 'Bearer sk-whatever' } });
    expect(refused.status).toBe(503);
    const { error } = (await refused.json()) as any;
    expect(error).toMatchObject({ type: 'api_error', code: 'database_not_migrated' });
    expect(error.message).toContain('0002_capped_charges.sql');
    expect(refused.headers.get('x-should-retry')).toBe('false');
    expect((await fetch(`${worker.url}/operator`)).status).toBe(503);
    // Liveness and the version stay readable.
    expect(await (await fetch(`${worker.url}/health`)).json()).toEqual({ status: 'ok', version: JSON.parse(readFileSync(resolve(MIGRATIONS_DIR, '../package.json'), 'utf8')).version });

    await applyMigrations(db, await readMigrations());
    expect((await worker.admin('GET', '/accounts/acct_1')).balance).toBe(5);
  });
});

describe('adopting a database made before migrations', () => {
  it('brings one an older version made to the baseline — a missing column, an old CHECK, missing tables — keeping every row', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokengate-adopt-'));
    const open = () => new Miniflare({
      modules: true, script: 'export default {}', compatibilityDate: '2026-04-01',
      d1Databases: { DB: LOCAL_DATABASE_ID }, d1Persist: join(dir, 'v3', 'd1'),
    });
    // An early schema.sql: no cache_write_price, no channels.responses, a ledger CHECK without
    // 'redemption', and neither usage_hourly nor audit_log yet.
    const early = readFileSync(resolve(MIGRATIONS_DIR, '0001_baseline.sql'), 'utf8')
      .replace(/^\s*cache_write_price[^\n]*\n/m, '')
      .replace(/^\s*responses\s+INTEGER[^\n]*\n/m, '')
      .replace(", 'refund', 'redemption'))", ", 'refund'))")
      .replace(/--[^\n]*/g, '').split(';').map((q) => q.trim()).filter((q) => q && !/usage_hourly|audit_log/.test(q));
    let mf = open();
    let db = await mf.getD1Database('DB');
    await db.batch(early.map((q) => db.prepare(q)));
    expect(early.join(' ')).not.toMatch(/cache_write_price|'redemption'|usage_hourly/);
    await db.batch([
      db.prepare("INSERT INTO accounts (id, email, balance, created_at) VALUES ('acct_early', 'early@example.com', 4000000, '2026-11-22T00:00:00.000Z')"),
      db.prepare("INSERT INTO ledger (account_id, kind, amount, balance_after, created_at) VALUES ('acct_early', 'signup', 5000000, 5000000, '2026-11-22T00:00:00.000Z')"),
      db.prepare("INSERT INTO ledger (account_id, kind, amount, balance_after, request_id, created_at) VALUES ('acct_early', 'hold', -1000000, 4000000, 'r1', '2026-11-22T00:01:00.000Z')"),
      db.prepare("INSERT INTO models (id, input_price, output_price, created_at) VALUES ('gpt', 2000000, 8000000, '2026-11-22T00:00:00.000Z')"),
      db.prepare("INSERT INTO channels (id, kind, base_url, api_key_secret, models, updated_at) VALUES ('c', 'openai', 'https://api.openai.com/v1', 'K', '{}', 'x')"),
    ]);
    const ledger = await db.prepare('SELECT * FROM ledger ORDER BY id').all();
    await mf.dispose();

    const out = execFileSync(process.execPath, [resolve(MIGRATIONS_DIR, '../scripts/migrate.mjs'), '--local', '--persist-to', dir], {
      cwd: resolve(MIGRATIONS_DIR, '..'), encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    });
    expect(out).toMatch(/rebuilt to it: models, channels, ledger/);

    mf = open();
    db = await mf.getD1Database('DB');
    try {
      const fresh = new Miniflare({ modules: true, script: 'export default {}', d1Databases: ['FRESH'], compatibilityDate: '2026-04-01' });
      const freshDb = await fresh.getD1Database('FRESH');
      await applyMigrations(freshDb, await readMigrations());
      expect(await structure(db)).toEqual(await structure(freshDb));
      await fresh.dispose();
      expect(await db.prepare('SELECT * FROM ledger ORDER BY id').all()).toMatchObject({ results: ledger.results });
      expect(await db.prepare('SELECT id, cache_write_price FROM models').all()).toMatchObject({ results: [{ id: 'gpt', cache_write_price: null }] });
      expect(await db.prepare('SELECT responses FROM channels').all()).toMatchObject({ results: [{ responses: 1 }] });
      // The CHECK it lacked now holds: a redemption row is accepted.
      await db.prepare("INSERT INTO ledger (account_id, kind, amount, balance_after, request_id, created_at) VALUES ('acct_early', 'redemption', 1, 4000001, 'rc_1', 'x')").run();
      expect(await missingMigrations(db)).toEqual([]);
    } finally {
      await mf.dispose();
    }
  });
});
