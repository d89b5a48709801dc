// The bench's workerd processes (through Miniflare): started on 127.0.0.1, found by pid, and
// their CPU and memory read from /proc, and the bench's account on them — shared by
// bench/run.mjs, bench/ab.mjs and bench/profile.mjs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { migrate } from './migrate.mjs';

const root = new URL('..', import.meta.url).pathname;

/** The bundle `wrangler deploy` would ship from `cwd` (this checkout, or another one). */
export function build({ cwd = root, minify = false, entry = [] } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'tokengate-bench-'));
  execFileSync(join(root, 'node_modules/.bin/wrangler'), ['deploy', ...entry, '--dry-run', '--outdir', outdir, ...(minify ? ['--minify'] : [])], {
    cwd, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, stdio: 'pipe',
  });
  return outdir;
}

const workerdPids = () =>
  new Set(readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'workerd' && readFileSync(`/proc/${p}/stat`, 'utf8').split(' ')[3] === String(process.pid);
    } catch {
      return false;
    }
  }));

export async function startMiniflare(options) {
  const before = workerdPids();
  const mf = new Miniflare({ host: '127.0.0.1', port: 0, compatibilityDate: '2026-04-01', compatibilityFlags: ['enable_request_signal'], ...options });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const pid = [...workerdPids()].find((p) => !before.has(p));
  return { mf, url, pid };
}

/** The gateway's bundle in `dir` with its bindings, as `wrangler dev` would run it. */
export const gatewayOptions = (dir, script = 'index.js') => ({
  modules: true,
  modulesRoot: dir,
  scriptPath: join(dir, script),
  d1Databases: ['DB'],
  durableObjects: { ACCOUNTS: { className: 'AccountState', useSQLite: true }, ATTEMPTS: { className: 'AttemptLimiter', useSQLite: true }, HEALTH: { className: 'ChannelHealth', useSQLite: true } },
  bindings: { ADMIN_TOKEN: 'bench-admin', BENCH_UPSTREAM_KEY: 'sk-bench-upstream', UPSTREAM_IDLE_TIMEOUT_MS: '60000' },
});

/** One of the bench's baseline workers (passthrough.js, json-floor.js, storage-floor.js), calling `upstream`. */
export const floorOptions = (script, upstream) => ({
  modules: true,
  scriptPath: join(root, 'bench', script),
  bindings: { UPSTREAM: upstream },
  ...(script === 'storage-floor.js' ? { durableObjects: { COUNTER: { className: 'Counter', useSQLite: true } } } : {}),
});

/** The process's CPU so far (utime + stime), in ms. */
export const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // 1/100 s ticks
};
export const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/**
 * A started gateway's database migrated, and the bench's account with a key whose limits are
 * on but far above what the bench sends, so that every request takes the full path.
 * `admin(method, path, body)` calls its admin API (the token `gatewayOptions` sets).
 */
export async function benchAccount(target) {
  const db = await target.mf.getD1Database('DB');
  await migrate(db);
  const admin = async (method, path, body) => {
    const res = await fetch(`${target.url}/admin${path}`, { method, headers: { authorization: 'Bearer bench-admin', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const account = await admin('POST', '/accounts', { email: 'bench@example.com', credit: 1_000_000 });
  const { key } = await admin('POST', `/accounts/${account.id}/keys`, { name: 'bench', rpm: 100_000_000, tpm: 1_000_000_000, max_concurrency: 10_000 });
  return { db, admin, key };
}
