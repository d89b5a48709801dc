import { dirname, join } from 'node:path';
import { Miniflare } from 'miniflare';
import { inject } from 'vitest';
import { applyMigrations, readMigrations } from './migrations.ts';

/** wrangler.toml's database_id, under which wrangler keeps the local database. */
export const LOCAL_DATABASE_ID = '00000000-0000-0000-0000-000000000000';

export interface RunningWorker {
  url: string;
  /** Calls the admin API with the worker's ADMIN_TOKEN; throws on any status but 2xx. */
  admin: (method: string, path: string, body?: unknown) => Promise<any>;
  dispose: () => Promise<void>;
}

/**
 * The whole worker, as `wrangler deploy` would bundle it, running in workerd through
 * Miniflare on 127.0.0.1 with a fresh local D1, migrated.
 */
export async function startWorker(
  bindings: Record<string, string>,
  o: { migrate?: boolean; persist?: string; scriptPath?: string; onLog?: (text: string) => void; port?: number; inspectorPort?: number } = {},
): Promise<RunningWorker & { mf: Miniflare }> {
  const outdir = inject('bundleDir');
  const mf = new Miniflare({
    modules: true,
    modulesRoot: o.scriptPath ? dirname(o.scriptPath) : outdir,
    scriptPath: o.scriptPath ?? join(outdir, 'index.js'),
    compatibilityDate: '2026-04-01',
    compatibilityFlags: ['enable_request_signal'],
    // The id wrangler.toml names: a persisted database is the one `wrangler d1 … --local --persist-to` reaches.
    d1Databases: { DB: LOCAL_DATABASE_ID },
    ...(o.persist ? { d1Persist: join(o.persist, 'v3', 'd1'), durableObjectsPersist: join(o.persist, 'v3', 'do') } : {}),
    durableObjects: {
      ACCOUNTS: { className: 'AccountState', useSQLite: true },
      ATTEMPTS: { className: 'AttemptLimiter', useSQLite: true },
      HEALTH: { className: 'ChannelHealth', useSQLite: true },
    },
    bindings,
    // Everything the worker logs, for a test to read (and still on the test's output).
    ...(o.onLog ? {
      handleRuntimeStdio: (stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) => {
        for (const stream of [stdout, stderr]) stream.on('data', (chunk: Buffer) => {
          o.onLog!(chunk.toString('utf8'));
          process.stdout.write(chunk);
        });
      },
    } : {}),
    host: '127.0.0.1',
    port: o.port ?? 0,
    // V8's inspector, on 127.0.0.1 as well, for a test that reads the isolate's heap (heap.test.ts).
    ...(o.inspectorPort ? { inspectorPort: o.inspectorPort } : {}),
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  if (o.migrate ?? true) await applyMigrations(await mf.getD1Database('DB'), await readMigrations());
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${bindings.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? null : res.json();
  };
  return { url, admin, mf, dispose: () => mf.dispose() };
}
