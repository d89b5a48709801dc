#!/usr/bin/env node
// `npm run bench:ab -- <git-ref> [rounds] [clients]`: this checkout's gateway against another
// version's, side by side in one run — for a change smaller than the run-to-run spread of
// `npm run bench` on a shared machine (whose CPU figures move by ±20 % between runs). Both
// bundles run in workerd with the same fake upstream, account, limits and models; rounds
// alternate which goes first; each round measures, at 8 clients (or `clients`), the CPU per
// non-stream request, per 100-event and per 1,000-event stream, per Claude Code turn (its
// recorded body, and grown by 300 KB of history: bench/bodies.mjs), and the medians are
// compared, with the cost of one more event and of 100 KB more body derived. The ref
// is checked out into a temporary worktree and built with this checkout's node_modules, so
// compare versions with the same dependencies. Bounded in count; 127.0.0.1 only.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claudeCodeBody } from './bodies.mjs';
import { startUpstream } from './upstream.mjs';
import { benchAccount, build, cpuMs, gatewayOptions, startMiniflare } from './workerd.mjs';

const [ref, roundsArg, clientsArg] = process.argv.slice(2);
if (!ref) {
  console.error('usage: npm run bench:ab -- <git-ref> [rounds] [clients]');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 5);
const root = new URL('..', import.meta.url).pathname;
const chat = (events) => ({ model: `ab-${events}`, kind: 'openai', events, path: '/v1/chat/completions',
  body: JSON.stringify({ model: `ab-${events}`, messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 400, stream: events > 1 }) });
const claudeCode = (kb) => ({ model: 'ab-claude-code', kind: 'anthropic', events: 100, path: '/v1/messages', body: claudeCodeBody('ab-claude-code', kb) });
const CASES = {
  'non-stream': { ...chat(1), requests: 1500 },
  '100-event stream': { ...chat(100), requests: 800 },
  '1,000-event stream': { ...chat(1000), requests: 200 },
  'Claude Code turn': { ...claudeCode(0), requests: 400 },
  '+300 KB history': { ...claudeCode(300), requests: 150 },
};
const CLIENTS = Number(clientsArg ?? 8);

const worktree = join(mkdtempSync(join(tmpdir(), 'tokengate-ab-')), 'tree');
execFileSync('git', ['worktree', 'add', '--detach', '-q', worktree, ref], { cwd: root });
let theirs;
try {
  symlinkSync(join(root, 'node_modules'), join(worktree, 'node_modules'));
  theirs = build({ cwd: worktree });
} finally {
  rmSync(worktree, { recursive: true, force: true });
  execFileSync('git', ['worktree', 'prune'], { cwd: root });
}
const ours = build();

const upstream = await startUpstream(0);
const upstreamBase = `http://127.0.0.1:${upstream.address().port}`;

async function start(dir) {
  const target = await startMiniflare(gatewayOptions(dir));
  const { admin, key } = await benchAccount(target);
  for (const { model, kind, events } of new Map(Object.values(CASES).map((c) => [c.model, c])).values()) {
    await admin('PUT', `/models/${model}`, { input_price: 1, output_price: 2 });
    await admin('PUT', `/channels/${model}`, { kind, base_url: `${upstreamBase}/s/${events}/0/v1`, api_key_secret: 'BENCH_UPSTREAM_KEY', models: { [model]: 'gpt-4.1-nano' } });
  }
  const request = async ({ path, body }) => {
    const res = await fetch(`${target.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${res.status} ${text.slice(0, 200)}`);
  };
  /** CPU per request over `n` requests at CLIENTS clients. */
  const cpuPerRequest = async (c, n) => {
    const before = cpuMs(target.pid);
    let sent = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (sent < n) {
        sent++;
        await request(c);
      }
    }));
    return (cpuMs(target.pid) - before) / sent;
  };
  for (const c of Object.values(CASES)) for (let i = 0; i < 50; i++) await request(c); // warm-up
  return { target, cpuPerRequest };
}

const gateways = { [ref]: await start(theirs), 'this checkout': await start(ours) };
const samples = Object.fromEntries(Object.keys(gateways).map((name) => [name, Object.fromEntries(Object.keys(CASES).map((c) => [c, []]))]));
for (let round = 0; round < rounds; round++) {
  const order = Object.keys(gateways);
  if (round % 2) order.reverse();
  for (const name of order) {
    for (const [label, c] of Object.entries(CASES)) samples[name][label].push(await gateways[name].cpuPerRequest(c, c.requests));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const perEvent = (s) => ((median(s['1,000-event stream']) - median(s['100-event stream'])) / 900) * 1000;
const grownBy = (Buffer.byteLength(CASES['+300 KB history'].body) - Buffer.byteLength(CASES['Claude Code turn'].body)) / 102_400;
const per100KB = (s) => (median(s['+300 KB history']) - median(s['Claude Code turn'])) / grownBy;
console.log(`workerd CPU per request, median of ${rounds} rounds at ${CLIENTS} clients (ms)`);
console.log(['', ...Object.keys(CASES), 'per further event (µs)', 'per 100 KB of body (ms)'].map((h) => h.padEnd(22)).join(''));
for (const [name, s] of Object.entries(samples)) {
  console.log([name, ...Object.keys(CASES).map((c) => median(s[c]).toFixed(3)), perEvent(s).toFixed(2), per100KB(s).toFixed(3)].map((v) => String(v).padEnd(22)).join(''));
}
for (const { target } of Object.values(gateways)) await target.mf.dispose();
upstream.close();
