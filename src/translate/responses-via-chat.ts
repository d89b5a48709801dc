import { ApiError } from '../errors';
import type { TokenCounts } from '../money';
import { ChatStreamMeter, eventJson, isObject, type Json } from '../proxy/sse';
import { TranslatedStream } from '../proxy/stream';
import type { ResponsesRequest } from '../routes/schemas';

/**
 * OpenAI's Responses API (what the client speaks) served by a channel without it (an
 * OpenAI-format upstream that has only chat completions, or the echo channel): the request
 * into a chat completion's body, the answer and its stream back into a response object and
 * its typed events. Text, instructions, function tools and calls, and reasoning text are
 * translated; what has no counterpart is a 400 naming the field, and the fields in IGNORED
 * only steer OpenAI's own servers (README "The Responses API" lists every lossy step).
 */

const IGNORED = new Set(['include', 'truncation', 'service_tier', 'prompt_cache_key', 'safety_identifier', 'metadata', 'client_metadata', 'store']);
const TRANSLATED = new Set([
  'model', 'input', 'instructions', 'stream', 'max_output_tokens', 'temperature', 'top_p', 'tools', 'tool_choice',
  'parallel_tool_calls', 'reasoning', 'text', 'user',
]);

const unsupported = (param: string, why = "has no counterpart on this model's channel, which has no Responses API") =>
  new ApiError('invalid_value', `Invalid '${param}': ${why}.`, { param });

type Item = Json & { type?: string; role?: string };

function contentParts(content: unknown, at: string, role: string): string | Json[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw unsupported(`${at}.content`, 'must be a string or an array of content parts');
  const parts = content.map((raw, i) => {
    const part = raw as Json;
    const param = `${at}.content[${i}]`;
    switch (part.type) {
      case 'input_text':
      case 'output_text':
        return { type: 'text', text: String(part.text ?? '') };
      case 'refusal':
        return { type: 'text', text: String(part.refusal ?? '') };
      case 'input_image':
        if (typeof part.image_url !== 'string') throw unsupported(`${param}.image_url`, 'an image must be given by image_url (file_id needs the Responses API)');
        return { type: 'image_url', image_url: { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) } };
      default:
        throw unsupported(`${param}.type`, `'${String(part.type)}' parts need the Responses API`);
    }
  });
  return role === 'user' ? parts : parts.map((p) => p.text).join('');
}

/** Input items as chat messages: messages by role, consecutive function calls as one
 *  assistant message's tool_calls, their outputs as tool messages. */
function chatMessages(body: ResponsesRequest): Json[] {
  const messages: Json[] = [];
  if (body.instructions) messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') return [...messages, { role: 'user', content: body.input }];
  (body.input ?? []).forEach((raw, i) => {
    const item = raw as Item;
    const at = `input[${i}]`;
    const type = item.type ?? (item.role ? 'message' : undefined);
    switch (type) {
      case 'message': {
        const role = item.role === 'developer' ? 'developer' : item.role;
        if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer') {
          throw unsupported(`${at}.role`, "must be 'user', 'assistant', 'system' or 'developer'");
        }
        messages.push({ role, content: contentParts(item.content, at, role) });
        break;
      }
      case 'function_call': {
        const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '{}' } };
        const last = messages.at(-1);
        if (last?.role === 'assistant' && Array.isArray(last.tool_calls)) last.tool_calls.push(call);
        else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
        break;
      }
      case 'function_call_output':
        messages.push({ role: 'tool', tool_call_id: item.call_id, content: typeof item.output === 'string' ? item.output : JSON.stringify(item.output) });
        break;
      case 'reasoning':
        break; // earlier reasoning: chat upstreams take none back
      default:
        throw unsupported(`${at}.type`, `'${String(type)}' items need the Responses API`);
    }
  });
  return messages;
}

/** Function tools only: the tools OpenAI runs on its own servers (web_search, file_search,
 *  code_interpreter, mcp…) and tool namespaces have no chat counterpart and are left out,
 *  so a client that always sends them (Codex sends web_search) still works; the model sees
 *  the function tools. A tool_choice that names one of them is a 400. */
