import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * The real Claude Code (its native binary, from the platform package npm installs beside
 * @anthropic-ai/claude-code) in print mode, pointed at the whole worker with
 * ANTHROPIC_BASE_URL, offline: once through an `anthropic` channel replaying a recording,
 * once on the built-in echo model (translated onto chat completions).
 */
const ADMIN = 'e2e-admin-token';
const run = promisify(execFile);
let worker: RunningWorker;
let apiKey: string;

function claudeBinary(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve(`@anthropic-ai/claude-code-${process.platform}-${process.arch}/package.json`);
    const binary = join(dirname(pkg), 'claude');
    return existsSync(binary) ? binary : null;
  } catch {
    return null;
  }
}
const binary = claudeBinary();

const admin = (method: string, path: string, body?: unknown) => worker.admin(method, path, body);

/** `claude -p` with the gateway as its API, its home in a fresh directory, nothing sent elsewhere. */
async function claude(prompt: string, model: string, auth: Record<string, string>) {
  const home = mkdtempSync(join(tmpdir(), 'claude-home-'));
  const { stdout } = await run(binary!, ['-p', prompt, '--output-format', 'json'], {
    cwd: home,
    timeout: 60_000,
    env: {
      PATH: process.env.PATH, HOME: home, ANTHROPIC_BASE_URL: worker.url, ...auth,
      ANTHROPIC_MODEL: model, ANTHROPIC_SMALL_FAST_MODEL: model, ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
      DISABLE_TELEMETRY: '1', DISABLE_AUTOUPDATER: '1', DISABLE_ERROR_REPORTING: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { is_error: boolean; result: string; usage: { input_tokens: number; output_tokens: number } };
}

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: ADMIN, FAKE_UPSTREAM_KEY: 'sk-upstream-e2e' });
  const account = await admin('POST', '/accounts', { email: 'claude-code@example.com', credit: 5 });
  apiKey = (await admin('POST', `/accounts/${account.id}/keys`, { name: 'claude-code' })).key;
  await admin('PUT', '/models/claude-sonnet-4-5', { input_price: 3, output_price: 15, cached_input_price: 0.3, cache_write_price: 3.75 });
  await admin('PUT', '/channels/anthropic', {
    kind: 'anthropic', base_url: `${inject('upstreamUrl')}/o:id=claude-code/anthropic/messages-stream-text-sonnet-4-5.chunks.txt`,
    api_key_secret: 'FAKE_UPSTREAM_KEY', models: { 'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929' },
  });
  await admin('PUT', '/models/echo', { input_price: 1, output_price: 2 });
  await admin('PUT', '/channels/echo', { kind: 'echo', base_url: 'http://echo.invalid', api_key_secret: 'NONE', models: { echo: 'echo' } });
});

afterAll(async () => {
  await worker?.dispose();
});

describe.skipIf(!binary)('Claude Code pointed at the gateway', () => {
  it('answers through an anthropic channel with ANTHROPIC_AUTH_TOKEN, its headers forwarded', async () => {
    const out = await claude('Hello, how are you?', 'claude-sonnet-4-5', { ANTHROPIC_AUTH_TOKEN: apiKey });
    expect(out.is_error).toBe(false);
    expect(out.result).toBe("Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help you with?");
    const seen = (await (await fetch(`${inject('upstreamUrl')}/__requests?id=claude-code`)).json()) as Array<{ headers: Record<string, string>; body: any }>;
    expect(seen.length).toBeGreaterThan(0);
    const first = seen[0]!;
    expect(first.headers['x-api-key']).toBe('sk-upstream-e2e');
    expect(first.headers['anthropic-version']).toBe('2023-06-01');
    expect(first.headers['anthropic-beta']).toContain('claude-code-20250219');
    expect(first.body).toMatchObject({ model: 'claude-sonnet-4-5-20250929', stream: true, max_tokens: expect.any(Number) });
    expect(first.body.tools.length).toBeGreaterThan(5);
    const usage = (await (await fetch(`${worker.url}/v1/usage`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as any;
    expect(usage.data[0]).toMatchObject({ model: 'claude-sonnet-4-5', status: 'success', input_tokens: 12, output_tokens: 30 });
  });

  it('answers on the echo model (an OpenAI-format channel, translated) with ANTHROPIC_API_KEY', async () => {
    const out = await claude('Say hello to Tokengate', 'echo', { ANTHROPIC_API_KEY: apiKey });
    expect(out.is_error).toBe(false);
    expect(out.result).toMatch(/Say hello to Tokengate$/); // the echo of the last user message
    expect(out.usage.input_tokens).toBeGreaterThan(100); // Claude Code's own system prompt and tools
    const usage = (await (await fetch(`${worker.url}/v1/usage`, { headers: { 'x-api-key': apiKey } })).json()) as any;
    expect(usage.data[0]).toMatchObject({ model: 'echo', status: 'success' });
  });
});
