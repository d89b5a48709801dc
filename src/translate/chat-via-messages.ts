import { ApiError } from '../errors';
import type { TokenCounts } from '../money';
import { MessagesStreamMeter } from '../proxy/messages-stream';
import { isObject, type Json } from '../proxy/sse';
import { chatUsageOf } from '../proxy/usage';
import { TranslatedStream } from '../proxy/stream';
import type { ChatRequest } from '../routes/schemas';

/**
 * OpenAI's Chat Completions (what the client speaks) served by an `anthropic` channel (what
 * the upstream speaks): the request into a Messages body, the message and its events back
 * into a chat completion and its chunks. What has no counterpart is refused with a 400
 * naming the field; the fields in IGNORED only steer OpenAI's own servers, and neutral
 * values (n 1, penalties 0, logprobs false) are taken (README lists every lossy step).
 */

const IGNORED = new Set(['store', 'metadata', 'prompt_cache_key', 'safety_identifier', 'service_tier']);
const TRANSLATED = new Set([
  'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'stop',
  'tools', 'tool_choice', 'parallel_tool_calls', 'user', 'reasoning_effort', 'n', 'presence_penalty', 'frequency_penalty',
  'logprobs', 'response_format',
]);
/** Fields taken only at the value that changes nothing. */
const NEUTRAL: Record<string, unknown> = { n: 1, presence_penalty: 0, frequency_penalty: 0, logprobs: false };

/** Thinking budget per reasoning_effort; 'minimal' and 'none' ask for no thinking. */
const THINKING_BUDGET: Record<string, number> = { low: 1024, medium: 4096, high: 16384, xhigh: 32768 };
const MIN_THINKING_BUDGET = 1024;

const unsupported = (param: string, why = "has no counterpart on this model's Anthropic channel") =>
  new ApiError('invalid_value', `Invalid '${param}': ${why}.`, { param });

type Part = Json & { type: string };
const textOf = (content: string | Part[] | null | undefined): string =>
  typeof content === 'string' ? content : (content ?? []).map((p) => (typeof p.text === 'string' ? p.text : typeof p.refusal === 'string' ? p.refusal : '')).join('');

function mediaBlock(url: string, param: string, kind: 'image' | 'document'): Json {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data) return { type: kind, source: { type: 'base64', media_type: data[1], data: data[2] } };
  if (/^https?:\/\//i.test(url)) return { type: kind, source: { type: 'url', url } };
  throw unsupported(param, 'must be an https URL or a base64 data URL');
}

function userBlocks(content: string | Part[], at: string): string | Json[] {
  if (typeof content === 'string') return content;
  return content.map((part, i) => {
    const param = `${at}.content[${i}]`;
    switch (part.type) {
      case 'text': return { type: 'text', text: part.text };
      case 'image_url': return mediaBlock(String((part.image_url as Json).url), `${param}.image_url.url`, 'image');
      case 'file': {
        const file = part.file as Json;
        if (typeof file.file_data === 'string') return mediaBlock(file.file_data, `${param}.file.file_data`, 'document');
        throw unsupported(`${param}.file`, 'an Anthropic channel takes files as file_data only');
      }
      default: throw unsupported(`${param}.type`, `'${part.type}' parts cannot be sent to an Anthropic channel`);
    }
  });
}

function toolUse(call: Json, param: string): Json {
  const fn = call.function as Json;
  let input: unknown;
  try {
    input = JSON.parse(String(fn.arguments) || '{}');
  } catch {
    throw unsupported(`${param}.function.arguments`, 'must be a JSON object to be sent to an Anthropic channel');
  }
  if (!isObject(input)) throw unsupported(`${param}.function.arguments`, 'must be a JSON object to be sent to an Anthropic channel');
  return { type: 'tool_use', id: call.id, name: fn.name, input };
}

/** Chat messages as Anthropic's `system` and alternating turns (tool results in the user turn). */
function anthropicTurns(messages: ChatRequest['messages']): { system: Json[]; turns: Array<{ role: string; content: Json[] }> } {
  const system: Json[] = [];
  const turns: Array<{ role: string; content: Json[] }> = [];
  const push = (role: 'user' | 'assistant', blocks: string | Json[]) => {
    const content = typeof blocks === 'string' ? (blocks === '' ? [] : [{ type: 'text', text: blocks }]) : blocks;
    if (content.length === 0) return;
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...content);
    else turns.push({ role, content });
  };
  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = textOf(m.content as string | Part[]);
        if (text !== '') system.push({ type: 'text', text });
        break;
      }
      case 'user':
        push('user', userBlocks(m.content as string | Part[], at));
        break;
      case 'assistant': {
        const text = textOf(m.content as string | Part[] | null) || (typeof m.refusal === 'string' ? m.refusal : '');
        const calls = (m.tool_calls ?? []).map((call, j) => toolUse(call as Json, `${at}.tool_calls[${j}]`));
        push('assistant', [...(text === '' ? [] : [{ type: 'text', text }]), ...calls]);
        break;
      }
      case 'tool':
        push('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id, content: textOf(m.content as string | Part[]) }]);
        break;
      default:
        throw unsupported(`${at}.role`, "the legacy 'function' role cannot be sent to an Anthropic channel; use tools");
    }
  });
  return { system, turns };
}