function chatTools(body: ResponsesRequest): Json {
  const tools = (body.tools ?? []).filter((tool) => tool.type === 'function').map((tool) => {
    const t = tool as Json;
    return { type: 'function', function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters ?? { type: 'object', properties: {} }, ...(t.strict != null ? { strict: t.strict } : {}) } };
  });
  if (tools.length === 0) return {};
  const choice = body.tool_choice;
  let tool_choice: unknown = choice ?? undefined;
  if (isObject(choice)) {
    if (choice.type !== 'function' || typeof choice.name !== 'string') throw unsupported('tool_choice', `'${String(choice.type)}' needs the Responses API`);
    tool_choice = { type: 'function', function: { name: choice.name } };
  }
  return { tools, ...(tool_choice !== undefined ? { tool_choice } : {}) };
}

function responseFormat(body: ResponsesRequest): Json {
  const format = body.text?.format as Json | undefined;
  if (!format || format.type === 'text') return {};
  if (format.type === 'json_object') return { response_format: { type: 'json_object' } };
  if (format.type === 'json_schema') {
    const { type: _type, ...schema } = format;
    return { response_format: { type: 'json_schema', json_schema: schema } };
  }
  throw unsupported('text.format.type', `'${String(format.type)}' has no chat counterpart`);
}

/** The chat completion body for a Responses request (the channel's model id is set per channel). */
export function chatRequest(body: ResponsesRequest): Json {
  if (body.previous_response_id) {
    throw unsupported('previous_response_id', "this model's channel has no Responses API, so the gateway keeps no earlier responses: send the whole conversation in input");
  }
  if (body.store === true) throw unsupported('store', "this model's channel has no Responses API, so responses cannot be stored: send store: false");
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined || value === null) continue;
    if (!TRANSLATED.has(field) && !IGNORED.has(field)) throw unsupported(field);
  }
  if (body.input === undefined) throw unsupported('input', 'is required');
  const effort = body.reasoning?.effort;
  return {
    messages: chatMessages(body),
    ...(body.max_output_tokens != null ? { max_tokens: body.max_output_tokens } : {}),
    ...(body.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { top_p: body.top_p } : {}),
    ...(body.parallel_tool_calls != null ? { parallel_tool_calls: body.parallel_tool_calls } : {}),
    ...(body.user ? { user: body.user } : {}),
    ...(effort ? { reasoning_effort: effort } : {}),
    ...chatTools(body),
    ...responseFormat(body),
  };
}

const newId = (prefix: string) => `${prefix}_${crypto.randomUUID().replace(/-/g, '')}`;

/** The Responses API's usage object for counts. */
export const responsesUsageOf = (u: TokenCounts | null) => u && ({
  input_tokens: u.input_tokens,
  input_tokens_details: { cached_tokens: u.cached_tokens, cache_write_tokens: u.cache_write_tokens ?? 0 },
  output_tokens: u.output_tokens,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: u.input_tokens + u.output_tokens,
});

/** The request's tools as a response echoes them: a function tool with every field the
 *  API's FunctionTool requires (strict and parameters null where the request left them out). */
const echoedTools = (tools: ResponsesRequest['tools']) =>
  (tools ?? []).map((t) => (t.type === 'function' ? { ...t, parameters: t.parameters ?? null, strict: t.strict ?? null } : t));

/** A response object as the API shows it, around `output`, echoing the request's settings. */
function responseObject(body: ResponsesRequest, o: { id: string; createdAt: number; model: string; output: Json[]; usage: TokenCounts | null; finish: unknown; done: boolean }): Json {
  const incomplete = o.done && o.finish === 'length';
  return {
    id: o.id, object: 'response', created_at: o.createdAt,
    status: !o.done ? 'in_progress' : incomplete ? 'incomplete' : 'completed',
    error: null, incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null, max_output_tokens: body.max_output_tokens ?? null, model: o.model, output: o.output,
    parallel_tool_calls: body.parallel_tool_calls ?? true, previous_response_id: null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: null }, store: false,
    temperature: body.temperature ?? 1, text: body.text ?? { format: { type: 'text' } }, tool_choice: body.tool_choice ?? 'auto',
    tools: echoedTools(body.tools), top_p: body.top_p ?? 1, truncation: 'disabled',
    // OpenAI's own in-progress responses say usage: null, which its spec does not allow
    // (ResponseUsage is not nullable): left out until it is known.
    ...(o.done && o.usage ? { usage: responsesUsageOf(o.usage) } : {}),
    metadata: body.metadata ?? {}, ...(body.user === undefined ? {} : { user: body.user }),
  };
}

