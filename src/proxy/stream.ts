import type { Ending } from '../billing/settle';
import { anthropicErrorBody, ApiError, errorBody, type Dialect, type ErrorCode } from '../errors';
import type { TokenCounts } from '../money';
import { SseFramer } from './sse';
import { idleTimer } from './timeout';

export type StreamEnd = 'success' | 'failed' | 'cancelled' | 'timeout';

/**
 * Watches (and where it translates, rewrites) the events of a stream as they pass to the
 * client: one per upstream API and client API (sse.ts for chat, messages-stream.ts for
 * Anthropic's Messages, translate/ for the pairs).
 */
export interface StreamMeter {
  /** The API the client is answered in. */
  readonly dialect: Dialect;
  /** One complete upstream event in; what the client gets for it out ('' for nothing). */
  inspect(raw: string): string;
  /** The usage reported so far, and whether it came from the event the provider documents
   *  as final (billing/settle.ts charges a stream cut before it from what was relayed). */
  readonly usage: TokenCounts | null;
  readonly usageFinal: boolean;
  /** A Responses API answer the provider stored, once known (responses-stream.ts). */
  readonly stored?: Ending['stored'];
  /** What an image stream made, in its own unit (billing/units.ts). */
  readonly measured?: Ending['measured'];
  /** The stream's own end passed: `[DONE]`, or `message_stop`. */
  readonly sawDone: boolean;
  /** Generated content (or a finish reason) passed: a stream without it cost nothing. */
  readonly sawContent: boolean;
  /** An in-band error event passed. */
  readonly upstreamError: unknown;
  /** The output counted so far, for a stream that reports no usage. */
  readonly estimatedOutputTokens: number;
  /** The upstream's body ended (EOF): what the client gets last, for an API whose streams
   *  end without an end event of their own (Gemini's). */
  atEnd?(): string;
  /** The client's API's own error event, where its dialect's error body does not fit (the
   *  Responses API's typed `error` event, numbered in its sequence). */
  errorEvent?(err: ApiError): string;
}

/** The meter of a stream translated on its way to the client: the metering is `meter`'s,
 *  the upstream API's own, which sees every event first; the output is the subclass's. */
export abstract class TranslatedStream<M extends StreamMeter> implements StreamMeter {
  abstract readonly dialect: Dialect;

  constructor(protected readonly meter: M) {}

  abstract inspect(raw: string): string;
  get usage() { return this.meter.usage; }
  get usageFinal() { return this.meter.usageFinal; }
  get sawDone() { return this.meter.sawDone; }
  get sawContent() { return this.meter.sawContent; }
  get upstreamError() { return this.meter.upstreamError; }
  get estimatedOutputTokens() { return this.meter.estimatedOutputTokens; }
}

export interface StreamResult {
  end: StreamEnd;
  meter: StreamMeter;
  /** ms from the start of the request to the first byte handed to the client */
  firstByteMs: number | null;
}

export interface MeteredStreamOptions {
  meter: StreamMeter;
  idleTimeoutMs: number;
  startedAt: number;
  /** The client's request signal: fires on disconnect even where cancel() is not called. */
  clientSignal: AbortSignal;
  /** Called exactly once, whatever ends the stream. */
  onEnd: (result: StreamResult) => void;
}

const encoder = new TextEncoder();

/** An error event in the client's API, so a stream that dies mid-way never looks complete. */
export function errorEvent(meter: Pick<StreamMeter, 'dialect' | 'errorEvent'>, message: string, code: ErrorCode): string {
  const err = new ApiError(code, message);
  if (meter.errorEvent) return meter.errorEvent(err);
  const body = meter.dialect === 'anthropic' ? anthropicErrorBody(err) : errorBody(err);
  return `event: error\ndata: ${JSON.stringify(body)}\n\n`;
}

/** How much of the upstream a read takes at most (one buffer per open stream, reused). */
const CHUNK_BYTES = 16_384;

