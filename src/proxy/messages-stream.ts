import { eventJson, isObject, renamed, type Json } from './sse';
import { MeterState } from './meter';
import { AnthropicUsageTracker } from './usage';

/**
 * Watches the events of an Anthropic Messages stream as they pass, untouched but for the
 * model id in `message_start`: the usage (message_start's, corrected by each message_delta),
 * the generated text, thinking and tool input (for an estimate when no usage comes),
 * whether any content came, `message_stop`, and `error` events.
 * https://docs.anthropic.com/en/docs/build-with-claude/streaming
 */
export class MessagesStreamMeter extends MeterState {
  readonly dialect = 'anthropic';
  /** The last event's JSON, for a translator that reads the stream through this meter. */
  last: Json | null = null;
  private readonly tracker = new AnthropicUsageTracker();

  constructor(private readonly publicModel?: string) {
    super();
  }

  inspect(raw: string): string {
    const parsed = eventJson(raw);
    this.last = parsed?.data ?? null;
    if (!parsed) return raw;
    const { event, data } = parsed;
    switch (data.type ?? event) {
      case 'message_start': {
        const message = isObject(data.message) ? data.message : {};
        this.usage = this.tracker.update(message.usage);
        const foreign = this.publicModel !== undefined && typeof message.model === 'string' && message.model !== this.publicModel;
        return foreign ? renamed(raw, event, data, message, this.publicModel!) : raw;
      }
      case 'content_block_start': {
        const block = isObject(data.content_block) ? data.content_block : {};
        // A text or thinking block opens empty; any other (tool use, a server tool's result) is content.
        if (block.type !== 'text' && block.type !== 'thinking') {
          this.sawContent = true;
          this.output.add(JSON.stringify(block));
        }
        return raw;
      }
      case 'content_block_delta': {
        const delta = isObject(data.delta) ? data.delta : {};
        for (const field of ['text', 'partial_json', 'thinking', 'content'] as const) {
          const value = delta[field];
          if (typeof value === 'string') this.output.add(value);
        }
        this.sawContent = true;
        return raw;
      }
      case 'message_delta':
        // message_start's counts are early (output_tokens: 1 is a placeholder); the
        // cumulative counts here are the final ones.
        this.usage = this.tracker.update(data.usage);
        if (isObject(data.usage)) this.usageFinal = true;
        if (isObject(data.delta) && data.delta.stop_reason) this.sawContent = true;
        return raw;
      case 'message_stop':
        this.sawDone = true;
        return raw;
      case 'error':
        this.upstreamError = data.error ?? data;
        return raw;
      default:
        return raw;
    }
  }
}
