#!/usr/bin/env node
// `npm run bench` (or `npm run bench -- --quick`): what Tokengate adds over calling the
// upstream directly, measured side by side in one run on the same workerd:
//   (a) direct       — the fake upstream, called straight from the load generator
//   (b) pass-through — bench/passthrough.js in workerd (Miniflare): fetch, return the body
//   (b+s) storage    — bench/storage-floor.js: (b) plus the Durable Object round trips
//                      Tokengate makes per request in steady state, without its logic
//   (b+j) JSON floor — bench/json-floor.js: (b), but the body read as text and parsed in
//                      the isolate; beside (b) on the coding agents' bodies only
//   (c) tokengate    — the bundle `wrangler deploy` ships, in workerd (Miniflare), with auth,
//                      rate limits and billing on (the account's object on every request)
// and, for the storage counts only, (c) again built from bench/counting.ts, which counts
// what goes through its D1 and Durable Object bindings.
// Load comes from a second process (bench/load.mjs); every run is bounded in time and
// count, follows a warm-up, and is repeated; medians are reported. Prints one table and
// writes bench/results.json. Nothing here asserts a threshold.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bodyRuns, HISTORY_KB } from './bodies.mjs';
import { mediaRuns } from './media.mjs';
import { startSplit } from './topology.mjs';
import { benchAccount, build, cpuMs, floorOptions, gatewayOptions, rssKb, startMiniflare } from './workerd.mjs';

const quick = process.argv.includes('--quick');
// `--bodies`: only the coding agents' bodies (bench/bodies.mjs), to profile the gateway's per-kilobyte cost.
const bodiesOnly = process.argv.includes('--bodies');
// `--streams`: only the streams' CPU at 100 and 1,000 events (the gateway's cost per event).
const streamsOnly = process.argv.includes('--streams');
const partial = bodiesOnly || streamsOnly;
const root = new URL('..', import.meta.url).pathname;
const plan = quick
  ? { seconds: 0.5, warmup: 0.2, reps: 1, streams: 20, streamEvents: 20, streamPauseMs: 50, bodies: { rounds: 1, seconds: 0.5 } }
  : { seconds: 3, warmup: 1, reps: 3, streams: 100, streamEvents: 100, streamPauseMs: 50, bodies: { rounds: 7, seconds: 1.5 } };
const EVENTS = 100; // the "100-event stream"
const LONG_EVENTS = 1000; // with EVENTS, the cost of one more event apart from the request's own
const PAUSED = { events: 20, pauseMs: 10 };

// ---------- build and bundle size ----------
const outdir = build();
const minDir = build({ minify: true });
const countDir = build({ entry: ['bench/counting.ts'] });
const raw = readFileSync(join(outdir, 'index.js'));
const minified = readFileSync(join(minDir, 'index.js'));
const bundle = { raw_kb: raw.length / 1024, minified_kb: minified.length / 1024, gzip_kb: gzipSync(minified).length / 1024 };

// ---------- processes ----------
function childJson(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child, json: JSON.parse(out.split('\n')[0]) });
    });
    child.on('exit', (code) => code && reject(new Error(`${args.join(' ')} exited ${code}`)));
  });
}
const upstream = await childJson([join(root, 'bench/upstream.mjs')]);
// Whatever ends this run, the upstream process ends with it (workerd ends with Miniflare's pipes).
process.on('exit', () => upstream.child.kill());
process.on('uncaughtException', (err) => {
  console.error(err);
  process.exit(1);
});
const upstreamBase = `http://127.0.0.1:${upstream.json.port}`;

const passthrough = await startMiniflare(floorOptions('passthrough.js', upstreamBase));
const jsonFloor = await startMiniflare(floorOptions('json-floor.js', upstreamBase));
const storage = await startMiniflare(floorOptions('storage-floor.js', upstreamBase));
const gateway = await startMiniflare(gatewayOptions(outdir, 'index.js'));
const counted = await startMiniflare(gatewayOptions(countDir, 'counting.js'));

