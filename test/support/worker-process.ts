import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { inject } from 'vitest';
import { schemaStatements } from './schema.ts';

export interface RunningWorker {
  url: string;
  /** Calls the admin API with the worker's ADMIN_TOKEN; throws on any status but 2xx. */
  admin: (method: string, path: string, body?: unknown) => Promise<any>;
  dispose: () => Promise<void>;
}

/**
 * The whole worker, as `wrangler deploy` would bundle it, running in workerd through
 * Miniflare on 127.0.0.1 with a fresh local D1 and the schema applied.
 */
export async function startWorker(bindings: Record<string, string>): Promise<RunningWorker> {
  const outdir = inject('bundleDir');
  const mf = new Miniflare({
    modules: true,
    modulesRoot: outdir,
    scriptPath: join(outdir, 'index.js'),
    compatibilityDate: '2026-04-01',
    compatibilityFlags: ['enable_request_signal'],
    d1Databases: ['DB'],
    durableObjects: {
      ACCOUNTS: { className: 'AccountState', useSQLite: true },
      ATTEMPTS: { className: 'AttemptLimiter', useSQLite: true },
      HEALTH: { className: 'ChannelHealth', useSQLite: true },
    },
    bindings,
    host: '127.0.0.1',
    port: 0,
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const db = await mf.getD1Database('DB');
  await db.batch(schemaStatements().map((s) => db.prepare(s)));
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${bindings.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? null : res.json();
  };
  return { url, admin, dispose: () => mf.dispose() };
}
