#!/usr/bin/env node
// Brings the D1 database to this version's schema, losing nothing:
//   node scripts/migrate.mjs --local [--persist-to DIR]   (npm run dev, npm run migrate)
//   node scripts/migrate.mjs --remote                     (npm run deploy, before the code goes live)
//
// 1. A database made before migrations existed (Tokengate 0.1.0 and older applied schema.sql
//    on every start) is adopted: in one transaction, whatever table an older version left
//    missing or defined otherwise is brought to migrations/0001_baseline.sql (a table that
//    differs is rebuilt, its rows copied), and 0001 is recorded as applied. Never wiped.
// 2. `wrangler d1 migrations apply` applies the rest, each file in one transaction.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATABASE = 'tokengate';
const BASELINE = '0001_baseline.sql';
const wrangler = join(root, 'node_modules', '.bin', 'wrangler');
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: process.env.CI ?? 'true' };

const args = process.argv.slice(2);
const where = args.includes('--remote') ? ['--remote'] : ['--local'];
const persist = args.indexOf('--persist-to');
if (persist !== -1) where.push('--persist-to', args[persist + 1]);

function run(wranglerArgs, what) {
  const result = spawnSync(wrangler, wranglerArgs, { cwd: root, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    process.stderr.write(`${result.stdout}${result.stderr}\n`);
    throw new Error(`${what} failed (wrangler ${wranglerArgs.slice(0, 3).join(' ')} …)`);
  }
  return result.stdout;
}

/** Rows of one read-only query. */
function query(sql) {
  const out = run(['d1', 'execute', DATABASE, ...where, '--json', '--command', sql], 'reading the database');
  return JSON.parse(out.slice(out.indexOf('[')))[0].results;
}

/** A CREATE statement as SQLite keeps it, comments and spacing aside, for comparing definitions. */
const normalise = (sql) => sql.replace(/--[^\n]*/g, '').replace(/\bIF NOT EXISTS\b/gi, '').replace(/\s+/g, ' ').replace(/\s*([(),])\s*/g, '$1').trim().toLowerCase();

/** The statements of a migration file (no statement holds a ';' inside a string). */
const statements = (file) => readFileSync(join(root, 'migrations', file), 'utf8').replace(/--[^\n]*/g, '').split(';').map((s) => s.trim()).filter(Boolean);

function adopt() {
  const tables = new Map(query("SELECT name, sql FROM sqlite_master WHERE type = 'table'").map((t) => [t.name, t.sql]));
  if (!tables.has('accounts')) return false; // a new database: every migration applies from 0001
  if (tables.has('d1_migrations') && query('SELECT name FROM d1_migrations').some((m) => m.name === BASELINE)) return false;
  const baseline = statements(BASELINE);
  const steps = ['PRAGMA defer_foreign_keys = true'];
  const rebuilt = [];
  for (const create of baseline.filter((s) => /^CREATE TABLE/i.test(s))) {
    const name = /^CREATE TABLE IF NOT EXISTS (\w+)/i.exec(create)[1];
    const existing = tables.get(name);
    if (existing === undefined || normalise(existing) === normalise(create)) continue;
    // Defined otherwise by an older version (a column or a CHECK it lacked): rebuilt to the
    // baseline's definition, its rows copied in the columns both have.
    const columns = query(`SELECT name FROM pragma_table_info('${name}')`).map((c) => c.name);
    const wanted = new Set([...create.matchAll(/^\s*(\w+)\s+(?:TEXT|INTEGER|REAL|BLOB)/gim)].map((m) => m[1].toLowerCase()));
    const shared = columns.filter((c) => wanted.has(c.toLowerCase())).join(', ');
    steps.push(create.replace(/^CREATE TABLE IF NOT EXISTS (\w+)/i, `CREATE TABLE ${name}__adopted`),
      `INSERT INTO ${name}__adopted (${shared}) SELECT ${shared} FROM ${name}`, `DROP TABLE ${name}`, `ALTER TABLE ${name}__adopted RENAME TO ${name}`);
    rebuilt.push(name);
  }
  steps.push(...baseline.filter((s) => !/^CREATE TABLE/i.test(s) || !tables.has(/^CREATE TABLE IF NOT EXISTS (\w+)/i.exec(s)[1])));
  steps.push(
    'CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)',
    `INSERT INTO d1_migrations (name) VALUES ('${BASELINE}')`,
  );
  run(['d1', 'execute', DATABASE, ...where, '--command', steps.map((s) => `${s};`).join('\n')], 'adopting the database');
  console.log(`Adopted a database made before migrations: ${BASELINE} marked applied${rebuilt.length ? `; rebuilt to it: ${rebuilt.join(', ')}` : ''}.`);
  return true;
}

try {
  adopt();
  process.stdout.write(run(['d1', 'migrations', 'apply', DATABASE, ...where], 'applying migrations'));
  console.log(`The ${where[0] === '--remote' ? 'remote' : 'local'} database is migrated.`);
} catch (err) {
  console.error(`${err.message}. Nothing was lost: a migration that fails leaves the database as it was. The gateway answers 503 naming the migration until it is applied.`);
  process.exit(1);
}
