import type { Ending } from '../billing/settle';
import type { ApiError } from '../errors';
import { eventJson, isObject, renamed, type Json } from './sse';
import { MeterState } from './meter';
import { responsesUsage } from './usage';

/** Events that end a response stream, and how. */
const TERMINAL: Record<string, 'done' | 'failed'> = { 'response.completed': 'done', 'response.incomplete': 'done', 'response.failed': 'failed' };

/**
 * Watches the typed events of a Responses API stream as they pass, untouched but for the
 * model id of the response object (response.created … response.completed): the usage (from
 * the terminal response.completed or response.incomplete), the generated text, reasoning
 * and function-call arguments (for an estimate when no usage comes), whether any content
 * came, the terminal event, and `error` / response.failed. Where the request stored the
 * response (`stores`), its id and its output items' ids, for the account's object to own.
 * https://platform.openai.com/docs/api-reference/responses-streaming
 */
export class ResponsesStreamMeter extends MeterState {
  readonly dialect = 'openai';
  stored: Ending['stored'] = null;
  /** The sequence number the next event takes (the upstream numbers its events from 0). */
  private nextSequence = 0;

  constructor(private readonly publicModel?: string, private readonly stores = false) {
    super();
  }

  inspect(raw: string): string {
    const parsed = eventJson(raw);
    if (!parsed) return raw;
    const { event, data } = parsed;
    const type = String(data.type ?? event);
    if (typeof data.sequence_number === 'number') this.nextSequence = data.sequence_number + 1;
    if (type === 'error') this.upstreamError = data.error ?? data;
    if (typeof data.delta === 'string' && type.endsWith('.delta')) {
      this.output.add(data.delta);
      this.sawContent = true;
    }
    if (type === 'response.output_item.added' && isObject(data.item)) {
      if (this.stored && typeof data.item.id === 'string') this.stored.itemIds.push(data.item.id);
      if (data.item.type !== 'message' && data.item.type !== 'reasoning') {
        this.output.add(JSON.stringify(data.item));
        this.sawContent = true;
      }
    }
    const response = isObject(data.response) ? data.response : null;
    if (!response) return raw;
    if (this.stores && typeof response.id === 'string') this.stored = storedOf(response, this.stored?.itemIds ?? []);
    const end = TERMINAL[type];
    if (end) {
      this.sawDone = true;
      this.usage = responsesUsage(response.usage) ?? this.usage;
      this.usageFinal = true;
      if (end === 'failed') this.upstreamError = response.error ?? response;
      else this.sawContent ||= Array.isArray(response.output) && response.output.length > 0;
    }
    const foreign = this.publicModel !== undefined && typeof response.model === 'string' && response.model !== this.publicModel;
    return foreign ? renamed(raw, event, data, response, this.publicModel!) : raw;
  }

  errorEvent(err: ApiError): string {
    return responsesErrorEvent(err, this.nextSequence++);
  }
}

/** The Responses API's `error` stream event (ResponseErrorEvent), numbered in its sequence. */
export function responsesErrorEvent(err: ApiError, sequenceNumber: number): string {
  return `event: error\ndata: ${JSON.stringify({ type: 'error', code: err.code, message: err.message, param: err.param, sequence_number: sequenceNumber })}\n\n`;
}

/** A stored response's id and its output items' ids (those seen so far, where the response
 *  object does not list them yet). */
export function storedOf(response: Json, seen: string[] = []): NonNullable<Ending['stored']> {
  const listed = Array.isArray(response.output) ? response.output.flatMap((item) => (isObject(item) && typeof item.id === 'string' ? [item.id] : [])) : [];
  return { responseId: String(response.id), itemIds: [...new Set([...seen, ...listed])] };
}
