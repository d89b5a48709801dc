import { env } from 'cloudflare:workers';
import { afterAll, beforeAll } from 'vitest';
import { flushAccounts } from './helpers';

// Applies schema.sql (idempotent) to the test D1 before each test file.
beforeAll(async () => {
  const db = (env as unknown as { DB: D1Database }).DB;
  const statements = (env as unknown as { SCHEMA: string[] }).SCHEMA;
  await db.batch(statements.map((s) => db.prepare(s)));
});

afterAll(flushAccounts);
