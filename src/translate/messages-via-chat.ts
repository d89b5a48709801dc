import { ApiError } from '../errors';
import type { TokenCounts } from '../money';
import { ChatStreamMeter, eventJson, isObject, type Json } from '../proxy/sse';
import { TranslatedStream } from '../proxy/stream';
import type { MessagesRequest } from '../routes/schemas';

/**
 * Anthropic's Messages API (what the client speaks) served by an OpenAI-format channel
 * (what the upstream speaks): the request into a chat completion's body, the answer and
 * its stream back into Anthropic's message and events. What has no counterpart is refused
 * with a 400 naming the field, except the fields listed in IGNORED, which only steer
 * Anthropic's own servers (README "Anthropic-compatible API" lists every lossy step).
 */

/** Anthropic fields an OpenAI-format upstream has no use for: dropped, documented. */
const IGNORED = new Set(['thinking', 'output_config', 'context_management', 'service_tier', 'cache_control']);
const TRANSLATED = new Set([
  'model', 'messages', 'system', 'max_tokens', 'stream', 'stop_sequences', 'temperature', 'top_p', 'tools', 'tool_choice', 'metadata',
]);

const unsupported = (param: string, why = "has no counterpart on this model's OpenAI-format channel") =>
  new ApiError('invalid_value', `Invalid '${param}': ${why}.`, { param });

type Block = Json & { type: string };
const blocksOf = (content: string | Json[]): Block[] =>
  typeof content === 'string' ? [{ type: 'text', text: content }] : (content as Block[]);

/** Anthropic's `system` (and any `role: "system"` message) as one system message's text. */
function systemText(body: MessagesRequest): string {
  const parts: string[] = [];
  if (typeof body.system === 'string') parts.push(body.system);
  else if (body.system) parts.push(...body.system.map((b) => b.text));
  for (const m of body.messages) {
    if (m.role === 'system') parts.push(...blocksOf(m.content).map((b) => (typeof b.text === 'string' ? b.text : '')));
  }
  return parts.filter((p) => p !== '').join('\n\n');
}

function imagePart(block: Block, param: string): Json {
  const source = block.source as Json;
  if (source.type === 'base64') return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
  if (source.type === 'url') return { type: 'image_url', image_url: { url: source.url } };
  throw unsupported(`${param}.source.type`, `an image from a '${String(source.type)}' source cannot be sent to an OpenAI-format channel (use base64 or url)`);
}

function documentPart(block: Block, param: string): Json {
  const source = block.source as Json;
  if (source.type === 'base64' && source.media_type === 'application/pdf') {
    return { type: 'file', file: { file_data: `data:application/pdf;base64,${source.data}`, filename: typeof block.title === 'string' ? block.title : 'document.pdf' } };
  }
  if (source.type === 'text') return { type: 'text', text: String(source.data) };
  throw unsupported(`${param}.source`, 'only base64 PDF and plain-text documents can be sent to an OpenAI-format channel');
}

function toolResultText(block: Block, param: string): string {
  const content = block.content;
  const text = typeof content === 'string' ? content
    : Array.isArray(content) ? content.map((part, i) => {
      if (isObject(part) && part.type === 'text' && typeof part.text === 'string') return part.text;
      throw unsupported(`${param}.content[${i}]`, 'a tool result sent to an OpenAI-format channel can hold text only');
    }).join('\n') : '';
  return block.is_error === true ? `Error: ${text}` : text;
}

/** One Anthropic message as chat messages: tool results become `tool` messages (first, as
 *  Anthropic puts them first), the rest one user or assistant message. */
function chatMessages(role: 'user' | 'assistant', content: string | Json[], at: string): Json[] {
  if (typeof content === 'string') return [{ role, content }];
  const out: Json[] = [];
  const parts: Json[] = [];
  const toolCalls: Json[] = [];
  content.forEach((raw, i) => {
    const block = raw as Block;
    const param = `${at}.content[${i}]`;
    switch (block.type) {
      case 'text':
        parts.push({ type: 'text', text: block.text });
        break;
      case 'image':
        if (role !== 'user') throw unsupported(`${param}.type`, 'an assistant message cannot hold an image');
        parts.push(imagePart(block, param));
        break;
      case 'document':
        if (role !== 'user') throw unsupported(`${param}.type`, 'an assistant message cannot hold a document');
        parts.push(documentPart(block, param));
        break;
      case 'tool_use':
        if (role !== 'assistant') throw unsupported(`${param}.type`, 'tool_use blocks belong to assistant messages');
        toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input) } });
        break;
      case 'tool_result':
        if (role !== 'user') throw unsupported(`${param}.type`, 'tool_result blocks belong to user messages');
        out.push({ role: 'tool', tool_call_id: block.tool_use_id, content: toolResultText(block, param) });
        break;
      case 'thinking':
      case 'redacted_thinking':
        break; // earlier reasoning: OpenAI-format upstreams take none back
      default:
        throw unsupported(`${param}.type`, `'${block.type}' blocks cannot be sent to an OpenAI-format channel`);
    }
  });
  if (role === 'assistant') {
    const text = parts.map((p) => p.text).join('');
    if (text !== '' || toolCalls.length > 0) {
      out.push({ role, content: text === '' ? null : text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) });
    }
  } else if (parts.length > 0) {
    out.push({ role, content: parts.every((p) => p.type === 'text') ? parts.map((p) => p.text).join('') : parts });
  }
  return out;
}

