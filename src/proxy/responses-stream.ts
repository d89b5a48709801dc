import { eventJson, isObject, renamed } from './sse';
import { MeterState } from './meter';
import { responsesUsage } from './usage';

/** Events that end a response stream, and how. */
const TERMINAL: Record<string, 'done' | 'failed'> = { 'response.completed': 'done', 'response.incomplete': 'done', 'response.failed': 'failed' };

/**
 * Watches the typed events of a Responses API stream as they pass, untouched but for the
 * model id of the response object (response.created … response.completed): the usage (from
 * the terminal response.completed or response.incomplete), the generated text, reasoning
 * and function-call arguments (for an estimate when no usage comes), whether any content
 * came, the terminal event, and `error` / response.failed.
 * https://platform.openai.com/docs/api-reference/responses-streaming
 */
export class ResponsesStreamMeter extends MeterState {
  readonly dialect = 'openai';

  constructor(private readonly publicModel?: string) {
    super();
  }

  inspect(raw: string): string {
    const parsed = eventJson(raw);
    if (!parsed) return raw;
    const { event, data } = parsed;
    const type = String(data.type ?? event);
    if (type === 'error') this.upstreamError = data.error ?? data;
    if (typeof data.delta === 'string' && type.endsWith('.delta')) {
      this.output.add(data.delta);
      this.sawContent = true;
    }
    if (type === 'response.output_item.added' && isObject(data.item) && data.item.type !== 'message' && data.item.type !== 'reasoning') {
      this.output.add(JSON.stringify(data.item));
      this.sawContent = true;
    }
    const response = isObject(data.response) ? data.response : null;
    if (!response) return raw;
    const end = TERMINAL[type];
    if (end) {
      this.sawDone = true;
      this.usage = responsesUsage(response.usage) ?? this.usage;
      if (end === 'failed') this.upstreamError = response.error ?? response;
      else this.sawContent ||= Array.isArray(response.output) && response.output.length > 0;
    }
    const foreign = this.publicModel !== undefined && typeof response.model === 'string' && response.model !== this.publicModel;
    return foreign ? renamed(raw, event, data, response, this.publicModel!) : raw;
  }
}
