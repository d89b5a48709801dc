// `node bench/profile.mjs [json|stream|stream1k|claude-code|codex|floor]`: a CPU profile of
// the bundle `wrangler deploy` ships, under load (8 clients for 4 s, after 200 warm-up
// requests), taken with V8's sampling profiler through Miniflare's inspector; prints, per
// request, the isolate's time in the worker's own JavaScript, in the runtime's built-ins it
// calls (fetch, SQLite…), in V8 itself and idle, then the functions with the most self time.
// `floor` profiles the storage floor (bench/storage-floor.js) under `json`'s load: the two
// side by side say what Tokengate adds. What BENCHMARKS.md's "Where the time goes" is read
// from. Bounded in time; the inspector listens on 127.0.0.1 only.
import WebSocket from 'ws';
import { startUpstream } from './upstream.mjs';
import { claudeCodeBody, codexBody } from './bodies.mjs';
import { benchAccount, build, floorOptions, gatewayOptions, startMiniflare } from './workerd.mjs';
const scenario = process.argv[2] ?? 'json';
const INSPECTOR_PORT = 9339;
const up = await startUpstream(0);
const upstreamBase = `http://127.0.0.1:${up.address().port}`;
const events = ['json', 'floor'].includes(scenario) ? 1 : scenario === 'codex' ? 20 : scenario === 'stream1k' ? 1000 : 100;
let target, headers = { 'content-type': 'application/json' }, model = 'm', path = { 'claude-code': '/v1/messages', codex: '/v1/responses' }[scenario] ?? '/v1/chat/completions';
if (scenario === 'floor') {
  target = await startMiniflare({ ...floorOptions('storage-floor.js', upstreamBase), inspectorPort: INSPECTOR_PORT });
  path = `/s/${events}/0${path}`;
  model = 'gpt-4.1-nano';
} else {
  target = await startMiniflare({ ...gatewayOptions(build()), inspectorPort: INSPECTOR_PORT });
  const { admin, key } = await benchAccount(target);
  await admin('PUT', '/models/m', { input_price: 1, output_price: 2 });
  await admin('PUT', '/channels/c', { kind: scenario === 'claude-code' ? 'anthropic' : 'openai', base_url: `${upstreamBase}/s/${events}/0/v1`, api_key_secret: 'BENCH_UPSTREAM_KEY', models: { m: 'gpt-4.1-nano' } });
  headers = { ...headers, authorization: `Bearer ${key}` };
}
const { mf, url } = target;
// The agents' bodies with 150 KB of history (bench/bodies.mjs).
const body = { 'claude-code': () => claudeCodeBody(model, 150), codex: () => codexBody(model, 150) }[scenario]?.()
  ?? JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 400, stream: events > 1 });
const go = () => fetch(`${url}${path}`, { method: 'POST', headers, body }).then(async (r) => { const t = await r.text(); if (r.status !== 200) throw new Error(`${r.status} ${t.slice(0, 300)}`); return t; });
for (let i = 0; i < 200; i++) await go();
const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json();
const isolate = targets.find((t) => t.id.includes('core:user')) ?? targets[0];
const ws = new WebSocket(isolate.webSocketDebuggerUrl);
await new Promise((r) => ws.on('open', r));
let id = 0; const pending = new Map();
ws.on('message', (m) => { const msg = JSON.parse(m); if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg.result); pending.delete(msg.id); } });
const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
await send('Profiler.enable'); await send('Profiler.setSamplingInterval', { interval: 100 }); await send('Profiler.start');
const t0 = Date.now(); let n = 0;
await Promise.all(Array.from({ length: 8 }, async () => { while (Date.now() - t0 < 4000) { await go(); n++; } }));
const { profile } = await send('Profiler.stop');
// Self time per sample is the time to the next sample (timeDeltas[i + 1]).
const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
const self = new Map();
const kinds = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i + 1] ?? 0;
  const f = byId.get(profile.samples[i]).callFrame;
  const k = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber}`;
  self.set(k, (self.get(k) ?? 0) + dt);
  const kind = f.url ? "the worker's JavaScript" : /^\((program|idle|garbage collector|root)\)$/.test(f.functionName) ? f.functionName : 'runtime built-ins';
  kinds.set(kind, (kinds.get(kind) ?? 0) + dt);
  total += dt;
}
console.log(`${n} requests, ${profile.samples.length} samples; per request (ms, as profiled):`);
for (const [k, t] of [...kinds].sort((a, b) => b[1] - a[1])) console.log((t / 1000 / n).toFixed(3).padStart(7), k);
for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(((100 * t) / total).toFixed(1).padStart(5), '%', (t / 1000 / n).toFixed(3), k);
ws.close(); await mf.dispose(); up.close();