// ---------- gateway setup: schema, an account, a rate-limited key, models, channels ----------
// `messages`: Anthropic's /v1/messages streamed from an `anthropic` channel (passed through).
const scenarios = { json: [1, 0], stream: [EVENTS, 0], stream1k: [LONG_EVENTS, 0], messages: [EVENTS, 0], paused: [PAUSED.events, PAUSED.pauseMs], long: [plan.streamEvents, plan.streamPauseMs] };
const route = (scenario) => (scenario === 'messages' ? '/v1/messages' : '/v1/chat/completions');
async function setUp(target) {
  const { db, admin, key } = await benchAccount(target);
  for (const [name, [events, pause]] of Object.entries(scenarios)) {
    await admin('PUT', `/models/bench-${name}`, { input_price: 1, output_price: 2 });
    await admin('PUT', `/channels/bench-${name}`, { kind: name === 'messages' ? 'anthropic' : 'openai', base_url: `${upstreamBase}/s/${events}/${pause}/v1`, api_key_secret: 'BENCH_UPSTREAM_KEY', models: { [`bench-${name}`]: 'gpt-4.1-nano' } });
  }
  // Codex's Responses bodies (bench/bodies.mjs), passed through an `openai` channel.
  await admin('PUT', '/models/bench-responses', { input_price: 1, output_price: 2 });
  await admin('PUT', '/channels/bench-responses', { kind: 'openai', base_url: `${upstreamBase}/s/20/0/v1`, api_key_secret: 'BENCH_UPSTREAM_KEY', models: { 'bench-responses': 'gpt-5.3-codex' } });
  // Speech and transcription (bench/media.mjs), priced in their own units.
  await admin('PUT', '/models/bench-speech', { input_price: 0, output_price: 0, character_price: 15 });
  await admin('PUT', '/models/bench-stt', { input_price: 2.5, output_price: 10, audio_input_price: 6, audio_minute_price: 0.006 });
  for (const m of ['bench-speech', 'bench-stt']) {
    await admin('PUT', `/channels/${m}`, { kind: 'openai', base_url: `${upstreamBase}/m/v1`, api_key_secret: 'BENCH_UPSTREAM_KEY', models: { [m]: m } });
  }
  return { db, key };
}
const { key } = await setUp(gateway);
const countedSetup = await setUp(counted);
// (c) in the production topology (bench/topology.mjs): its objects in a second workerd.
const split = bodiesOnly ? null : await startSplit({ startMiniflare, gatewayOptions: gatewayOptions(outdir, 'index.js'), setUp });

