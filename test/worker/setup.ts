import { applyD1Migrations, type D1Migration } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterAll, beforeAll } from 'vitest';
import { flushAccounts } from './helpers';

// Brings the test D1 to this version's schema before each test file, as `wrangler d1
// migrations apply` does (already applied migrations are skipped).
beforeAll(async () => {
  const e = env as unknown as { DB: D1Database; MIGRATIONS: D1Migration[] };
  await applyD1Migrations(e.DB, e.MIGRATIONS);
});

afterAll(flushAccounts);