function chatTools(body: MessagesRequest): Json[] | undefined {
  return body.tools?.map((tool, i) => {
    if (tool.type !== undefined && tool.type !== 'custom') {
      throw unsupported(`tools[${i}].type`, `Anthropic's '${tool.type}' tool runs on Anthropic's servers only`);
    }
    return {
      type: 'function',
      function: { name: tool.name, ...(tool.description ? { description: tool.description } : {}), parameters: tool.input_schema },
    };
  });
}

function chatToolChoice(choice: MessagesRequest['tool_choice']): Json {
  if (!choice) return {};
  const parallel = 'disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use === true ? { parallel_tool_calls: false } : {};
  switch (choice.type) {
    case 'auto': return { tool_choice: 'auto', ...parallel };
    case 'any': return { tool_choice: 'required', ...parallel };
    case 'none': return { tool_choice: 'none' };
    case 'tool': return { tool_choice: { type: 'function', function: { name: choice.name } }, ...parallel };
  }
}

/** The chat completion body for a Messages request (the channel's model id is set per channel). */
export function chatRequest(body: MessagesRequest): Json {
  for (const field of Object.keys(body)) {
    if (!TRANSLATED.has(field) && !IGNORED.has(field)) throw unsupported(field);
  }
  const messages: Json[] = [];
  const system = systemText(body);
  if (system !== '') messages.push({ role: 'system', content: system });
  body.messages.forEach((m, i) => {
    if (m.role !== 'system') messages.push(...chatMessages(m.role, m.content as string | Json[], `messages[${i}]`));
  });
  if (body.stop_sequences && body.stop_sequences.length > 4) {
    throw unsupported('stop_sequences', 'an OpenAI-format channel takes at most 4 stop sequences');
  }
  const tools = chatTools(body);
  return {
    messages,
    max_tokens: body.max_tokens,
    ...(body.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    ...(body.stop_sequences?.length ? { stop: body.stop_sequences } : {}),
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(body.top_p !== undefined ? { top_p: body.top_p } : {}),
    ...(tools?.length ? { tools } : {}),
    ...(tools?.length ? chatToolChoice(body.tool_choice) : {}),
    ...(body.metadata?.user_id ? { user: body.metadata.user_id } : {}),
  };
}

/** finish_reason → stop_reason. A stop sequence's match is not reported by OpenAI-format
 *  upstreams, so it ends as `end_turn` with stop_sequence null. */
const STOP_REASONS: Record<string, string> = {
  stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', function_call: 'tool_use', content_filter: 'refusal',
};
const stopReason = (finish: unknown) => (typeof finish === 'string' ? STOP_REASONS[finish] ?? 'end_turn' : 'end_turn');

/** Anthropic's usage for counts: its input_tokens leaves out the tokens read from the cache. */
const anthropicUsageOf = (u: TokenCounts | null) => ({
  input_tokens: u ? u.input_tokens - u.cached_tokens - (u.cache_write_tokens ?? 0) : 0,
  cache_creation_input_tokens: u?.cache_write_tokens ?? 0,
  cache_read_input_tokens: u?.cached_tokens ?? 0,
  output_tokens: u?.output_tokens ?? 0,
});

const messageId = (id: unknown) => `msg_${typeof id === 'string' ? id.replace(/^chatcmpl-/, '') : crypto.randomUUID().replace(/-/g, '')}`;

const toolInput = (args: unknown): Json => {
  try {
    const parsed: unknown = JSON.parse(typeof args === 'string' && args !== '' ? args : '{}');
    return isObject(parsed) ? parsed : { value: parsed };
  } catch {
    return { arguments: args }; // not JSON: kept whole rather than lost
  }
};

/** A whole chat completion as Anthropic's message object. */
export function anthropicMessage(chat: Json, publicModel: string, usage: TokenCounts | null): Json {
  const choice = Array.isArray(chat.choices) && isObject(chat.choices[0]) ? chat.choices[0] : {};
  const message = isObject(choice.message) ? choice.message : {};
  const content: Json[] = [];
  const reasoning = message.reasoning_content ?? message.reasoning;
  if (typeof reasoning === 'string' && reasoning !== '') content.push({ type: 'thinking', thinking: reasoning, signature: '' });
  const text = typeof message.content === 'string' ? message.content : typeof message.refusal === 'string' ? message.refusal : '';
  if (text !== '') content.push({ type: 'text', text });
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    if (!isObject(call) || !isObject(call.function)) continue;
    content.push({ type: 'tool_use', id: call.id, name: call.function.name, input: toolInput(call.function.arguments) });
  }
  return {
    id: messageId(chat.id),
    type: 'message',
    role: 'assistant',
    model: publicModel,
    content,
    stop_reason: stopReason(choice.finish_reason),
    stop_sequence: null,
    usage: anthropicUsageOf(usage),
  };
}

