/**
 * The D1 migrations (migrations/) this version's code needs, in order. The worker serves
 * only a database that has every one of them applied, so it never writes to a schema it
 * does not know — a deployment whose migration failed answers 503 naming it instead. A
 * test holds this list to the directory.
 */
export const MIGRATIONS = ['0001_baseline.sql', '0002_capped_charges.sql', '0003_provider_keys.sql', '0004_unit_prices.sql', '0005_email_identity.sql', '0006_sign_in_methods.sql'] as const;

/** What of D1's binding this needs (so that tests in Node can ask Miniflare's too). */
interface Queryable {
  prepare(query: string): { all<T = Record<string, unknown>>(): Promise<{ results: T[] }> };
}

/** The migrations the database lacks, in order ([] when it has them all). */
export async function missingMigrations(db: Queryable): Promise<string[]> {
  let applied: string[];
  try {
    applied = (await db.prepare('SELECT name FROM d1_migrations').all<{ name: string }>()).results.map((r: { name: string }) => r.name);
  } catch (err) {
    // Never migrated (a database made before migrations, or a new one): nothing applied.
    if (!/no such table/.test(String(err))) throw err;
    applied = [];
  }
  return MIGRATIONS.filter((m) => !applied.includes(m));
}
