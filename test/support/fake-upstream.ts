import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

/**
 * A fake upstream on 127.0.0.1 that replays recorded provider responses from test/fixtures
 * (copied from the shared collection with their sources) byte for byte. A channel's
 * base_url selects what it does:
 *
 *   {url}/o:{options}/{fixture path}            e.g. {url}/o:id=t1,delay=20/openai/chat-stream-text-gpt-4o.sse
 *
 * then POST {base_url}/chat/completions (or /embeddings, Anthropic's /messages, Gemini's
 * /models/{model}:generateContent and :streamGenerateContent) answers with the fixture:
 *   *.sse         raw bytes, one event at a time
 *   *.chunks.txt  one JSON payload a line (the recorder stripped the framing): sent as
 *                 `data: {line}\n\n` each, then `data: [DONE]\n\n` (none for gemini/); those under anthropic/,
 *                 anthropic-compatible/ and openai-responses/ as `event: {type}\ndata:
 *                 {line}\n\n` (the event name is the payload's type), and no [DONE]
 *   *.json        the body, as application/json
 * options: status=N (answer N with the fixture as body), delay=MS (between events),
 *          die=K (drop the connection after K events), stall=K (stop sending after K events
 *          and keep the connection open; on a .json fixture: send the headers only),
 *          hang (never answer), id=X (tag for /__requests),
 *          stream=F (answer requests with "stream": true from fixture F instead, its
 *          slashes written as ~: one channel for both kinds of request),
 *          prompt_tokens=N (the recording, with every usage prompt_tokens value set to N:
 *          an upstream reporting absurd usage), completion_tokens=N (likewise: an upstream
 *          that generated past the cap it was sent), input_tokens=N (likewise for the Responses
 *          and Messages APIs' input_tokens: an upstream reporting what a large prompt cost),
 *          redirect (answer 307 to the same path on the fake's second address, another
 *          origin: the request lands there tagged {id}-redirected if it is followed),
 *          deny=SUFFIX:STATUS[:FIXTURE][;…] (a request whose provider key ends with SUFFIX
 *          gets STATUS, with FIXTURE — slashes as ~ — as its body, or none: a key the
 *          provider refuses or rate-limits while the channel's other keys are served),
 *          no_responses (answer 404 to /responses: an upstream without the Responses API),
 *          retry_after=S (send a retry-after: S header).
 * POST {base_url}/messages/count_tokens answers Anthropic's documented `{"input_tokens": N}`
 * (no recording of it exists) with N from the option count=N.
 * POST /__fail?id=X&status=N makes the channels tagged X answer N (with their fixture as
 * body) until POST /__fail?id=X&status=0: an upstream that fails, recovers and fails again.
 * GET {base_url}/models answers the example of GET /models in OpenAI's OpenAPI document
 * (test/specs; its one trailing comma removed, as the API would not send it), the one
 * published model list this project has; a path starting with
 * deployments/{name}/ (an Azure OpenAI deployment) resolves as without it.
 * GET /__fixture/{path} answers a fixture file as it is.
 * GET /__requests?id=X lists the requests received with that tag (headers and JSON body).
 */
export const FIXTURES = resolve(import.meta.dirname, '../fixtures');

export interface RecordedRequest {
  id: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** A JSON body's bytes as they came (text), to tell what the gateway re-serialised from what it passed on. */
  raw?: string;
}

export function fixtureEvents(fixture: string): Buffer[] {
  const bytes = readFileSync(join(FIXTURES, fixture));
  if (fixture.endsWith('.chunks.txt')) {
    const lines = bytes.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    if (fixture.startsWith('anthropic') || fixture.startsWith('openai-responses')) {
      return lines.map((l) => Buffer.from(`event: ${(JSON.parse(l) as { type: string }).type}\ndata: ${l}\n\n`));
    }
    const framed = lines.map((l) => Buffer.from(`data: ${l}\n\n`));
    return fixture.startsWith('gemini/') ? framed : [...framed, Buffer.from('data: [DONE]\n\n')]; // Gemini sends no [DONE]
  }
  // Split after each blank line, keeping every byte (terminators included).
  const text = bytes.toString('latin1');
  const events: Buffer[] = [];
  const terminator = /\r\n\r\n|\n\n/g;
  let start = 0;
  for (let m = terminator.exec(text); m; m = terminator.exec(text)) {
    events.push(bytes.subarray(start, m.index + m[0].length));
    start = m.index + m[0].length;
  }
  if (start < bytes.length) events.push(bytes.subarray(start));
  return events;
}

