// The "real bodies" cases of `npm run bench` (run.mjs): the request bodies Claude Code and
// Codex send on every turn (recorded by bench/capture-bodies.mjs from the pinned binaries),
// as recorded and grown to 50, 150 and 300 KB of conversation history, streamed through
// Tokengate, the pass-through worker and the JSON floor (json-floor.js) one at a time: workerd CPU per request,
// per 100 KB of body, and p50 latency. History grows by turns of the shapes the agents
// send themselves: an assistant's tool call and its result.
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

export async function bodyRuns({ gateway, passthrough, jsonFloor, upstreamBase, key, load }) {
  const out = {};
  // The same upstream streams for both: Anthropic's 100 events (the bench-messages channel), Codex's 20.
  for (const [agent, path, make, model, events] of [
    ['claude-code', '/v1/messages', claudeCodeBody, 'bench-messages', 100],
    ['codex', '/v1/responses', codexBody, 'bench-responses', 20],
  ]) {
    for (const kb of HISTORY_KB) {
      const [gatewayBody, passBody] = [make(model, kb), make('gpt-4.1-nano', kb)];
      const size = Buffer.byteLength(gatewayBody);
      const runs = {
        tokengate: await load({ url: `${gateway.url}${path}`, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: gatewayBody }, gateway.pid, 1),
        passthrough: await load({ url: `${passthrough.url}/s/${events}/0${path}`, headers: { 'content-type': 'application/json' }, body: passBody }, passthrough.pid, 1),
        json_floor: await load({ url: `${jsonFloor.url}/s/${events}/0${path}`, headers: { 'content-type': 'application/json' }, body: passBody }, jsonFloor.pid, 1),
      };
      out[`${agent}/${kb}`] = { kb: size / 1024, ...runs };
    }
  }
  return out;
}