function anthropicTools(body: ChatRequest): Json {
  if (!body.tools?.length) return {};
  const tools = body.tools.map((tool, i) => {
    if (tool.type !== 'function') throw unsupported(`tools[${i}].type`, 'an Anthropic channel takes function tools only');
    const fn = tool.function;
    return { name: fn.name, ...(fn.description ? { description: fn.description } : {}), input_schema: fn.parameters ?? { type: 'object', properties: {} } };
  });
  const noParallel = body.parallel_tool_calls === false ? { disable_parallel_tool_use: true } : {};
  const choice = body.tool_choice;
  let tool_choice: Json = { type: 'auto', ...noParallel };
  if (choice === 'none') tool_choice = { type: 'none' };
  else if (choice === 'required') tool_choice = { type: 'any', ...noParallel };
  else if (isObject(choice) && choice.type === 'function') tool_choice = { type: 'tool', name: (choice.function as Json).name, ...noParallel };
  else if (isObject(choice)) throw unsupported('tool_choice', `'${String(choice.type)}' cannot be sent to an Anthropic channel`);
  return { tools, tool_choice };
}

function thinking(body: ChatRequest, maxTokens: number): Json {
  const effort = (body as { reasoning_effort?: unknown }).reasoning_effort;
  if (effort === undefined || effort === null || effort === 'none' || effort === 'minimal') return {};
  const wanted = typeof effort === 'string' ? THINKING_BUDGET[effort] : undefined;
  if (wanted === undefined) throw unsupported('reasoning_effort', "must be 'none', 'minimal', 'low', 'medium', 'high' or 'xhigh'");
  // Anthropic's budget must be at least 1024 and below max_tokens.
  const budget = Math.min(wanted, maxTokens - 1);
  if (budget < MIN_THINKING_BUDGET) throw unsupported('reasoning_effort', `needs max_tokens above ${MIN_THINKING_BUDGET} on an Anthropic channel`);
  return { thinking: { type: 'enabled', budget_tokens: budget } };
}

/** The Messages body for a chat request (the channel's model id is set per channel);
 *  `maxTokens` is the output cap the request's hold was sized for. */
export function messagesRequest(body: ChatRequest, maxTokens: number): Json {
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined || value === null) continue;
    if (field in NEUTRAL && value !== NEUTRAL[field]) throw unsupported(field, `an Anthropic channel takes only ${JSON.stringify(NEUTRAL[field])}`);
    if (!TRANSLATED.has(field) && !IGNORED.has(field)) throw unsupported(field);
  }
  if (body.temperature != null && body.temperature > 1) throw unsupported('temperature', "Anthropic's range is 0 to 1");
  if (body.response_format && body.response_format.type !== 'text') {
    throw unsupported('response_format.type', 'an Anthropic channel has no JSON mode; describe the format in the prompt or use a tool');
  }
  const { system, turns } = anthropicTurns(body.messages);
  const stop = typeof body.stop === 'string' ? [body.stop] : body.stop;
  return {
    max_tokens: maxTokens,
    messages: turns,
    ...(system.length > 0 ? { system } : {}),
    ...(body.stream ? { stream: true } : {}),
    ...(stop?.length ? { stop_sequences: stop } : {}),
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { top_p: body.top_p } : {}),
    ...((body as { top_k?: unknown }).top_k != null ? { top_k: (body as { top_k?: unknown }).top_k } : {}),
    ...(body.user ? { metadata: { user_id: body.user } } : {}),
    ...anthropicTools(body),
    ...thinking(body, maxTokens),
  };
}

/** stop_reason → finish_reason. */
const FINISH_REASONS: Record<string, string> = {
  end_turn: 'stop', stop_sequence: 'stop', pause_turn: 'stop', max_tokens: 'length', model_context_window_exceeded: 'length',
  tool_use: 'tool_calls', refusal: 'content_filter',
};
const finishReason = (stop: unknown) => (typeof stop === 'string' ? FINISH_REASONS[stop] ?? 'stop' : null);


