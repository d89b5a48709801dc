import { ApiError, errorBody, type ErrorCode } from '../errors';
import { ChatStreamMeter, SseFramer } from './sse';
import { TimeoutError, withTimeout } from './timeout';

export type StreamEnd = 'success' | 'failed' | 'cancelled' | 'timeout';

export interface StreamResult {
  end: StreamEnd;
  meter: ChatStreamMeter;
  /** ms from the start of the request to the first byte handed to the client */
  firstByteMs: number | null;
}

export interface MeteredStreamOptions {
  meter: ChatStreamMeter;
  idleTimeoutMs: number;
  startedAt: number;
  /** The client's request signal: fires on disconnect even where cancel() is not called. */
  clientSignal: AbortSignal;
  /** Called exactly once, whatever ends the stream. */
  onEnd: (result: StreamResult) => void;
}

const encoder = new TextEncoder();

/** An OpenAI-shaped error event, so a stream that dies mid-way never looks complete. */
export function errorEvent(message: string, code: ErrorCode): Uint8Array {
  const body = errorBody(new ApiError(code, message));
  return encoder.encode(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
}

/**
 * The client's side of a streamed chat completion. Pull-driven: each upstream chunk is
 * read only when the client is ready for more, and handed on as soon as it holds complete
 * events (unchanged bytes where nothing was dropped), so nothing is buffered beyond one
 * partial event and no pump runs on its own. The meter sees every event on the way.
 * The stream ends in exactly one onEnd: upstream [DONE]/EOF, upstream error, idle
 * timeout, client cancel() or client disconnect (request signal).
 */
export function meteredStream(upstream: ReadableStream<Uint8Array>, o: MeteredStreamOptions): ReadableStream<Uint8Array> {
  const reader = upstream.getReader();
  const decoder = new TextDecoder();
  const framer = new SseFramer();
  let firstByteMs: number | null = null;
  let ended = false;

  const end = (how: StreamEnd) => {
    if (ended) return;
    ended = true;
    o.clientSignal.removeEventListener('abort', onAbort);
    o.onEnd({ end: how, meter: o.meter, firstByteMs });
  };
  const onAbort = () => {
    end('cancelled');
    reader.cancel('client disconnected').catch(() => {});
  };
  o.clientSignal.addEventListener('abort', onAbort);

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const { done, value } = await withTimeout(reader.read(), o.idleTimeoutMs);
          if (done) {
            const rest = framer.flush();
            if (rest) controller.enqueue(encoder.encode(o.meter.inspect(rest)));
            const complete = o.meter.sawDone || o.meter.upstreamError !== null;
            if (!complete) controller.enqueue(errorEvent('The upstream stream ended before completion.', 'upstream_incomplete'));
            controller.close();
            end(complete && o.meter.upstreamError === null ? 'success' : 'failed');
            return;
          }
          const hadPending = framer.hasPending;
          const events = framer.push(decoder.decode(value, { stream: true }));
          let out = '';
          let changed = false;
          for (const event of events) {
            const kept = o.meter.inspect(event);
            if (kept !== event) changed = true;
            out += kept;
          }
          if (out === '') continue;
          firstByteMs ??= Date.now() - o.startedAt;
          // Fast path: the chunk was exactly whole events, all kept; forward its own bytes.
          controller.enqueue(!hadPending && !framer.hasPending && !changed ? value : encoder.encode(out));
          return;
        }
      } catch (err) {
        if (ended) return; // the client went away; the read was cancelled on purpose
        const timedOut = err instanceof TimeoutError;
        controller.enqueue(
          timedOut
            ? errorEvent('The upstream stopped sending data.', 'upstream_timeout')
            : errorEvent('The upstream connection failed mid-stream.', 'upstream_error'),
        );
        controller.close();
        reader.cancel().catch(() => {});
        end(timedOut ? 'timeout' : 'failed');
      }
    },
    cancel() {
      onAbort();
    },
  });
}
