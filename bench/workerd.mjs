// The bench's workerd processes (through Miniflare): started on 127.0.0.1, found by pid, and
// their CPU and memory read from /proc — shared by bench/run.mjs and bench/ab.mjs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';

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

/** The process's CPU so far (utime + stime), in ms. */
export const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // 1/100 s ticks
};
export const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