const messageItem = (id: string, text: string, status = 'completed') =>
  ({ id, type: 'message', status, role: 'assistant', content: status === 'completed' ? [outputText(text)] : [] });
const outputText = (text: string) => ({ type: 'output_text', annotations: [], logprobs: [], text });
const reasoningItem = (id: string, text: string) => ({ id, type: 'reasoning', summary: text === '' ? [] : [{ type: 'summary_text', text }] });
const callItem = (id: string, callId: unknown, name: unknown, args: string, status = 'completed') =>
  ({ id, type: 'function_call', status, arguments: args, call_id: callId, name });

/** A whole chat completion as a response object. */
export function responseFromChat(chat: Json, body: ResponsesRequest, publicModel: string, usage: TokenCounts | null): Json {
  const choice = Array.isArray(chat.choices) && isObject(chat.choices[0]) ? chat.choices[0] : {};
  const message = isObject(choice.message) ? choice.message : {};
  const output: Json[] = [];
  const reasoning = message.reasoning_content ?? message.reasoning;
  if (typeof reasoning === 'string' && reasoning !== '') output.push(reasoningItem(newId('rs'), reasoning));
  const text = typeof message.content === 'string' ? message.content : typeof message.refusal === 'string' ? message.refusal : '';
  if (text !== '') output.push(messageItem(newId('msg'), text));
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    if (!isObject(call) || !isObject(call.function)) continue;
    output.push(callItem(newId('fc'), call.id, call.function.name, String(call.function.arguments ?? '')));
  }
  return responseObject(body, {
    id: newId('resp'), createdAt: typeof chat.created === 'number' ? chat.created : Math.floor(Date.now() / 1000),
    model: publicModel, output, usage, finish: choice.finish_reason, done: true,
  });
}

type Open =
  | { kind: 'message'; id: string; text: string }
  | { kind: 'reasoning'; id: string; text: string }
  | { kind: 'call'; id: string; index: number; callId: unknown; name: unknown; args: string };

/**
 * A chat completion stream as the Responses API's typed events: response.created and
 * .in_progress first; an output item per run of reasoning (a reasoning item with its
 * summary text), text (a message with one output_text part) or tool call (a function_call
 * with its arguments' deltas), each added, streamed and done in turn; and at `[DONE]`, once
 * the usage chunk has passed, response.completed (or .incomplete, cut by max_output_tokens)
 * with the whole output and the usage. Metering is the chat meter's.
 */
export class ResponsesFromChatStream extends TranslatedStream<ChatStreamMeter> {
  readonly dialect = 'openai';
  private readonly id = newId('resp');
  private readonly createdAt = Math.floor(Date.now() / 1000);
  private sequence = 0;
  private started = false;
  private open: Open | null = null;
  private readonly output: Json[] = [];
  private finish: unknown = null;

  constructor(private readonly body: ResponsesRequest, private readonly publicModel: string) {
    super(new ChatStreamMeter({ dropUsageOnly: false }));
  }

