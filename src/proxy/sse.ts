import type { TokenCounts } from '../money';
import { MeterState } from './meter';
import { normaliseUsage } from './usage';

/**
 * Splits a text stream into complete server-sent events (each with its blank-line
 * terminator, exactly as received), keeping a partial event until the rest arrives.
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
 */
export class SseFramer {
  private pending = '';

  /** Returns the complete events in `text` (plus what was pending). */
  push(text: string): string[] {
    const buffer = this.pending + text;
    const events: string[] = [];
    let start = 0;
    if (buffer.indexOf('\r') === -1) {
      // Every provider recorded ends its lines in LF alone: a string search, not a RegExp
      // (a third of the framer's cost per event, `npm run bench -- --streams`).
      for (let at = buffer.indexOf('\n\n'); at !== -1; at = buffer.indexOf('\n\n', start)) {
        events.push(buffer.slice(start, at + 2));
        start = at + 2;
      }
    } else {
      const terminator = /\r\n\r\n|\n\n|\r\r/g;
      for (let m = terminator.exec(buffer); m; m = terminator.exec(buffer)) {
        const end = m.index + m[0].length;
        events.push(buffer.slice(start, end));
        start = end;
      }
    }
    this.pending = buffer.slice(start);
    return events;
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Whatever was left without a terminator when the stream ended. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}

interface ParsedEvent {
  event?: string;
  data?: string;
}

export function parseEvent(raw: string): ParsedEvent {
  const out: ParsedEvent = {};
  for (const line of raw.indexOf('\r') === -1 ? raw.split('\n') : raw.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') out.data = out.data === undefined ? value : `${out.data}\n${value}`;
    else if (field === 'event') out.event = value;
  }
  return out;
}

export type Json = Record<string, unknown>;

/** A chunk written anew as one event. */
export const serialise = (event: string | undefined, chunk: Json) =>
  `${event === undefined ? '' : `event: ${event}\n`}data: ${JSON.stringify(chunk)}\n\n`;
export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A complete event's JSON data: null for a comment, `[DONE]`, or data that is not an object. */
export function eventJson(raw: string): { event: string | undefined; data: Json } | null {
  const { event, data } = parseEvent(raw);
  if (data === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(data);
    return isObject(parsed) ? { event, data: parsed } : null;
  } catch {
    return null;
  }
}

/** The last rename's members, written once: a stream names the same model in every event. */
let swap: { from: unknown; to: string; needle: string; replacement: string } = { from: undefined, to: '', needle: '', replacement: '' };

/**
 * The event with `holder.model` replaced by `publicModel`. Where the id stands exactly once
 * as a compact "model" member (how providers write events) its bytes are swapped, so the
 * rest of the event stays as the upstream sent it; otherwise the event is written anew.
 */
export function renamed(raw: string, event: string | undefined, chunk: Json, holder: Json, publicModel: string): string {
  if (swap.from !== holder.model || swap.to !== publicModel) {
    swap = { from: holder.model, to: publicModel, needle: `"model":${JSON.stringify(holder.model)}`, replacement: `"model":${JSON.stringify(publicModel)}` };
  }
  const at = raw.indexOf(swap.needle);
  if (at !== -1 && raw.indexOf(swap.needle, at + 1) === -1) {
    return `${raw.slice(0, at)}${swap.replacement}${raw.slice(at + swap.needle.length)}`;
  }
  holder.model = publicModel;
  return serialise(event, chunk);
}

export interface MeterOptions {
  /** Remove the usage-only chunk (the client did not ask for usage). */
  dropUsageOnly: boolean;
  /** The model id the client asked for; chunks naming another (the upstream's) are
   *  rewritten to it. Without it, model ids pass unchanged. */
  publicModel?: string;
  /** Rewrites a usage object the client will see (our cost in, the upstream's cost fields
   *  out); without it usage chunks pass unchanged. */
  showCost?: (usage: Json, counts: TokenCounts) => Json;
}

/**
 * Watches the events of an OpenAI-format chat stream as they pass: the usage (wherever the
 * provider puts it: a `choices: []` chunk, the last content chunk, Groq's `x_groq`), the
 * generated text (for an estimate when no usage comes), whether any content came at all,
 * `[DONE]`, and in-band errors.
 */
export class ChatStreamMeter extends MeterState {
  readonly dialect = 'openai';

  constructor(private readonly o: MeterOptions) {
    super();
  }

  /** Inspects one complete event; returns what to forward: the event itself, or '' to drop it. */
  inspect(raw: string): string {
    const { event, data } = parseEvent(raw);
    if (data === undefined) return raw;
    if (data.trim() === '[DONE]') {
      this.sawDone = true;
      return raw;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      return raw;
    }
    if (!isObject(chunk)) return raw;
    if (event === 'error' || chunk.error !== undefined) this.upstreamError = chunk.error ?? chunk;

    const rawUsage = isObject(chunk.usage) ? chunk.usage : isObject(chunk.x_groq) ? chunk.x_groq.usage : undefined;
    const usage = rawUsage === undefined ? null : normaliseUsage(rawUsage);
    // OpenAI-format servers report usage once, at the end (the usage chunk, or the last
    // content chunk for DeepSeek, GLM, Mistral and Groq): it is final when it comes.
    if (usage) {
      this.usage = usage;
      this.usageFinal = true;
    }

    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    let carriesContent = false;
    for (const choice of choices) {
      if (!isObject(choice)) continue;
      if (choice.finish_reason) carriesContent = true;
      if (isObject(choice.delta) && this.countDelta(choice.delta)) carriesContent = true;
    }
    if (carriesContent) this.sawContent = true;
    const usageOnly = usage !== null && !carriesContent && chunk.error === undefined;
    if (this.o.dropUsageOnly && usageOnly) return '';
    const foreignModel = this.o.publicModel !== undefined && typeof chunk.model === 'string' && chunk.model !== this.o.publicModel;
    if (usage !== null && this.o.showCost && isObject(chunk.usage)) {
      chunk.usage = this.o.showCost(chunk.usage, usage);
      if (foreignModel) chunk.model = this.o.publicModel;
      return serialise(event, chunk);
    }
    return foreignModel ? renamed(raw, event, chunk, chunk, this.o.publicModel!) : raw;
  }

  /** Adds the generated text of a delta to the estimate; true if there was any. */
  private countDelta(delta: Json): boolean {
    let text = '';
    for (const field of ['content', 'reasoning_content', 'reasoning', 'refusal'] as const) {
      const value = delta[field];
      if (typeof value === 'string') text += value;
      else if (Array.isArray(value)) text += JSON.stringify(value); // e.g. Mistral's thinking parts
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls) {
        if (isObject(call) && isObject(call.function)) {
          const { name, arguments: args } = call.function;
          text += (typeof name === 'string' ? name : '') + (typeof args === 'string' ? args : '');
        }
      }
    }
    this.output.add(text);
    return text.length > 0 || Array.isArray(delta.tool_calls);
  }
}
