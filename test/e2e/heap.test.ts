import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '../support/ports.ts';
import { startWorker, type RunningWorker } from '../support/worker-process.ts';

/**
 * What an answer keeps in the isolate's heap while it streams. A coding agent's turn is a
 * 100–300 KB conversation, parsed into thousands of objects; once it is sent upstream the
 * gateway needs none of it, and every kilobyte still alive is copied and marked by each
 * garbage collection while the answer streams (BENCHMARKS.md). A heap snapshot taken through
 * V8's inspector, with streams held open mid-answer, must hold no string of their parsed
 * bodies.
 */
let worker: RunningWorker;
let inspectorPort: number;
let key: string;

beforeAll(async () => {
  inspectorPort = await freePort();
  worker = await startWorker({ ADMIN_TOKEN: 'heap-admin', FAKE_UPSTREAM_KEY: 'sk-upstream-e2e', UPSTREAM_IDLE_TIMEOUT_MS: '60000' }, { inspectorPort });
  const account = await worker.admin('POST', '/accounts', { email: 'heap@example.com', credit: 50 });
  ({ key } = await worker.admin('POST', `/accounts/${account.id}/keys`, { name: 'heap' }));
  for (const [kind, fixture] of [['anthropic', 'anthropic/messages-stream-raw-sse-basic-text.sse'], ['openai', 'openai/chat-stream-text-gpt-4o.sse']]) {
    // Two events, then the upstream sends nothing more and keeps the connection open: the answer is mid-stream.
    await worker.admin('PUT', `/models/held-${kind}`, { input_price: 3, output_price: 15 });
    await worker.admin('PUT', `/channels/held-${kind}`, {
      kind, base_url: `${inject('upstreamUrl')}/o:stall=2/${fixture}`, api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [`held-${kind}`]: 'upstream-model' },
    });
  }
}, 60_000);

afterAll(() => worker?.dispose());

/** The heap's strings, each as many times as the heap holds a string object with that content. */
async function heapStrings(): Promise<string[]> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{ id: string; webSocketDebuggerUrl: string }>;
  const target = targets.find((t) => t.id.includes('core:user')) ?? targets[0]!;
  const ws = new WebSocket(target.webSocketDebuggerUrl, { maxPayload: 2 ** 30 });
  await new Promise((resolve, reject) => ws.on('open', resolve).on('error', reject));
  const chunks: string[] = [];
  const done = new Promise<void>((resolve) => ws.on('message', (m) => {
    const msg = JSON.parse(String(m));
    if (msg.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(msg.params.chunk);
    else if (msg.id === 1) resolve();
  }));
  ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.takeHeapSnapshot', params: { reportProgress: false } }));
  await done;
  ws.close();
  const snapshot = JSON.parse(chunks.join(''));
  const { node_fields: fields, node_types: [types] } = snapshot.snapshot.meta;
  const [typeAt, nameAt] = [fields.indexOf('type'), fields.indexOf('name')];
  const out: string[] = [];
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    if (types[snapshot.nodes[i + typeAt]] === 'string') out.push(snapshot.strings[snapshot.nodes[i + nameAt]]);
  }
  return out;
}

it('keeps no part of a request’s parsed body while its answer streams', async () => {
  // Each API on its own kind of channel, passed through: the relay Claude Code's and the SDKs' turns take.
  const marks = [['/v1/messages', 'held-anthropic'], ['/v1/chat/completions', 'held-openai']]
    .flatMap(([path, model]) => [0, 1, 2].map((i) => ({ path, model, mark: `heap mark ${path} ${i} ${crypto.randomUUID()}` })));
  const clients = new AbortController();
  const answers = await Promise.all(marks.map(async ({ path, model, mark }) => {
    const res = await fetch(`${worker.url}${path}`, {
      method: 'POST', signal: clients.signal,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, max_tokens: 100, stream: true, messages: [{ role: 'user', content: mark }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'Go on.' }] }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read(); // the answer has begun
    return reader;
  }));
  try {
    const strings = await heapStrings();
    for (const { mark } of marks) {
      // The request's own text is still held (the request is not over): the snapshot is the right one, taken mid-answer…
      expect(strings.some((s) => s.includes(mark) && s !== mark), mark).toBe(true);
      // …and nothing parsed from it is.
      expect(strings.filter((s) => s === mark), mark).toEqual([]);
    }
  } finally {
    clients.abort();
    await Promise.allSettled(answers.map((r) => r.cancel()));
  }
}, 60_000);
