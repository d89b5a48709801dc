import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readD1Migrations } from '@cloudflare/vitest-plugin';

const migrations = await readD1Migrations(join(dirname(fileURLToPath(import.meta.url)), '..', 'migrations'));

/** A fresh database as `wrangler d1 migrations apply` leaves it: every migration, each
 *  recorded in d1_migrations (the worker serves nothing without them). */
export const migrate = (db) => db.batch([
  'CREATE TABLE d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)',
  ...migrations.flatMap((m) => [...m.queries, `INSERT INTO d1_migrations (name) VALUES ('${m.name}')`]),
].map((q) => db.prepare(q)));