function parseOptions(segment: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of segment.slice(2).split(',')) {
    if (!part) continue;
    const [k, v = ''] = part.split('=');
    out[k as string] = v;
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A request body as /__requests shows it: JSON parsed; a multipart form as its fields and
 *  its files' names, types, sizes and SHA-256 (to compare with what the client uploaded). */
async function recordedBody(raw: Buffer, contentType: string | undefined): Promise<unknown> {
  if (contentType?.startsWith('multipart/form-data')) {
    // A form the client malformed reaches the upstream as it was sent (the gateway streams
    // uploads through): recorded as such, as a real upstream would refuse it.
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData().catch(() => null);
    if (!form) return { unparsable_form: raw.length };
    const fields: Record<string, string | string[]> = {};
    const files: Array<{ field: string; filename: string; type: string; size: number; sha256: string }> = [];
    const entries: Array<[string, FormDataEntryValue]> = [];
    form.forEach((value, name) => void entries.push([name, value]));
    for (const [name, value] of entries) {
      if (typeof value === 'string') fields[name] = name in fields ? [...([] as string[]).concat(fields[name]!), value] : value;
      else {
        const bytes = Buffer.from(await value.arrayBuffer());
        files.push({ field: name, filename: value.name, type: value.type, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
      }
    }
    return { fields, files };
  }
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text; // recorded as text
  }
}

let spec: { paths: Record<string, Record<string, { 'x-oaiMeta': { examples: { response?: string } | Array<{ response?: string }> } }>> } | null = null;
/** OpenAI's OpenAPI document (test/specs), read once. */
function openaiSpec() {
  spec ??= parse(readFileSync(resolve(import.meta.dirname, '../specs/openai-openapi.yaml'), 'utf8'), { maxAliasCount: -1 });
  return spec!;
}

/** The response example OpenAI publishes for an operation (`spec/{path}/{n}`: the POST
 *  {path} operation's n-th example), as its API reference prints it. */
export function specExample(fixture: string): string {
  const parts = fixture.split('/');
  const path = `/${parts.slice(1, -1).join('/')}`;
  const examples = openaiSpec().paths[path]!.post!['x-oaiMeta'].examples;
  const response = (Array.isArray(examples) ? examples[Number(parts.at(-1))] : examples)?.response;
  if (!response) throw new Error(`no published response example for ${fixture}`);
  return response;
}

function withUsage(bytes: Buffer, options: Record<string, string>): Buffer {
  let text: string | null = null;
  for (const field of ['prompt_tokens', 'completion_tokens', 'input_tokens']) {
    const n = options[field];
    if (n === undefined) continue;
    text = (text ?? bytes.toString('latin1')).replace(new RegExp(`"${field}"(\\s*):(\\s*)\\d+`, 'g'), `"${field}"$1:$2${n}`);
  }
  return text === null ? bytes : Buffer.from(text, 'latin1');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The provider key a request carries, however its channel sends it. */
function keyOf(headers: IncomingMessage['headers']): string {
  const bearer = /^Bearer (.+)$/.exec(String(headers.authorization ?? ''))?.[1];
  return String(bearer ?? headers['x-api-key'] ?? headers['api-key'] ?? headers['x-goog-api-key'] ?? '');
}

function refusal(deny: string | undefined, headers: IncomingMessage['headers']): { status: number; fixture: string | null } | null {
  const key = keyOf(headers);
  for (const rule of deny?.split(';') ?? []) {
    const [suffix = '', status = '0', fixture] = rule.split(':');
    if (suffix && key.endsWith(suffix)) return { status: Number(status), fixture: fixture ? fixture.replace(/~/g, '/') : null };
  }
  return null;
}

/** The response example of OpenAI's GET /models, as the OpenAPI document publishes it but
 *  for one trailing comma, which makes the printed example invalid JSON. */
const listModelsExample = (): string =>
  (openaiSpec().paths['/models']!.get!['x-oaiMeta'].examples as { response: string }).response.replace(/,(\s*\])/, '$1');

const TWO_SEGMENT_ENDPOINTS = new Set([
  'chat/completions', 'messages/count_tokens', 'images/generations', 'images/edits', 'audio/speech', 'audio/transcriptions', 'audio/translations',
]);

/** Recorded audio (test/fixtures/audio): sent as the speech API sends it, in 4 KB chunks. */
const AUDIO_TYPES: Record<string, string> = { wav: 'audio/wav', mp3: 'audio/mpeg' };

export async function startFakeUpstream(): Promise<{ url: string; server: Server }> {
  const requests: RecordedRequest[] = [];
  const failing = new Map<string, number>();
  let elsewhere = '';
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'POST' && url.pathname === '/__fail') {
      const status = Number(url.searchParams.get('status'));
      if (status) failing.set(url.searchParams.get('id') ?? '', status);
      else failing.delete(url.searchParams.get('id') ?? '');
      res.end();
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/__fixture/')) {
      res.end(readFileSync(join(FIXTURES, decodeURIComponent(url.pathname.slice('/__fixture/'.length)))));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/__requests') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(requests.filter((r) => r.id === url.searchParams.get('id'))));
      return;
    }
    const segments = url.pathname.split('/').filter(Boolean);
    const options = segments[0]?.startsWith('o:') ? parseOptions(segments.shift() as string) : {};
    // An Azure OpenAI deployment's path ({base}/deployments/{name}/…) leads to the same fixtures.
    if (segments[0] === 'deployments') segments.splice(0, 2);
    if (req.method === 'GET' && segments.at(-1) === 'models') {
      requests.push({ id: options.id ?? '', path: url.pathname, query: url.search, headers: req.headers, body: null });
      const denied = refusal(options.deny, req.headers);
      if (denied) return void res.writeHead(denied.status).end();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(listModelsExample());
      return;
    }
    const tail = segments.slice(-2).join('/');
    // Gemini's: {base}/models/{model}:generateContent or :streamGenerateContent?alt=sse
    const geminiCall = /:(stream)?generateContent$/i.exec(segments.at(-1) ?? '');
    const endpoint = TWO_SEGMENT_ENDPOINTS.has(tail) || geminiCall ? 2 : 1;
    const bytes = await readBody(req);
    const body = await recordedBody(bytes, req.headers['content-type']);
    const raw = req.headers['content-type']?.startsWith('application/json') ? bytes.toString('utf8') : undefined;
    const streamed = options.stream !== undefined && ((body as { stream?: unknown } | null)?.stream === true || geminiCall?.[1] !== undefined);
    const fixture = streamed
      ? (options.stream as string).replace(/~/g, '/')
      : decodeURIComponent(segments.slice(0, segments.length - endpoint).join('/'));
    requests.push({ id: options.id ?? '', path: url.pathname, query: url.search, headers: req.headers, body, raw });
    if ('hang' in options) return; // never answers; the gateway's timeout must fire
    const denied = refusal(options.deny, req.headers);
    if (denied) {
      res.writeHead(denied.status, { 'content-type': 'application/json' });
      res.end(denied.fixture ? readFileSync(join(FIXTURES, denied.fixture)) : '');
      return;
    }
    if ('redirect' in options) {
      const target = url.pathname.replace(/^\/o:[^/]*/, `/o:id=${options.id ?? ''}-redirected`);
      res.writeHead(307, { location: `${elsewhere}${target}` });
      res.end();
      return;
    }
    if ('no_responses' in options && segments.at(-1) === 'responses') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"Not Found","type":"invalid_request_error"}}');
      return;
    }
    if (tail === 'messages/count_tokens') {
      res.writeHead(Number(options.status ?? 200), { 'content-type': 'application/json' });
      res.end(JSON.stringify({ input_tokens: Number(options.count ?? 0) }));
      return;
    }

    const status = failing.get(options.id ?? '') ?? Number(options.status ?? 200);
    if (options.retry_after !== undefined) res.setHeader('retry-after', options.retry_after);
    const audioType = AUDIO_TYPES[fixture.split('.').at(-1) ?? ''];
    if (audioType) {
      res.writeHead(status, { 'content-type': audioType });
      const bytes = readFileSync(join(FIXTURES, fixture));
      const die = options.die === undefined ? Infinity : Number(options.die);
      for (let i = 0, at = 0; at < bytes.length; i++, at += 4096) {
        if (i === die) {
          await sleep(50);
          res.socket?.destroy();
          return;
        }
        if (options.delay) await sleep(Number(options.delay));
        if (res.destroyed) return;
        res.write(bytes.subarray(at, at + 4096));
      }
      res.end();
      return;
    }
    if (fixture.startsWith('spec/')) {
      const example = specExample(fixture);
      if (example.startsWith('{')) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(withUsage(Buffer.from(example), options));
        return;
      }
      res.writeHead(status, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      for (const event of example.split(/(?<=\n\n)/)) {
        if (options.delay) await sleep(Number(options.delay));
        if (res.destroyed) return;
        res.write(withUsage(Buffer.from(event), options));
      }
      res.end();
      return;
    }
    if (fixture.endsWith('.json')) {
      res.writeHead(status, { 'content-type': 'application/json' });
      if ('stall' in options) {
        res.flushHeaders(); // headers, then silence
        return;
      }
      res.end(withUsage(readFileSync(join(FIXTURES, fixture)), options));
      return;
    }
    res.writeHead(status, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const events = fixtureEvents(fixture);
    const delay = Number(options.delay ?? 0);
    const die = options.die === undefined ? Infinity : Number(options.die);
    const stall = options.stall === undefined ? Infinity : Number(options.stall);
    for (let i = 0; i < events.length; i++) {
      if (i === die) {
        await sleep(50); // let what was written reach the gateway, then cut the connection
        res.socket?.destroy();
        return;
      }
      if (i === stall) return; // keeps the connection open, sends nothing more
      if (delay > 0) await sleep(delay);
      if (res.destroyed) return;
      res.write(withUsage(events[i] as Buffer, options));
    }
    res.end();
  };
  // The same fake on a second port: another origin, where a redirect leads.
  const server = createServer(handler);
  const second = createServer(handler);
  const listen = async (s: Server) => {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };
  const url = await listen(server);
  elsewhere = await listen(second);
  // Reading the OpenAPI document takes over a second: done while the tests start, not on a request's clock.
  setTimeout(openaiSpec, 0);
  server.on('close', () => second.close());
  return { url, server };
}