  inspect(raw: string): string {
    const ended = this.meter.sawDone;
    this.meter.inspect(raw);
    if (this.meter.sawDone) return ended ? '' : this.start() + this.close() + this.completed();
    const parsed = eventJson(raw);
    if (!parsed) return '';
    const chunk = parsed.data;
    if (parsed.event === 'error' || chunk.error !== undefined) {
      const error = isObject(chunk.error) ? chunk.error : {};
      return this.event('error', { code: 'upstream_error', message: typeof error.message === 'string' ? error.message : 'The upstream failed mid-stream.', param: null });
    }
    let out = this.start();
    const choice = Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : null;
    const delta = choice && isObject(choice.delta) ? choice.delta : {};
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === 'string' && reasoning !== '') out += this.reasoning(reasoning);
    const text = typeof delta.content === 'string' ? delta.content : typeof delta.refusal === 'string' ? delta.refusal : '';
    if (text !== '') out += this.text(text);
    for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) if (isObject(call)) out += this.toolCall(call);
    if (choice?.finish_reason) this.finish = choice.finish_reason;
    return out;
  }

  errorEvent(err: ApiError): string {
    return this.event('error', { code: err.code, message: err.message, param: err.param });
  }

  private event(type: string, data: Json): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: this.sequence++ })}\n\n`;
  }

  private response(done: boolean): Json {
    return responseObject(this.body, { id: this.id, createdAt: this.createdAt, model: this.publicModel, output: done ? this.output : [], usage: this.meter.usage, finish: this.finish, done });
  }

  private start(): string {
    if (this.started) return '';
    this.started = true;
    return this.event('response.created', { response: this.response(false) }) + this.event('response.in_progress', { response: this.response(false) });
  }

  private get index(): number {
    return this.output.length;
  }

  private reasoning(text: string): string {
    let out = '';
    if (this.open?.kind !== 'reasoning') {
      out += this.close();
      this.open = { kind: 'reasoning', id: newId('rs'), text: '' };
      out += this.event('response.output_item.added', { output_index: this.index, item: reasoningItem(this.open.id, '') })
        + this.event('response.reasoning_summary_part.added', { item_id: this.open.id, output_index: this.index, summary_index: 0, part: { type: 'summary_text', text: '' } });
    }
    this.open.text += text;
    return out + this.event('response.reasoning_summary_text.delta', { item_id: this.open.id, output_index: this.index, summary_index: 0, delta: text });
  }

  private text(text: string): string {
    let out = '';
    if (this.open?.kind !== 'message') {
      out += this.close();
      this.open = { kind: 'message', id: newId('msg'), text: '' };
      out += this.event('response.output_item.added', { output_index: this.index, item: messageItem(this.open.id, '', 'in_progress') })
        + this.event('response.content_part.added', { item_id: this.open.id, output_index: this.index, content_index: 0, part: outputText('') });
    }
    this.open.text += text;
    return out + this.event('response.output_text.delta', { item_id: this.open.id, output_index: this.index, content_index: 0, delta: text, logprobs: [] });
  }

  private toolCall(call: Json): string {
    const fn = isObject(call.function) ? call.function : {};
    const index = typeof call.index === 'number' ? call.index : 0;
    let out = '';
    if (this.open?.kind !== 'call' || this.open.index !== index) {
      out += this.close();
      this.open = { kind: 'call', id: newId('fc'), index, callId: call.id ?? newId('call'), name: fn.name ?? '', args: '' };
      out += this.event('response.output_item.added', { output_index: this.index, item: callItem(this.open.id, this.open.callId, this.open.name, '', 'in_progress') });
    }
    if (typeof fn.arguments === 'string' && fn.arguments !== '') {
      this.open.args += fn.arguments;
      out += this.event('response.function_call_arguments.delta', { item_id: this.open.id, output_index: this.index, delta: fn.arguments });
    }
    return out;
  }

  /** Ends the open item: its done events, and the item into the output. */
  private close(): string {
    const open = this.open;
    if (!open) return '';
    this.open = null;
    const at = { item_id: open.id, output_index: this.index };
    let out = '';
    let item: Json;
    if (open.kind === 'message') {
      const part = outputText(open.text);
      out += this.event('response.output_text.done', { ...at, content_index: 0, text: open.text, logprobs: [] })
        + this.event('response.content_part.done', { ...at, content_index: 0, part });
      item = messageItem(open.id, open.text);
    } else if (open.kind === 'reasoning') {
      out += this.event('response.reasoning_summary_text.done', { ...at, summary_index: 0, text: open.text })
        + this.event('response.reasoning_summary_part.done', { ...at, summary_index: 0, part: { type: 'summary_text', text: open.text } });
      item = reasoningItem(open.id, open.text);
    } else {
      out += this.event('response.function_call_arguments.done', { ...at, name: open.name, arguments: open.args });
      item = callItem(open.id, open.callId, open.name, open.args);
    }
    out += this.event('response.output_item.done', { output_index: this.index, item });
    this.output.push(item);
    return out;
  }

  private completed(): string {
    const response = this.response(true);
    return this.event(response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response });
  }
}
