import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * The real Codex CLI (its native binary, from the platform package npm installs beside
 * @openai/codex), `codex exec` with a custom provider speaking the Responses API to the
 * whole worker, offline, on the built-in echo model: /v1/responses translated onto chat.
 */
const run = promisify(execFile);
let worker: RunningWorker;
let apiKey: string;

function codexBinary(): string | null {
  const triple = process.platform === 'linux' && process.arch === 'x64' ? 'x86_64-unknown-linux-musl' : null;
  if (!triple) return null;
  try {
    const pkg = createRequire(import.meta.url).resolve('@openai/codex-linux-x64/package.json');
    const binary = join(dirname(pkg), 'vendor', triple, 'bin', 'codex');
    return existsSync(binary) ? binary : null;
  } catch {
    return null;
  }
}
const binary = codexBinary();

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: 'e2e-admin-token' });
  const account = await worker.admin('POST', '/accounts', { email: 'codex@example.com', credit: 5 });
  apiKey = (await worker.admin('POST', `/accounts/${account.id}/keys`, { name: 'codex' })).key;
  await worker.admin('PUT', '/models/echo', { input_price: 1, output_price: 2 });
  await worker.admin('PUT', '/channels/echo', { kind: 'echo', base_url: 'http://echo.invalid', api_key_secret: 'NONE', models: { echo: 'echo' } });
});

afterAll(async () => {
  await worker?.dispose();
});

describe.skipIf(!binary)('Codex CLI pointed at the gateway', () => {
  it('runs a turn through /v1/responses on the echo model, and the usage row is there', async () => {
    const home = mkdtempSync(join(tmpdir(), 'codex-home-'));
    writeFileSync(join(home, 'config.toml'), [
      'model = "echo"', 'model_provider = "tokengate"', '[model_providers.tokengate]', 'name = "Tokengate"',
      `base_url = "${worker.url}/v1"`, 'env_key = "TOKENGATE_KEY"', 'wire_api = "responses"',
    ].join('\n'));
    const running = run(binary!, ['exec', '--skip-git-repo-check', 'Say hello to Tokengate'], {
      cwd: home, timeout: 50_000, env: { PATH: process.env.PATH, HOME: home, CODEX_HOME: home, TOKENGATE_KEY: apiKey },
    });
    running.child.stdin?.end(); // with stdin open, codex exec waits to read more of the prompt from it
    const { stdout } = await running;
    expect(stdout.trim().split('\n').at(-1)).toBe('Say hello to Tokengate'); // the echo of its last user message
    const usage = (await (await fetch(`${worker.url}/v1/usage`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as any;
    expect(usage.data[0]).toMatchObject({ model: 'echo', status: 'success' });
    expect(usage.data[0].input_tokens).toBeGreaterThan(1000); // Codex's instructions and tools
  });
});
