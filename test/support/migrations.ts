import { resolve } from 'node:path';
import { readD1Migrations, type D1Migration } from '@cloudflare/vitest-plugin';
import type { Miniflare } from 'miniflare';

type D1Database = Awaited<ReturnType<Miniflare['getD1Database']>>;

export const MIGRATIONS_DIR = resolve(import.meta.dirname, '../../migrations');

/** The project's migrations, as wrangler reads them (name, statements). */
export const readMigrations = (): Promise<D1Migration[]> => readD1Migrations(MIGRATIONS_DIR);

/**
 * Applies the migrations `db` lacks as `wrangler d1 migrations apply` does: each in one batch
 * (one transaction) together with its row in d1_migrations. For a database in Miniflare,
 * from Node; the worker tests use cloudflare:test's applyD1Migrations, which does the same.
 */
export async function applyMigrations(db: D1Database, migrations: D1Migration[]): Promise<void> {
  await db.prepare('CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)').run();
  const applied = new Set((await db.prepare('SELECT name FROM d1_migrations').all<{ name: string }>()).results.map((r: { name: string }) => r.name));
  for (const m of migrations) {
    if (applied.has(m.name)) continue;
    await db.batch([...m.queries.map((q) => db.prepare(q)), db.prepare('INSERT INTO d1_migrations (name) VALUES (?)').bind(m.name)]);
  }
}