/** The upstream's bytes a chunk at a time; a chunk is valid until the next read. */
interface ChunkSource {
  /** The next chunk, or null at the end; throws when the upstream failed. */
  read(): Promise<Uint8Array | null>;
  /** Stops reading, so the upstream stops generating. */
  cancel(): void;
}

/**
 * A fetched body is read into one reused buffer: a BYOB read hands over whatever has arrived
 * (up to 16 KB), where a default read hands over workerd's 4 KB pieces, and every chunk
 * costs a hop into JavaScript (`npm run bench:ab`). Any other stream (a test's,
 * one built in JavaScript) is read by its own chunks.
 */
function chunksOf(stream: ReadableStream<Uint8Array>): ChunkSource {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: 'byob' });
  } catch {
    // not a byte stream
  }
  if (byob) {
    const reader = byob;
    let buffer = new ArrayBuffer(CHUNK_BYTES);
    return {
      async read() {
        const { done, value } = await reader.read(new Uint8Array(buffer));
        if (done || !value) return null;
        buffer = value.buffer as ArrayBuffer;
        return value;
      },
      cancel: () => void reader.cancel().catch(() => {}),
    };
  }
  const reader = stream.getReader();
  return {
    async read() {
      const { done, value } = await reader.read();
      return done ? null : value;
    },
    cancel: () => void reader.cancel().catch(() => {}),
  };
}

/**
 * The client's side of a stream: a loop that reads the upstream body and writes what the
 * client gets into a native IdentityTransformStream, which the response streams from. Each
 * chunk is handed on as soon as it holds complete events (its own bytes where nothing was
 * dropped or rewritten), so nothing is buffered beyond one partial event, and each write
 * waits for the client to take it before the upstream is read again (backpressure). The
 * meter sees every event on the way. The stream ends in exactly one onEnd: upstream
 * [DONE]/EOF, upstream error, idle timeout, client cancel or client disconnect (request
 * signal); the ways that are not the client's add an error event, so a broken stream never
 * looks complete.
 */