// ---------- load ----------
const targets = {
  tokengate: (s) => ({ url: `${gateway.url}${route(s)}`, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, model: `bench-${s}` }),
  split: (s) => ({ url: `${split.front.url}${route(s)}`, headers: { authorization: `Bearer ${split.key}`, 'content-type': 'application/json' }, model: `bench-${s}` }),
  counted: (s) => ({ url: `${counted.url}${route(s)}`, headers: { authorization: `Bearer ${countedSetup.key}`, 'content-type': 'application/json' }, model: `bench-${s}` }),
  passthrough: (s) => ({ url: `${passthrough.url}/s/${scenarios[s].join('/')}${route(s)}`, headers: { 'content-type': 'application/json' }, model: 'gpt-4.1-nano' }),
  storage: (s) => ({ url: `${storage.url}/s/${scenarios[s].join('/')}${route(s)}`, headers: { 'content-type': 'application/json' }, model: 'gpt-4.1-nano' }),
  direct: (s) => ({ url: `${upstreamBase}/s/${scenarios[s].join('/')}${route(s)}`, headers: { 'content-type': 'application/json' }, model: 'gpt-4.1-nano' }),
};
async function load(target, scenario, concurrency, seconds, maxRequests = 1_000_000) {
  const t = targets[target](scenario);
  const body = JSON.stringify({ model: t.model, messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 400, stream: scenario !== 'json' });
  const { child, json } = await childJson([join(root, 'bench/load.mjs'), JSON.stringify({ url: t.url, headers: t.headers, body, concurrency, seconds, maxRequests })]);
  await new Promise((r) => child.on('exit', r));
  return json;
}
const median = (xs) => {
  const v = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  return v.length === 0 ? null : v[Math.floor((v.length - 1) / 2)];
};
/** Runs a load `plan.reps` times after a warm-up; medians of each field, and workerd CPU per request. */
async function measure(target, scenario, concurrency) {
  await load(target, scenario, concurrency, plan.warmup);
  const pid = { tokengate: gateway.pid, passthrough: passthrough.pid, storage: storage.pid, split: split?.front.pid }[target] ?? null;
  const runs = [];
  for (let i = 0; i < plan.reps; i++) {
    const cpu0 = pid ? cpuMs(pid) : 0;
    const objects0 = target === 'split' ? cpuMs(split.objects.pid) : 0;
    const r = await load(target, scenario, concurrency, plan.seconds);
    r.cpu_ms_per_request = pid && r.requests ? (cpuMs(pid) - cpu0) / r.requests : null;
    // In the production topology, what the objects' process spent apart from the gateway's.
    if (target === 'split') r.objects_cpu_ms_per_request = r.requests ? (cpuMs(split.objects.pid) - objects0) / r.requests : null;
    runs.push(r);
  }
  const out = {};
  for (const k of Object.keys(runs[0])) out[k] = median(runs.map((r) => r[k]));
  return out;
}
/** Resident memory of a worker with `plan.streams` long streams open, minus idle. */
async function memoryPerStream(target) {
  const pid = { tokengate: gateway.pid, passthrough: passthrough.pid, storage: storage.pid }[target];
  const samples = [];
  for (let i = 0; i < plan.reps; i++) {
    await new Promise((r) => setTimeout(r, 300));
    const idle = rssKb(pid);
    const running = load(target, 'long', plan.streams, 60, plan.streams);
    const lasts = plan.streamEvents * plan.streamPauseMs;
    await new Promise((r) => setTimeout(r, lasts / 2));
    samples.push((rssKb(pid) - idle) / plan.streams);
    await running;
  }
  return median(samples);
}

const results = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version, quick }, plan, bundle, runs: {} };
const loads = streamsOnly ? [['stream', 32], ['stream1k', 32]]
  : [['json', 1], ['json', 32], ['stream', 1], ['stream', 32], ['stream1k', 32], ['messages', 1], ['messages', 32], ['paused', 1]];
