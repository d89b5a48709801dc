import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/** The bundle `wrangler deploy` would ship, built into a fresh directory (once per test
 *  run, by global-setup.ts for the e2e project). */
export function buildBundle(): string {
  const outdir = mkdtempSync(join(tmpdir(), 'tokengate-build-'));
  execFileSync(join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', outdir], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    stdio: 'pipe',
  });
  return outdir;
}