export function meteredStream(upstream: ReadableStream<Uint8Array>, o: MeteredStreamOptions): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const framer = new SseFramer();
  const source = chunksOf(upstream);
  const { readable, writable } = new IdentityTransformStream();
  const client = writable.getWriter();
  let firstByteMs: number | null = null;
  let ended = false;

  const end = (how: StreamEnd) => {
    if (ended) return;
    ended = true;
    idle.stop();
    o.clientSignal.removeEventListener('abort', onAbort);
    o.onEnd({ end: how, meter: o.meter, firstByteMs });
  };
  /** The client left: settle, and stop reading the upstream so nothing more is generated. */
  const onAbort = () => {
    end('cancelled');
    source.cancel();
    client.abort().catch(() => {});
  };
  /** What the client gets last, and the stream's end. */
  const finish = (tail: string, how: StreamEnd) => {
    if (tail) firstByteMs ??= Date.now() - o.startedAt;
    end(how);
    if (tail) client.write(encoder.encode(tail)).catch(() => {});
    client.close().catch(() => {});
  };
  /** The upstream failed or went silent: tell the client, stop reading, settle. */
  const fail = (how: 'failed' | 'timeout', event: string) => {
    if (ended) return;
    source.cancel();
    finish(event, how);
  };
  const idle = idleTimer(o.idleTimeoutMs, () => fail('timeout', errorEvent(o.meter, 'The upstream stopped sending data.', 'upstream_timeout')));
  o.clientSignal.addEventListener('abort', onAbort);
  // A client that cancels the body (where the signal does not fire) errors the writable side.
  client.closed.catch(onAbort);

  /** One upstream chunk: what the client gets for it, or null for nothing yet. */
  const relayed = (value: Uint8Array): Uint8Array | null => {
    const hadPending = framer.hasPending;
    const events = framer.push(decoder.decode(value, { stream: true }));
    let out = '';
    let changed = false;
    for (const event of events) {
      const kept = o.meter.inspect(event);
      if (kept !== event) changed = true;
      out += kept;
    }
    if (out === '') return null;
    // The chunk was exactly whole events, all kept: its own bytes (a copy: the buffer is reused).
    return !hadPending && !framer.hasPending && !changed ? value.slice() : encoder.encode(out);
  };
  /** The upstream's end: a last event it left without its blank line is ended here (clients
   *  drop an unterminated event at EOF, as the SSE spec says, message_stop or [DONE]
   *  included), then whatever the meter adds, or an error event if the stream was cut. */
  const atEof = () => {
    const rest = framer.flush();
    const last = rest ? o.meter.inspect(rest) : '';
    let out = last && (/(\r\n|\n|\r){2}$/.test(last) ? last : `${last.replace(/(\r\n|\n|\r)$/, '')}\n\n`);
    out += o.meter.atEnd?.() ?? '';
    const complete = o.meter.sawDone || o.meter.upstreamError !== null;
    if (!complete) out += errorEvent(o.meter, 'The upstream stream ended before completion.', 'upstream_incomplete');
    finish(out, complete && o.meter.upstreamError === null ? 'success' : 'failed');
  };

  const pump = async () => {
    for (;;) {
      const value = await source.read();
      if (ended) return;
      if (value === null) return atEof();
      idle.touch();
      const out = relayed(value);
      if (out === null) continue;
      firstByteMs ??= Date.now() - o.startedAt;
      if (!(await client.write(out).then(() => true, () => false))) return onAbort(); // the client is gone
    }
  };
  pump().catch(() => fail('failed', errorEvent(o.meter, 'The upstream connection failed mid-stream.', 'upstream_error')));
  return readable as ReadableStream<Uint8Array>;
}

export interface PassedStreamOptions {
  startedAt: number;
  clientSignal: AbortSignal;
  /** Called exactly once, whatever ends the stream: `produced` says whether any byte came. */
  onEnd: (result: { end: StreamEnd; produced: boolean; firstByteMs: number | null }) => void;
}

/**
 * The client's side of an answer that is not events (the speech API's audio): the first
 * chunk read here (so the answer is known to have begun), then the rest piped natively
 * through an IdentityTransformStream — no JavaScript per chunk (a JS TransformStream
 * measured +25 ms of CPU on 1 MiB of audio, `npm run bench`), never buffered whole. It ends
 * in exactly one onEnd: the upstream's end, its failure (the client's stream errors: audio
 * has no error event), or the client leaving. There is no idle timer here: no code sees the
 * chunks to know when they stop.
 */
export async function passedStream(upstream: ReadableStream<Uint8Array>, o: PassedStreamOptions): Promise<ReadableStream<Uint8Array>> {
  const reader = upstream.getReader();
  let first: ReadableStreamReadResult<Uint8Array>;
  try {
    first = await reader.read();
  } catch {
    o.onEnd({ end: 'failed', produced: false, firstByteMs: null });
    throw new ApiError('upstream_error', 'The upstream connection failed before the audio began.');
  }
  const firstByteMs = first.done ? null : Date.now() - o.startedAt;
  const pipe = new IdentityTransformStream();
  const writer = pipe.writable.getWriter();
  if (!first.done) void writer.write(first.value).catch(() => {});
  writer.releaseLock();
  reader.releaseLock();
  let ended = false;
  const end = (how: StreamEnd) => {
    if (ended) return;
    ended = true;
    o.onEnd({ end: how, produced: !first.done, firstByteMs });
  };
  upstream.pipeTo(pipe.writable, { signal: o.clientSignal })
    .then(() => end('success'), () => end(o.clientSignal.aborted ? 'cancelled' : 'failed'));
  return pipe.readable as ReadableStream<Uint8Array>;
}