for (const [scenario, c] of bodiesOnly ? [] : loads) {
  const alsoSplit = c === 32 && scenario !== 'messages' ? ['split'] : [];
  for (const target of ['direct', 'passthrough', 'storage', 'tokengate', ...alsoSplit]) {
    const r = await measure(target, scenario, c);
    results.runs[`${scenario}/c${c}/${target}`] = r;
    if (r.errors) console.error(`${scenario} c=${c} ${target}: ${r.errors} errors`);
  }
}
// ---------- storage counted per request ----------
// Steady state (a warm isolate, the account's reservation taken): what one request does
// before its upstream call, one client at a time; then under load (c=32), what reaches
// D1 in all, flushes included (FLUSH_DELAY_SECONDS is 2: the run waits for the last one).
const benchCounts = async (path) => (await fetch(`${counted.url}/__bench/${path}`, { method: path === 'reset' ? 'POST' : 'GET' })).json().catch(() => null);
const d1Rows = async () => {
  const { results } = await countedSetup.db.prepare('SELECT (SELECT COUNT(*) FROM ledger) + (SELECT COUNT(*) FROM usage_daily) + (SELECT COUNT(*) FROM accounts) + (SELECT COUNT(*) FROM api_keys) AS n').all();
  return results[0].n;
};
const sizeNow = async () => (await countedSetup.db.prepare('SELECT 1').run()).meta.size_after;
// The stored size of the rows a run adds (their columns' bytes, plus each index's entry),
// a finer measure than the database file's size, which grows by 4 KB pages.
const rowBytes = async () => {
  const { results } = await countedSetup.db.prepare(
    `SELECT (SELECT COALESCE(SUM(2 * (LENGTH(account_id) + LENGTH(request_id) + LENGTH(kind)) + LENGTH(COALESCE(reason, '')) + LENGTH(created_at) + 5 * 8), 0) FROM ledger)
          + (SELECT COALESCE(SUM(3 * (LENGTH(day) + LENGTH(account_id) + LENGTH(key_id) + LENGTH(model)) + 6 * 8), 0) FROM usage_daily) AS n`,
  ).all();
  return results[0].n;
};
async function countRun(scenario, concurrency) {
  await load('counted', scenario, concurrency, plan.warmup);
  await new Promise((r) => setTimeout(r, 3000));
  await benchCounts('reset');
  const rows0 = await d1Rows();
  const size0 = await sizeNow();
  const bytes0 = await rowBytes();
  const r = await load('counted', scenario, concurrency, plan.seconds * plan.reps);
  await new Promise((r) => setTimeout(r, 3000));
  const c = await benchCounts('counts');
  const n = c.requests;
  const both = (field) => c.worker[field] + c.object[field];
  const calls = (side) => Object.values(side.do_calls).reduce((a, b) => a + b, 0);
  return {
    requests: n,
    errors: r.errors,
    d1_statements_before_upstream: c.before_upstream.requests ? c.before_upstream.d1_statements / c.before_upstream.requests : null,
    do_round_trips_before_upstream: c.before_upstream.requests ? c.before_upstream.do_calls / c.before_upstream.requests : null,
    do_round_trips: calls(c.worker) / n,
    do_calls: c.worker.do_calls,
    d1_statements: both('d1_statements') / n,
    d1_write_transactions: both('d1_write_transactions') / n,
    d1_rows_written: both('d1_rows_written') / n,
    d1_rows_added_per_1000: (((await d1Rows()) - rows0) / n) * 1000,
    d1_bytes_added: ((await rowBytes()) - bytes0) / n,
    d1_file_bytes_added: ((await sizeNow()) - size0) / n,
    // the objects' share (flushes, reservations); the rest is the Worker's (cold reads, cache refreshes)
    object_d1_write_transactions: c.object.d1_write_transactions / n,
    object_d1_statements: c.object.d1_statements / n,
  };
}
if (!partial) {
  results.storage = { 'json/c1': await countRun('json', 1), 'json/c32': await countRun('json', 32), 'stream/c32': await countRun('stream', 32) };
  results.memory_kb_per_stream = { tokengate: await memoryPerStream('tokengate'), passthrough: await memoryPerStream('passthrough'), storage: await memoryPerStream('storage') };
}

// ---------- speech and uploads (bench/media.mjs) ----------
const bodyFiles = new WeakMap();
/** One load of request `t` ({url, headers, body}) for `seconds` at c=`concurrency`: its figures, and workerd CPU per request. */
async function runRequest(t, pid, seconds, concurrency = 1) {
  if (!bodyFiles.has(t)) {
    bodyFiles.set(t, join(mkdtempSync(join(tmpdir(), 'tokengate-bench-body-')), 'body'));
    writeFileSync(bodyFiles.get(t), t.body);
  }
  const cpu0 = pid ? cpuMs(pid) : 0;
  const { child, json } = await childJson([join(root, 'bench/load.mjs'), JSON.stringify({ url: t.url, headers: t.headers, bodyFile: bodyFiles.get(t), concurrency, seconds, maxRequests: 1_000_000 })]);
  await new Promise((r) => child.on('exit', r));
  json.cpu_ms_per_request = pid && json.requests ? (cpuMs(pid) - cpu0) / json.requests : null;
  return json;
}
/** A request `t` at c=`concurrency` `plan.reps` times after a warm-up: medians. */
async function loadRequest(t, pid, concurrency = 4) {
  await runRequest(t, pid, plan.warmup, concurrency);
  const runs = [];
  for (let i = 0; i < plan.reps; i++) runs.push(await runRequest(t, pid, plan.seconds, concurrency));
  return Object.fromEntries(Object.keys(runs[0]).map((k) => [k, median(runs.map((r) => r[k]))]));
}
if (!partial) results.media = await mediaRuns({ gateway, passthrough, upstreamBase, key, load: loadRequest, median, reps: Math.max(plan.reps, 3), rssKb });

