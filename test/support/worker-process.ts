import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Miniflare } from 'miniflare';
import { schemaStatements } from './schema.ts';

const root = resolve(import.meta.dirname, '../..');

/**
 * The whole worker, as `wrangler deploy` would bundle it, running in workerd through
 * Miniflare on 127.0.0.1 with a fresh local D1 and the schema applied.
 */
export async function startWorker(bindings: Record<string, string>): Promise<{ url: string; dispose: () => Promise<void> }> {
  const outdir = mkdtempSync(join(tmpdir(), 'tokengate-build-'));
  execFileSync(join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', outdir], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    stdio: 'pipe',
  });
  const mf = new Miniflare({
    modules: true,
    modulesRoot: outdir,
    scriptPath: join(outdir, 'index.js'),
    compatibilityDate: '2026-04-01',
    compatibilityFlags: ['enable_request_signal'],
    d1Databases: ['DB'],
    durableObjects: { ACCOUNTS: { className: 'AccountState', useSQLite: true }, ATTEMPTS: { className: 'AttemptLimiter', useSQLite: true } },
    bindings,
    host: '127.0.0.1',
    port: 0,
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const db = await mf.getD1Database('DB');
  await db.batch(schemaStatements().map((s) => db.prepare(s)));
  return { url, dispose: () => mf.dispose() };
}
