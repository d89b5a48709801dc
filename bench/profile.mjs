// `node bench/profile.mjs [json|stream|stream1k|claude-code|codex]`: a CPU profile of the bundle `wrangler deploy`
// ships, under load (8 clients for 4 s, after 200 warm-up requests), taken with V8's
// sampling profiler through Miniflare's inspector; prints the functions with the most self
// time. What BENCHMARKS.md's "Where the time goes" is read from. Bounded in time; the
// inspector listens on 127.0.0.1 only.
import WebSocket from 'ws';
import { startUpstream } from './upstream.mjs';
import { claudeCodeBody, codexBody } from './bodies.mjs';
import { benchAccount, build, gatewayOptions, startMiniflare } from './workerd.mjs';
const scenario = process.argv[2] ?? 'json';
const INSPECTOR_PORT = 9339;
const up = await startUpstream(0);
const upstreamBase = `http://127.0.0.1:${up.address().port}`;
const gateway = await startMiniflare({ ...gatewayOptions(build()), inspectorPort: INSPECTOR_PORT });
const { mf, url } = gateway;
const { admin, key } = await benchAccount(gateway);
await admin('PUT', '/models/m', { input_price: 1, output_price: 2 });
const events = scenario === 'json' ? 1 : scenario === 'codex' ? 20 : scenario === 'stream1k' ? 1000 : 100;
await admin('PUT', '/channels/c', { kind: scenario === 'claude-code' ? 'anthropic' : 'openai', base_url: `${upstreamBase}/s/${events}/0/v1`, api_key_secret: 'BENCH_UPSTREAM_KEY', models: { m: 'gpt-4.1-nano' } });
// The agents' bodies with 150 KB of history (bench/bodies.mjs).
const body = { 'claude-code': () => claudeCodeBody('m', 150), codex: () => codexBody('m', 150) }[scenario]?.()
  ?? JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 400, stream: scenario !== 'json' });
const path = { 'claude-code': '/v1/messages', codex: '/v1/responses' }[scenario] ?? '/v1/chat/completions';
const go = () => fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body }).then(async (r) => { const t = await r.text(); if (r.status !== 200) throw new Error(`${r.status} ${t.slice(0, 300)}`); return t; });
for (let i = 0; i < 200; i++) await go();
const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json();
const target = targets.find((t) => t.id.includes('core:user')) ?? targets[0];
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.on('open', r));
let id = 0; const pending = new Map();
ws.on('message', (m) => { const msg = JSON.parse(m); if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg.result); pending.delete(msg.id); } });
const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
await send('Profiler.enable'); await send('Profiler.setSamplingInterval', { interval: 100 }); await send('Profiler.start');
const t0 = Date.now(); let n = 0;
await Promise.all(Array.from({ length: 8 }, async () => { while (Date.now() - t0 < 4000) { await go(); n++; } }));
const { profile } = await send('Profiler.stop');
const self = new Map(); const total = profile.samples.length;
const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
const counts = new Map(); for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
for (const [nodeId, c] of counts) { const nd = byId.get(nodeId); const f = nd.callFrame; const k = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber}`; self.set(k, (self.get(k) ?? 0) + c); }
console.log(`${n} requests, ${total} samples`);
for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(((100 * c) / total).toFixed(1).padStart(5), '%', k);
ws.close(); await mf.dispose(); up.close();