const event = (type: string, data: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

/**
 * A chat completion stream as Anthropic's events: message_start on the first chunk, a
 * content block per run of reasoning (thinking), text or one tool call's arguments, and
 * — at `[DONE]`, once the usage chunk has passed — message_delta with the stop reason and
 * usage, then message_stop. Metering is the chat meter's, which sees every chunk first.
 */
export class MessagesFromChatStream extends TranslatedStream<ChatStreamMeter> {
  readonly dialect = 'anthropic';
  private started = false;
  private block: { index: number; kind: 'thinking' | 'text' | 'tool'; tool?: number } | null = null;
  private nextIndex = 0;
  private finish: unknown = null;

  constructor(private readonly publicModel: string) {
    super(new ChatStreamMeter({ dropUsageOnly: false }));
  }

  inspect(raw: string): string {
    const ended = this.meter.sawDone;
    this.meter.inspect(raw);
    if (this.meter.sawDone) return ended ? '' : this.end();
    const parsed = eventJson(raw);
    if (!parsed) return '';
    const chunk = parsed.data;
    if (parsed.event === 'error' || chunk.error !== undefined) {
      const error = isObject(chunk.error) ? chunk.error : {};
      return event('error', { error: { type: 'api_error', message: typeof error.message === 'string' ? error.message : 'The upstream failed mid-stream.' } });
    }
    let out = this.start(chunk);
    const choice = Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : null;
    const delta = choice && isObject(choice.delta) ? choice.delta : {};
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === 'string' && reasoning !== '') {
      out += this.open('thinking', { type: 'thinking', thinking: '', signature: '' });
      out += event('content_block_delta', { index: this.block!.index, delta: { type: 'thinking_delta', thinking: reasoning } });
    }
    const text = typeof delta.content === 'string' ? delta.content : typeof delta.refusal === 'string' ? delta.refusal : '';
    if (text !== '') {
      out += this.open('text', { type: 'text', text: '' });
      out += event('content_block_delta', { index: this.block!.index, delta: { type: 'text_delta', text } });
    }
    for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
      if (!isObject(call)) continue;
      const fn = isObject(call.function) ? call.function : {};
      const tool = typeof call.index === 'number' ? call.index : 0;
      if (this.block?.kind !== 'tool' || this.block.tool !== tool) {
        out += this.open('tool', { type: 'tool_use', id: call.id ?? `toolu_${crypto.randomUUID().replace(/-/g, '')}`, name: fn.name ?? '', input: {} }, tool);
      }
      if (typeof fn.arguments === 'string' && fn.arguments !== '') {
        out += event('content_block_delta', { index: this.block!.index, delta: { type: 'input_json_delta', partial_json: fn.arguments } });
      }
    }
    if (choice?.finish_reason) this.finish = choice.finish_reason;
    return out;
  }

  private start(chunk: Json): string {
    if (this.started) return '';
    this.started = true;
    return event('message_start', {
      message: {
        id: messageId(chunk.id), type: 'message', role: 'assistant', model: this.publicModel, content: [],
        stop_reason: null, stop_sequence: null, usage: anthropicUsageOf(null),
      },
    });
  }

  /** Opens a block of this kind unless one is open (closing the one before). */
  private open(kind: 'thinking' | 'text' | 'tool', contentBlock: Json, tool?: number): string {
    if (this.block?.kind === kind && kind !== 'tool') return '';
    const out = this.close();
    this.block = { index: this.nextIndex++, kind, tool };
    return out + event('content_block_start', { index: this.block.index, content_block: contentBlock });
  }

  private close(): string {
    if (!this.block) return '';
    const out = event('content_block_stop', { index: this.block.index });
    this.block = null;
    return out;
  }

  private end(): string {
    return this.start({}) + this.close()
      + event('message_delta', { delta: { stop_reason: stopReason(this.finish), stop_sequence: null }, usage: anthropicUsageOf(this.meter.usage) })
      + event('message_stop', {});
  }
}
