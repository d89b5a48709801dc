// The "real bodies" cases of `npm run bench` (run.mjs): the request bodies Claude Code and
// Codex send on every turn (recorded by bench/capture-bodies.mjs from the pinned binaries),
// as recorded and grown to 50, 150 and 300 KB of conversation history, streamed through
// Tokengate, the pass-through worker and the JSON floor (json-floor.js) one at a time:
// workerd CPU per request, per 100 KB of body, and p50 latency. History grows by turns of
// the shapes the agents send themselves: an assistant's tool call and its result.
import { readFileSync } from 'node:fs';

const recorded = (name) => JSON.parse(readFileSync(new URL(`./bodies/${name}`, import.meta.url), 'utf8'));
export const HISTORY_KB = [0, 50, 150, 300];

// A tool's output as an agent would feed it back: lines of a file listing.
const listing = (n) => Array.from({ length: 40 }, (_, i) => `-rw-r--r--  1 dev  staff  ${(n * 977 + i * 131) % 99991} Dec  4 09:${String(i % 60).padStart(2, '0')} src/module_${n}_${i}.ts`).join('\n');

/** Claude Code's /v1/messages body with `kb` KB of tool-use turns before its last message. */
export function claudeCodeBody(model, kb) {
  const body = recorded('claude-code-messages.json');
  const last = body.messages.at(-1);
  const turns = [];
  for (let n = 0; JSON.stringify(turns).length < kb * 1024; n++) {
    const id = `toolu_bench${String(n).padStart(6, '0')}`;
    turns.push(
      { role: 'assistant', content: [{ type: 'text', text: `Listing part ${n}.` }, { type: 'tool_use', id, name: 'Bash', input: { command: `ls -la src/part_${n}`, description: 'List files' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: listing(n) }] },
    );
  }
  return JSON.stringify({ ...body, model, messages: [...body.messages.slice(0, -1), ...(kb ? [{ ...last }, ...turns, { role: 'user', content: 'Go on.' }] : [last])] });
}

/** Codex's /v1/responses body with `kb` KB of function-call turns added to its input. */
export function codexBody(model, kb) {
  const body = recorded('codex-responses.json');
  const turns = [];
  for (let n = 0; JSON.stringify(turns).length < kb * 1024; n++) {
    const call_id = `call_bench${String(n).padStart(6, '0')}`;
    turns.push(
      { type: 'function_call', name: 'shell', arguments: JSON.stringify({ command: ['bash', '-lc', `ls -la src/part_${n}`] }), call_id },
      { type: 'function_call_output', call_id, output: JSON.stringify({ output: listing(n), metadata: { exit_code: 0, duration_seconds: 0.01 } }) },
    );
  }
  return JSON.stringify({ ...body, model, input: [...body.input, ...turns] });
}

/**
 * Every body through Tokengate (c), the pass-through (b) and the JSON floor (b+j), one at a
 * time, in `rounds` rounds whose order alternates: a c=1 CPU figure carries the machine's
 * noise undivided, so the cost per 100 KB is taken within each round (the largest body
 * against the recorded one, on the same target, minutes apart at most) and its median over
 * the rounds reported, with each size's medians. `run(target, pid, seconds)` is one load.
 */
export async function bodyRuns({ gateway, passthrough, jsonFloor, upstreamBase, key, run, median, rounds, seconds }) {
  const cases = [];
  // The same upstream streams for all: Anthropic's 100 events (the bench-messages channel), Codex's 20.
  for (const [agent, path, make, model, events] of [
    ['claude-code', '/v1/messages', claudeCodeBody, 'bench-messages', 100],
    ['codex', '/v1/responses', codexBody, 'bench-responses', 20],
  ]) {
    for (const kb of HISTORY_KB) {
      const [gatewayBody, passBody] = [make(model, kb), make('gpt-4.1-nano', kb)];
      const plain = { 'content-type': 'application/json' };
      cases.push({ agent, kb, size: Buffer.byteLength(gatewayBody), targets: {
        tokengate: [{ url: `${gateway.url}${path}`, headers: { ...plain, authorization: `Bearer ${key}` }, body: gatewayBody }, gateway.pid],
        passthrough: [{ url: `${passthrough.url}/s/${events}/0${path}`, headers: plain, body: passBody }, passthrough.pid],
        json_floor: [{ url: `${jsonFloor.url}/s/${events}/0${path}`, headers: plain, body: passBody }, jsonFloor.pid],
      } });
    }
  }
  const samples = new Map(cases.map((c) => [c, Object.fromEntries(Object.keys(c.targets).map((t) => [t, []]))]));
  for (const c of cases) for (const [t, pid] of Object.values(c.targets)) await run(t, pid, Math.min(seconds, 1)); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const c of round % 2 ? [...cases].reverse() : cases) {
      for (const [name, [t, pid]] of Object.entries(c.targets)) samples.get(c)[name].push(await run(t, pid, seconds));
    }
  }
  const out = {};
  for (const c of cases) {
    const first = cases.find((x) => x.agent === c.agent);
    const figures = {};
    for (const [name, runs] of Object.entries(samples.get(c))) {
      const grown = c.kb === 0 ? null : runs.map((r, i) => ((r.cpu_ms_per_request - samples.get(first)[name][i].cpu_ms_per_request) / (c.size - first.size)) * 102_400);
      figures[name] = {
        cpu_ms_per_request: median(runs.map((r) => r.cpu_ms_per_request)),
        p50: median(runs.map((r) => r.p50)),
        // CPU per 100 KB more than the recorded body, within each round, median.
        cpu_ms_per_100kb: grown && median(grown),
        per_round_100kb: grown,
      };
    }
    out[`${c.agent}/${c.kb}`] = { kb: c.size / 1024, rounds, ...figures };
  }
  return out;
}
