// The benchmark's fake OpenAI-format upstream (Node http, 127.0.0.1), replaying a recorded
// gpt-4.1-nano stream from test/fixtures with a chosen number of events and a pause
// between them. POST {base}/s/{events}/{pauseMs}/v1/chat/completions:
//   stream: true  → `events` SSE events: content chunks of the recording, its finish chunk,
//                   its usage chunk (choices: []), then [DONE]
//   otherwise     → the recorded non-stream gpt-4o response
// and POST {base}/s/{events}/{pauseMs}/v1/messages streams `events` events of Anthropic's
// Messages API: a recorded claude-sonnet-4-5 stream with its text deltas repeated; /v1/responses
// likewise the recorded gpt-5.3-codex Responses stream.
// POST {base}/m/v1/audio/speech and /m/v1/audio/transcriptions: see below.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const fixtures = new URL('../test/fixtures/', import.meta.url).pathname;
const lines = readFileSync(join(fixtures, 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt'), 'utf8').split('\n').filter(Boolean);
const content = lines.slice(0, -2);
const [finish, usage] = lines.slice(-2);
const whole = readFileSync(join(fixtures, 'openai/chat-nonstream-text-gpt-4o.json'));

// Responses: the recorded gpt-5.3-codex stream, its text deltas repeated to `count` events.
const codexStream = readFileSync(join(fixtures, 'openai-responses/responses-stream-text-cached-reasoning-gpt-5.3-codex.chunks.txt'), 'utf8').split('\n').filter(Boolean)
  .map((line) => `event: ${JSON.parse(line).type}\ndata: ${line}\n\n`);
export function responsesEvents(count) {
  const deltas = codexStream.filter((e) => e.startsWith('event: response.output_text.delta'));
  const first = codexStream.indexOf(deltas[0]);
  const afterDeltas = codexStream.indexOf(deltas.at(-1)) + 1;
  const events = codexStream.slice(0, first);
  const tail = codexStream.slice(afterDeltas);
  for (let i = 0; events.length < count - tail.length; i++) events.push(deltas[i % deltas.length]);
  return [...events, ...tail].map((e) => Buffer.from(e));
}

const claude = readFileSync(join(fixtures, 'anthropic/messages-stream-text-sonnet-4-5.chunks.txt'), 'utf8').split('\n').filter(Boolean)
  .map((line) => `event: ${JSON.parse(line).type}\ndata: ${line}\n\n`);
const claudeDeltas = claude.filter((e) => e.startsWith('event: content_block_delta'));
const [claudeStart, claudeBlock] = claude;
const claudeEnd = claude.slice(-3); // content_block_stop, message_delta, message_stop

export function messagesEvents(count) {
  const events = [claudeStart, claudeBlock];
  for (let i = 0; events.length < count - 3; i++) events.push(claudeDeltas[i % claudeDeltas.length]);
  return [...events, ...claudeEnd].map((e) => Buffer.from(e));
}

export function streamEvents(count) {
  const events = [];
  for (let i = 0; events.length < count - 3; i++) events.push(`data: ${content[i % content.length]}\n\n`);
  return [...events, `data: ${finish}\n\n`, `data: ${usage}\n\n`, 'data: [DONE]\n\n'].map((e) => Buffer.from(e));
}

// Speech and transcription (bench/media.mjs): the recorded audio of test/fixtures/audio
// repeated to 1 MiB and sent in 16 KiB chunks; a transcription's answer is OpenAI's
// published example (test/specs), given once the whole upload has been read.
const wav = readFileSync(join(fixtures, 'audio/pluck-pcm16.wav'));
const speech = Buffer.concat(Array.from({ length: Math.ceil((1 << 20) / wav.length) }, () => wav)).subarray(0, 1 << 20);
let transcription = null;
async function transcriptionExample() {
  const { parse } = await import('yaml');
  const spec = parse(readFileSync(new URL('../test/specs/openai-openapi.yaml', import.meta.url), 'utf8'), { maxAliasCount: -1 });
  return Buffer.from(spec.paths['/audio/transcriptions'].post['x-oaiMeta'].examples[0].response);
}

const cache = new Map();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function startUpstream(port = 0) {
  const server = createServer(async (req, res) => {
    if (req.url === '/m/v1/audio/transcriptions') {
      for await (const _ of req); // read as it comes, kept nowhere
      transcription ??= await transcriptionExample();
      res.writeHead(200, { 'content-type': 'application/json' }).end(transcription);
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    if (req.url === '/m/v1/audio/speech') {
      res.writeHead(200, { 'content-type': 'audio/wav' });
      for (let at = 0; at < speech.length && !res.destroyed; at += 16_384) {
        if (!res.write(speech.subarray(at, at + 16_384))) await new Promise((r) => res.once('drain', r));
      }
      res.end();
      return;
    }
    const m = /^\/s\/(\d+)\/(\d+)\/v1\/(chat\/completions|messages|responses)$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    let stream = false;
    try {
      stream = JSON.parse(Buffer.concat(chunks).toString()).stream === true;
    } catch {}
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': whole.length });
      res.end(whole);
      return;
    }
    const count = Number(m[1]);
    const pause = Number(m[2]);
    const id = `${m[3]}:${count}`;
    if (!cache.has(id)) cache.set(id, { messages: messagesEvents, responses: responsesEvents }[m[3]]?.(count) ?? streamEvents(count));
    const events = cache.get(id);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    if (pause === 0) {
      res.end(Buffer.concat(events));
      return;
    }
    res.flushHeaders();
    for (const e of events) {
      if (res.destroyed) return;
      res.write(e);
      await sleep(pause);
    }
    res.end();
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const server = await startUpstream(Number(process.argv[2] ?? 0));
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
}