// ---------- the bodies coding agents send (bench/bodies.mjs) ----------
if (!streamsOnly) results.bodies = await bodyRuns({ gateway, passthrough, jsonFloor, upstreamBase, key, run: runRequest, median, ...plan.bodies });

// ---------- report ----------
const R = (k) => results.runs[k];
const rows = [];
const fmt = (x, d = 2) => (x === null || x === undefined ? '—' : Number(x).toFixed(d));
const row = (figure, gw, pt, direct, ratio, unit, st = null) => rows.push({ figure, tokengate: gw, passthrough: pt, storage: st, direct, ratio, unit });
if (!partial) {
const label = { json: 'non-stream', stream: `stream (${EVENTS} ev)`, messages: `/v1/messages stream (${EVENTS} ev)` };
for (const s of ['json', 'stream', 'messages']) {
  for (const c of [1, 32]) {
    for (const p of ['p50', 'p99']) {
      const g = R(`${s}/c${c}/tokengate`)[p], b = R(`${s}/c${c}/passthrough`)[p], a = R(`${s}/c${c}/direct`)[p], st = R(`${s}/c${c}/storage`)[p];
      row(`${label[s]} latency ${p}, c=${c}`, g, b, a, `+${fmt(g - b)} ms over (b), +${fmt(g - st)} over (b+s)`, 'ms', st);
    }
  }
  const g = R(`${s}/c32/tokengate`).rps, b = R(`${s}/c32/passthrough`).rps, a = R(`${s}/c32/direct`).rps, st = R(`${s}/c32/storage`).rps;
  row(`${label[s]} throughput, c=32`, g, b, a, `${fmt(g / b)}× (b), ${fmt(g / st)}× (b+s)`, 'req/s', st);
}
for (const [name, k] of [['first byte', 'ttfb'], ['last byte', '']]) {
  for (const p of ['p50', 'p99']) {
    const field = k ? `${k}_${p}` : p;
    const g = R('paused/c1/tokengate')[field], b = R('paused/c1/passthrough')[field], a = R('paused/c1/direct')[field], st = R('paused/c1/storage')[field];
    row(`stream ${name} ${p} (${PAUSED.events} ev, ${PAUSED.pauseMs} ms apart)`, g, b, a, `+${fmt(g - a)} ms over (a), +${fmt(g - st)} over (b+s)`, 'ms', st);
  }
}
{
  const g = R('json/c32/tokengate').cpu_ms_per_request, b = R('json/c32/passthrough').cpu_ms_per_request, st = R('json/c32/storage').cpu_ms_per_request;
  row('workerd CPU per non-stream request', g, b, null, `+${fmt(g - b, 3)} ms over (b), +${fmt(g - st, 3)} over (b+s)`, 'ms', st);
  const gs = R('stream/c32/tokengate').cpu_ms_per_request, bs = R('stream/c32/passthrough').cpu_ms_per_request, ss = R('stream/c32/storage').cpu_ms_per_request;
  row(`workerd CPU per ${EVENTS}-event stream`, gs, bs, null, `+${fmt(((gs - bs) / EVENTS) * 1000, 1)} µs/event over (b), +${fmt(((gs - ss) / EVENTS) * 1000, 1)} over (b+s)`, 'ms', ss);
}
{
  const m = results.memory_kb_per_stream;
  row(`memory per open stream (${plan.streams} open)`, m.tokengate, m.passthrough, null, `+${fmt(m.tokengate - m.passthrough, 1)} KB over (b)`, 'KB', m.storage);
}
for (const [name, k] of [['non-stream, c=1', 'json/c1'], ['non-stream, c=32', 'json/c32'], [`stream (${EVENTS} ev), c=32`, 'stream/c32']]) {
  const st = results.storage[k];
  if (k === 'json/c1') row('D1 statements / DO round trips before upstream, c=1', `${fmt(st.d1_statements_before_upstream, 3)} / ${fmt(st.do_round_trips_before_upstream, 3)}`, null, null, `per request, ${st.requests} requests, one at a time`, 'count');
  row(`D1 write txns / rows written per request, ${name}`, `${fmt(st.d1_write_transactions, 4)} / ${fmt(st.d1_rows_written, 3)}`, null, null, `${st.requests} requests; DO round trips per request ${fmt(st.do_round_trips, 2)}`, 'count');
  row(`D1 bytes per request / rows per 1,000, ${name}`, `${fmt(st.d1_bytes_added, 2)} / ${fmt(st.d1_rows_added_per_1000, 2)}`, null, null, `file grew ${fmt(st.d1_file_bytes_added, 2)} B per request`, 'B / rows');
}
{
  const { speech, upload_peak_kb: up } = results.media;
  for (const p of ['p50', 'ttfb_p50']) {
    row(`speech (1 MiB) ${p === 'p50' ? 'last' : 'first'} byte p50, c=4`, speech.tokengate[p], speech.passthrough[p], speech.direct[p],
      `+${fmt(speech.tokengate[p] - speech.passthrough[p])} ms over (b)`, 'ms');
  }
  row('workerd CPU per speech (1 MiB), c=4', speech.tokengate.cpu_ms_per_request, speech.passthrough.cpu_ms_per_request, null,
    `+${fmt(speech.tokengate.cpu_ms_per_request - speech.passthrough.cpu_ms_per_request, 3)} ms over (b)`, 'ms');
  for (const mib of [1, 10]) {
    row(`peak memory, ${mib} MiB transcription upload`, up[`${mib}MiB/tokengate`], up[`${mib}MiB/passthrough`], null,
      mib === 10 ? `10 MiB vs 1 MiB: +${fmt((up['10MiB/tokengate'] - up['1MiB/tokengate']) / 1024, 1)} MiB (tokengate), +${fmt((up['10MiB/passthrough'] - up['1MiB/passthrough']) / 1024, 1)} MiB (b)` : '', 'KB');
  }
}
}
// One event more, apart from the request's own cost: the difference between a 1,000-event
// and a 100-event stream, over the 900 events between them, in µs.
const perEvent = (t) => ((R(`stream1k/c32/${t}`).cpu_ms_per_request - R(`stream/c32/${t}`).cpu_ms_per_request) / (LONG_EVENTS - EVENTS)) * 1000;
if (!bodiesOnly) {
  const [g, b, st] = ['tokengate', 'passthrough', 'storage'].map(perEvent);
  row(`workerd CPU per streamed event (${LONG_EVENTS} vs ${EVENTS} ev), c=32`, g, b, null, `+${fmt(g - b, 1)} µs over (b), +${fmt(g - st, 1)} over (b+s)`, 'µs', st);
  const gr = R(`stream1k/c32/tokengate`).rps, br = R(`stream1k/c32/passthrough`).rps, sr = R(`stream1k/c32/storage`).rps;
  row(`stream (${LONG_EVENTS} ev) throughput, c=32`, gr, br, R(`stream1k/c32/direct`).rps, `${fmt(gr / br)}× (b), ${fmt(gr / sr)}× (b+s)`, 'req/s', sr);
}
if (!bodiesOnly) {
  // The production topology: the gateway's process (its isolate's own work, and its half of
  // each call to the objects) apart from the objects' process.
  for (const [name, s] of [['non-stream', 'json'], [`${EVENTS}-event stream`, 'stream']].filter(([, s]) => results.runs[`${s}/c32/split`])) {
    const sp = R(`${s}/c32/split`), b = R(`${s}/c32/passthrough`).cpu_ms_per_request, one = R(`${s}/c32/tokengate`).cpu_ms_per_request;
    row(`split: gateway process CPU per ${name}, c=32`, sp.cpu_ms_per_request, b, null,
      `+${fmt(sp.cpu_ms_per_request - b, 3)} ms over (b); objects' process ${fmt(sp.objects_cpu_ms_per_request, 3)} ms; one process (c) ${fmt(one, 3)} ms`, 'ms');
  }
  if (results.runs['stream1k/c32/split']) {
    const [sp, b] = [perEvent('split'), perEvent('passthrough')];
    row(`split: gateway process CPU per streamed event, c=32`, sp, b, null, `+${fmt(sp - b, 1)} µs over (b)`, 'µs');
  }
}
for (const agent of streamsOnly ? [] : ['claude-code', 'codex']) {
  const sizes = HISTORY_KB.map((kb) => results.bodies[`${agent}/${kb}`]);
  for (const r of sizes) {
    const [c, b, j] = [r.tokengate, r.passthrough, r.json_floor];
    row(`${agent} body ${fmt(r.kb, 0)} KB: CPU per request, c=1`, c.cpu_ms_per_request, b.cpu_ms_per_request, null,
      `+${fmt(c.cpu_ms_per_request - b.cpu_ms_per_request, 3)} ms over (b), +${fmt(c.cpu_ms_per_request - j.cpu_ms_per_request, 3)} over (b+j) (${fmt(j.cpu_ms_per_request, 3)})`, 'ms');
    row(`${agent} body ${fmt(r.kb, 0)} KB: latency p50, c=1`, c.p50, b.p50, null, `+${fmt(c.p50 - b.p50)} ms over (b)`, 'ms');
  }
  // Per 100 KB more body, from the recorded body to the largest, within each round (bench/bodies.mjs).
  const largest = sizes.at(-1);
  const within = (x, y) => median(largest[x].per_round_100kb.map((v, i) => v - largest[y].per_round_100kb[i]));
  row(`${agent} CPU per further 100 KB (${fmt(sizes[0].kb, 0)} → ${fmt(largest.kb, 0)} KB), c=1`, largest.tokengate.cpu_ms_per_100kb, largest.passthrough.cpu_ms_per_100kb, null,
    `+${fmt(within('tokengate', 'passthrough'), 3)} ms over (b); the JSON floor (b+j) +${fmt(within('json_floor', 'passthrough'), 3)} over (b), Tokengate +${fmt(within('tokengate', 'json_floor'), 3)} over (b+j); medians of ${largest.rounds} rounds`, 'ms');
}
row('bundle raw / minified / gzipped', `${fmt(bundle.raw_kb, 0)} / ${fmt(bundle.minified_kb, 0)} / ${fmt(bundle.gzip_kb, 0)}`, null, null, '', 'KB');
results.table = rows;

const pad = (s, n) => String(s).padEnd(n);
const cell = (x) => (typeof x === 'number' ? fmt(x) : x ?? '—');
console.log(`\n${pad('figure', 58)}${pad('tokengate', 17)}${pad('(b) pass', 10)}${pad('(b+s)', 10)}${pad('(a) direct', 11)}ratio`);
for (const r of rows) {
  console.log(`${pad(r.figure, 58)}${pad(cell(r.tokengate), 17)}${pad(cell(r.passthrough), 10)}${pad(cell(r.storage), 10)}${pad(cell(r.direct), 11)}${r.ratio}`);
}
if (!partial) {
  writeFileSync(join(root, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote bench/results.json (${quick ? 'quick mode' : `${plan.reps} repetitions of ${plan.seconds} s, medians`})`);
}

await gateway.mf.dispose();
await counted.mf.dispose();
await split?.dispose();
await passthrough.mf.dispose();
await jsonFloor.mf.dispose();
await storage.mf.dispose();
upstream.child.kill();
