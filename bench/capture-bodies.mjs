#!/usr/bin/env node
// Records the request bodies the real coding agents send, for the bench's "real bodies"
// cases (bench/bodies.mjs): Claude Code's POST /v1/messages and Codex's POST /v1/responses,
// each from the binary this repo pins (package.json), run offline against a server on
// 127.0.0.1 that keeps the body and answers with a recorded stream from test/fixtures.
// Writes bench/bodies/claude-code-messages.json and bench/bodies/codex-responses.json.
// Run by hand (`node bench/capture-bodies.mjs`) when the pinned agents change.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { messagesEvents } from './upstream.mjs';

const root = new URL('..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const run = promisify(execFile);
const responsesStream = readFileSync(join(root, 'test/fixtures/openai-responses/responses-stream-text-cached-reasoning-gpt-5.3-codex.chunks.txt'), 'utf8')
  .split('\n').filter(Boolean).map((line) => `event: ${JSON.parse(line).type}\ndata: ${line}\n\n`).join('');

const bodies = {};
const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks).toString('utf8');
  const path = new URL(req.url, 'http://x').pathname;
  if (req.method === 'POST' && path.endsWith('/v1/messages')) {
    const parsed = JSON.parse(body);
    // Claude Code also sends small side requests (titles, checks); the turn is the one with tools.
    if (parsed.tools?.length && !bodies.messages) bodies.messages = body;
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end(Buffer.concat(messagesEvents(12)));
    return;
  }
  if (req.method === 'POST' && path.endsWith('/v1/responses')) {
    bodies.responses ??= body;
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end(responsesStream);
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not here","type":"not_found_error"}}');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const claude = join(dirname(require.resolve(`@anthropic-ai/claude-code-${process.platform}-${process.arch}/package.json`)), 'claude');
const home = mkdtempSync(join(tmpdir(), 'capture-claude-'));
await run(claude, ['-p', 'List the files here, then say hello.', '--output-format', 'json'], {
  cwd: home, timeout: 60_000,
  env: {
    PATH: process.env.PATH, HOME: home, ANTHROPIC_BASE_URL: base, ANTHROPIC_API_KEY: 'sk-capture',
    ANTHROPIC_MODEL: 'claude-sonnet-4-5', ANTHROPIC_SMALL_FAST_MODEL: 'claude-sonnet-4-5',
    DISABLE_TELEMETRY: '1', DISABLE_AUTOUPDATER: '1', DISABLE_ERROR_REPORTING: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  },
}).catch((err) => console.error(`claude: ${err.message.split('\n')[0]}`));

const triple = { x64: 'x86_64-unknown-linux-musl', arm64: 'aarch64-unknown-linux-musl' }[process.arch];
const codex = join(dirname(require.resolve(`@openai/codex-${process.platform}-${process.arch}/package.json`)), 'vendor', triple, 'bin', 'codex');
const codexHome = mkdtempSync(join(tmpdir(), 'capture-codex-'));
writeFileSync(join(codexHome, 'config.toml'), ['model = "gpt-5.3-codex"', 'model_provider = "capture"', '[model_providers.capture]', 'name = "capture"',
  `base_url = "${base}/v1"`, 'env_key = "CAPTURE_KEY"', 'wire_api = "responses"'].join('\n'));
const codexRun = run(codex, ['exec', '--skip-git-repo-check', 'List the files here, then say hello.'], {
  cwd: codexHome, timeout: 60_000, env: { PATH: process.env.PATH, HOME: codexHome, CODEX_HOME: codexHome, CAPTURE_KEY: 'sk-capture' },
});
codexRun.child.stdin?.end();
await codexRun.catch((err) => console.error(`codex: ${err.message.split('\n')[0]}`));
server.close();

for (const [name, file] of [['messages', 'claude-code-messages.json'], ['responses', 'codex-responses.json']]) {
  if (!bodies[name]) throw new Error(`no ${name} body captured`);
  writeFileSync(join(root, 'bench/bodies', file), `${JSON.stringify(JSON.parse(bodies[name]), null, 1)}\n`);
  console.log(`${file}: ${(bodies[name].length / 1024).toFixed(1)} KB`);
}
if (!existsSync(join(root, 'bench/bodies'))) throw new Error('bench/bodies missing');