const completionId = (id: unknown) => `chatcmpl-${typeof id === 'string' ? id.replace(/^msg_/, '') : crypto.randomUUID().replace(/-/g, '')}`;

/** A whole Anthropic message as a chat completion (usage added by the caller, with its cost). */
export function chatCompletion(message: Json, publicModel: string): Json {
  let text = '';
  let reasoning = '';
  const toolCalls: Json[] = [];
  for (const block of Array.isArray(message.content) ? message.content : []) {
    if (!isObject(block)) continue;
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'thinking' && typeof block.thinking === 'string') reasoning += block.thinking;
    else if (block.type === 'tool_use') {
      toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    }
  }
  return {
    id: completionId(message.id),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: publicModel,
    choices: [{
      index: 0,
      message: {
        role: 'assistant',
        content: text === '' && toolCalls.length > 0 ? null : text,
        ...(reasoning !== '' ? { reasoning_content: reasoning } : {}),
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        refusal: null,
      },
      logprobs: null,
      finish_reason: finishReason(message.stop_reason) ?? 'stop',
    }],
  };
}

export interface ChatFromMessagesOptions {
  publicModel: string;
  /** The client asked for the usage chunk (stream_options.include_usage). */
  includeUsage: boolean;
  /** The usage object the client sees, its cost added (relay.showCost). */
  showCost: (usage: Json, counts: TokenCounts) => Json;
}

/**
 * An Anthropic Messages stream as chat completion chunks: text deltas as `content`,
 * thinking as `reasoning_content`, each tool_use block as a `tool_calls` entry whose
 * `input_json_delta`s are its arguments, message_delta's stop reason as the finish chunk,
 * and at message_stop the usage chunk (when asked for) and `[DONE]`. Metering is the
 * Messages meter's, which sees every event first.
 */
export class ChatFromMessagesStream extends TranslatedStream<MessagesStreamMeter> {
  readonly dialect = 'openai';
  private id = completionId(undefined);
  private readonly created = Math.floor(Date.now() / 1000);
  /** Tool call index by content block index. */
  private readonly tools = new Map<number, number>();

  constructor(private readonly o: ChatFromMessagesOptions) {
    super(new MessagesStreamMeter());
  }

  inspect(raw: string): string {
    this.meter.inspect(raw);
    const data = this.meter.last;
    if (!data) return '';
    const index = typeof data.index === 'number' ? data.index : 0;
    switch (data.type) {
      case 'message_start':
        if (isObject(data.message)) this.id = completionId(data.message.id);
        return this.chunk({ role: 'assistant', content: '' });
      case 'content_block_start': {
        const block = isObject(data.content_block) ? data.content_block : {};
        if (block.type !== 'tool_use') return '';
        const tool = this.tools.size;
        this.tools.set(index, tool);
        return this.chunk({ tool_calls: [{ index: tool, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }] });
      }
      case 'content_block_delta': {
        const delta = isObject(data.delta) ? data.delta : {};
        if (delta.type === 'text_delta') return this.chunk({ content: delta.text });
        if (delta.type === 'thinking_delta') return this.chunk({ reasoning_content: delta.thinking });
        const tool = this.tools.get(index);
        if (delta.type === 'input_json_delta' && tool !== undefined && delta.partial_json !== '') {
          return this.chunk({ tool_calls: [{ index: tool, function: { arguments: delta.partial_json } }] });
        }
        return '';
      }
      case 'message_delta': {
        const stop = isObject(data.delta) ? finishReason(data.delta.stop_reason) : null;
        return stop ? this.chunk({}, stop) : '';
      }
      case 'message_stop': {
        const usage = this.meter.usage;
        const usageChunk = this.o.includeUsage && usage
          ? `data: ${JSON.stringify({ ...this.base(), choices: [], usage: this.o.showCost(chatUsageOf(usage), usage) })}\n\n`
          : '';
        return `${usageChunk}data: [DONE]\n\n`;
      }
      case 'error': {
        const error = isObject(data.error) ? data.error : {};
        const message = typeof error.message === 'string' ? error.message : 'The upstream failed mid-stream.';
        return `event: error\ndata: ${JSON.stringify({ error: { message, type: 'upstream_error', param: null, code: typeof error.type === 'string' ? error.type : 'upstream_error' } })}\n\n`;
      }
      default:
        return ''; // ping, content_block_stop, and blocks chat has no place for
    }
  }

  private base() {
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.o.publicModel };
  }

  private chunk(delta: Json, finish: string | null = null): string {
    return `data: ${JSON.stringify({ ...this.base(), choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  }
}
