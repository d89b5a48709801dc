import { ApiError } from '../errors';
import type { TokenCounts } from '../money';
import { eventJson, isObject, type Json } from '../proxy/sse';
import { MeterState } from '../proxy/meter';
import { chatUsageOf, geminiUsage } from '../proxy/usage';
import type { ChatRequest } from '../routes/schemas';

/**
 * OpenAI's Chat Completions (what the client speaks) served by a `gemini` channel (Google's
 * native generateContent / streamGenerateContent?alt=sse): the request into a Gemini body,
 * the answer and its chunks back into a chat completion and chunks. What has no counterpart
 * is refused with a 400 naming the field; the fields in IGNORED only steer OpenAI's own
 * servers (README "Gemini" lists every lossy step).
 * https://ai.google.dev/api/generate-content
 */

const IGNORED = new Set(['store', 'metadata', 'prompt_cache_key', 'safety_identifier', 'service_tier', 'user', 'parallel_tool_calls', 'stream_options']);
const TRANSLATED = new Set([
  'model', 'messages', 'stream', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stop', 'n', 'presence_penalty',
  'frequency_penalty', 'seed', 'tools', 'tool_choice', 'response_format', 'reasoning_effort', 'logprobs',
]);
/** reasoning_effort → thinkingBudget (tokens); `none` turns thinking off where the model allows. */
const THINKING_BUDGET: Record<string, number> = { none: 0, minimal: 512, low: 1024, medium: 8192, high: 24576 };

const unsupported = (param: string, why = "has no counterpart on this model's Gemini channel") =>
  new ApiError('invalid_value', `Invalid '${param}': ${why}.`, { param });

type Part = Json & { type: string };
const textOf = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((p) => (isObject(p) && typeof p.text === 'string' ? p.text : '')).join('') : '';

function userParts(content: string | Part[], at: string): Json[] {
  if (typeof content === 'string') return [{ text: content }];
  return content.map((part, i) => {
    const param = `${at}.content[${i}]`;
    if (part.type === 'text') return { text: part.text };
    const url = part.type === 'image_url' ? String((part.image_url as Json).url) : part.type === 'file' ? String((part.file as Json).file_data ?? '') : null;
    const data = url === null ? null : /^data:([^;,]+);base64,(.*)$/s.exec(url);
    if (data) return { inlineData: { mimeType: data[1], data: data[2] } };
    if (url !== null) throw unsupported(`${param}.${part.type === 'file' ? 'file.file_data' : 'image_url.url'}`, 'a Gemini channel takes images and files as base64 data URLs');
    throw unsupported(`${param}.type`, `'${part.type}' parts cannot be sent to a Gemini channel`);
  });
}

/** Chat messages as Gemini's systemInstruction and contents (model turns, tool results as
 *  functionResponse parts under the name of the call they answer). */
function contents(messages: ChatRequest['messages']): { systemInstruction?: Json; contents: Json[] } {
  const system: string[] = [];
  const out: Array<{ role: string; parts: Json[] }> = [];
  const callNames = new Map<string, string>();
  const push = (role: 'user' | 'model', parts: Json[]) => {
    if (parts.length === 0) return;
    const last = out.at(-1);
    if (last?.role === role) last.parts.push(...parts);
    else out.push({ role, parts });
  };
  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(textOf(m.content));
        break;
      case 'user':
        push('user', userParts(m.content as string | Part[], at));
        break;
      case 'assistant': {
        const text = textOf(m.content);
        const calls = (m.tool_calls ?? []).map((call, j) => {
          let args: unknown;
          try {
            args = JSON.parse(call.function.arguments || '{}');
          } catch {
            throw unsupported(`${at}.tool_calls[${j}].function.arguments`, 'must be a JSON object to be sent to a Gemini channel');
          }
          callNames.set(call.id, call.function.name);
          return { functionCall: { name: call.function.name, args } };
        });
        push('model', [...(text === '' ? [] : [{ text }]), ...calls]);
        break;
      }
      case 'tool': {
        const name = callNames.get(m.tool_call_id);
        if (!name) throw unsupported(`${at}.tool_call_id`, 'must name a tool call of an earlier assistant message (Gemini answers calls by function name)');
        const text = textOf(m.content);
        let response: unknown;
        try {
          response = JSON.parse(text);
        } catch {
          response = undefined;
        }
        push('user', [{ functionResponse: { name, response: isObject(response) ? response : { content: text } } }]);
        break;
      }
      default:
        throw unsupported(`${at}.role`, "the legacy 'function' role cannot be sent to a Gemini channel; use tools");
    }
  });
  return { ...(system.length > 0 ? { systemInstruction: { parts: [{ text: system.join('\n\n') }] } } : {}), contents: out };
}

function toolsOf(body: ChatRequest): Json {
  if (!body.tools?.length) return {};
  const functionDeclarations = body.tools.map((tool, i) => {
    if (tool.type !== 'function') throw unsupported(`tools[${i}].type`, 'a Gemini channel takes function tools only');
    const fn = tool.function;
    return { name: fn.name, ...(fn.description ? { description: fn.description } : {}), ...(fn.parameters ? { parametersJsonSchema: fn.parameters } : {}) };
  });
  const choice = body.tool_choice;
  let mode: Json | null = null;
  if (choice === 'auto') mode = { mode: 'AUTO' };
  else if (choice === 'none') mode = { mode: 'NONE' };
  else if (choice === 'required') mode = { mode: 'ANY' };
  else if (isObject(choice) && choice.type === 'function') mode = { mode: 'ANY', allowedFunctionNames: [(choice.function as Json).name] };
  else if (isObject(choice)) throw unsupported('tool_choice', `'${String(choice.type)}' cannot be sent to a Gemini channel`);
  return { tools: [{ functionDeclarations }], ...(mode ? { toolConfig: { functionCallingConfig: mode } } : {}) };
}

function generationConfig(body: ChatRequest, maxTokens: number): Json {
  const format = body.response_format;
  const effort = (body as { reasoning_effort?: unknown }).reasoning_effort;
  if (body.logprobs === true) throw unsupported('logprobs');
  const budget = typeof effort === 'string' ? THINKING_BUDGET[effort] : undefined;
  if (effort != null && budget === undefined) throw unsupported('reasoning_effort', "must be 'none', 'minimal', 'low', 'medium' or 'high'");
  const stop = typeof body.stop === 'string' ? [body.stop] : body.stop;
  return {
    maxOutputTokens: maxTokens,
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { topP: body.top_p } : {}),
    ...(stop?.length ? { stopSequences: stop } : {}),
    ...(body.n != null ? { candidateCount: body.n } : {}),
    ...(body.presence_penalty != null ? { presencePenalty: body.presence_penalty } : {}),
    ...(body.frequency_penalty != null ? { frequencyPenalty: body.frequency_penalty } : {}),
    ...(body.seed != null ? { seed: body.seed } : {}),
    ...(format?.type === 'json_object' ? { responseMimeType: 'application/json' } : {}),
    ...(format?.type === 'json_schema' ? { responseMimeType: 'application/json', responseJsonSchema: (format.json_schema as Json).schema ?? {} } : {}),
    ...(budget !== undefined ? { thinkingConfig: { thinkingBudget: budget } } : {}),
  };
}

/** The Gemini body for a chat request; `maxTokens` is the output cap the hold was sized for. */
export function geminiRequest(body: ChatRequest, maxTokens: number): Json {
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined || value === null) continue;
    if (!TRANSLATED.has(field) && !IGNORED.has(field)) throw unsupported(field);
  }
  if (body.logit_bias && Object.keys(body.logit_bias).length > 0) throw unsupported('logit_bias');
  return { ...contents(body.messages), ...toolsOf(body), generationConfig: generationConfig(body, maxTokens) };
}

/** Where a channel's Gemini API takes the request (under its base_url). */
export const geminiPath = (model: string, stream: boolean) =>
  stream ? (`/models/${model}:streamGenerateContent?alt=sse` as const) : (`/models/${model}:generateContent` as const);

/** finishReason → finish_reason: safety stops are content_filter. */
const FINISH: Record<string, string> = {
  STOP: 'stop', MAX_TOKENS: 'length', SAFETY: 'content_filter', RECITATION: 'content_filter', BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter', SPII: 'content_filter', IMAGE_SAFETY: 'content_filter',
};

/** A candidate's parts as a chat message's fields. */
function messageOf(candidate: Json): { content: string; reasoning: string; toolCalls: Json[] } {
  const parts = isObject(candidate.content) && Array.isArray(candidate.content.parts) ? candidate.content.parts : [];
  let content = '';
  let reasoning = '';
  const toolCalls: Json[] = [];
  for (const part of parts) {
    if (!isObject(part)) continue;
    if (typeof part.text === 'string') {
      if (part.thought === true) reasoning += part.text;
      else content += part.text;
    }
    if (isObject(part.functionCall)) {
      toolCalls.push({ id: `call_${crypto.randomUUID().replace(/-/g, '')}`, type: 'function', function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) } });
    }
  }
  return { content, reasoning, toolCalls };
}

const finishOf = (candidate: Json, hasCalls: boolean): string | null => {
  if (typeof candidate.finishReason !== 'string') return null;
  const reason = FINISH[candidate.finishReason] ?? 'stop';
  return reason === 'stop' && hasCalls ? 'tool_calls' : reason;
};

/** A prompt Gemini refused to take (promptFeedback.blockReason): no candidates at all. */
export const promptBlocked = (parsed: Json) => isObject(parsed.promptFeedback) && typeof parsed.promptFeedback.blockReason === 'string';

/** A whole generateContent answer as a chat completion (usage added by the caller). A blocked
 *  prompt is one choice with no content and finish_reason content_filter. */
export function chatCompletion(parsed: Json, publicModel: string): Json {
  const candidates = Array.isArray(parsed.candidates) ? parsed.candidates.filter(isObject) : [];
  const choices = candidates.map((candidate, i) => {
    const m = messageOf(candidate);
    return {
      index: typeof candidate.index === 'number' ? candidate.index : i,
      message: {
        role: 'assistant', content: m.content === '' && m.toolCalls.length > 0 ? null : m.content,
        ...(m.reasoning !== '' ? { reasoning_content: m.reasoning } : {}),
        ...(m.toolCalls.length > 0 ? { tool_calls: m.toolCalls } : {}),
        refusal: null,
      },
      logprobs: null,
      finish_reason: finishOf(candidate, m.toolCalls.length > 0) ?? 'stop',
    };
  });
  if (choices.length === 0 && promptBlocked(parsed)) {
    choices.push({ index: 0, message: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason: 'content_filter' });
  }
  return {
    id: `chatcmpl-${typeof parsed.responseId === 'string' ? parsed.responseId : crypto.randomUUID().replace(/-/g, '')}`,
    object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: publicModel, choices,
  };
}

/** Whether a whole answer is Gemini's, rather than an error in disguise. */
export const isGeminiAnswer = (parsed: Json) => Array.isArray(parsed.candidates) || promptBlocked(parsed);

export interface ChatFromGeminiOptions {
  publicModel: string;
  includeUsage: boolean;
  showCost: (usage: Json, counts: TokenCounts) => Json;
}

/**
 * A streamGenerateContent?alt=sse stream as chat completion chunks: text parts as content,
 * thought parts as reasoning_content, each functionCall as a whole tool call. Gemini ends
 * its stream with the connection, not an event, and some of its models put a finishReason
 * on every chunk (fixtures/gemini legacy), so the finish chunk, the usage chunk and [DONE]
 * are sent at the end of the body (atEnd), with the last finishReason seen. Each chunk's
 * usageMetadata is the total so far: the last one is the usage.
 */
export class ChatFromGeminiStream extends MeterState {
  readonly dialect = 'openai';
  private readonly id = `chatcmpl-${crypto.randomUUID().replace(/-/g, '')}`;
  private readonly created = Math.floor(Date.now() / 1000);
  private started = false;
  private finish: string | null = null;
  private toolIndex = 0;

  constructor(private readonly o: ChatFromGeminiOptions) {
    super();
  }

  inspect(raw: string): string {
    const parsed = eventJson(raw);
    if (!parsed) return '';
    const chunk = parsed.data;
    if (chunk.error !== undefined) {
      this.upstreamError = chunk.error;
      const error = isObject(chunk.error) ? chunk.error : {};
      return `event: error\ndata: ${JSON.stringify({ error: { message: typeof error.message === 'string' ? error.message : 'The upstream failed mid-stream.', type: 'upstream_error', param: null, code: 'upstream_error' } })}\n\n`;
    }
    this.usage = geminiUsage(chunk.usageMetadata) ?? this.usage;
    let out = this.started ? '' : this.chunk({ role: 'assistant', content: '' });
    this.started = true;
    if (promptBlocked(chunk)) this.finish = 'content_filter';
    const candidate = Array.isArray(chunk.candidates) && isObject(chunk.candidates[0]) ? chunk.candidates[0] : null;
    if (!candidate) return out;
    const m = messageOf(candidate);
    this.output.add(m.reasoning + m.content + m.toolCalls.map((c) => JSON.stringify(c.function)).join(''));
    if (m.reasoning !== '') out += this.chunk({ reasoning_content: m.reasoning });
    if (m.content !== '') out += this.chunk({ content: m.content });
    if (m.toolCalls.length > 0) out += this.chunk({ tool_calls: m.toolCalls.map((call) => ({ index: this.toolIndex++, ...call })) });
    if (m.reasoning !== '' || m.content !== '' || m.toolCalls.length > 0) this.sawContent = true;
    const finish = finishOf(candidate, this.toolIndex > 0);
    if (finish) this.finish = finish;
    // The counts so far are final on the chunk that finishes the candidate (Gemini's last).
    if (finish && this.usage) this.usageFinal = true;
    return out;
  }

  atEnd(): string {
    if (this.upstreamError !== null || this.finish === null) return ''; // incomplete: the pipe adds the error event
    this.sawDone = true;
    const usage = this.usage;
    const usageChunk = this.o.includeUsage && usage
      ? `data: ${JSON.stringify({ ...this.base(), choices: [], usage: this.o.showCost(chatUsageOf(usage), usage) })}\n\n`
      : '';
    return `${this.started ? '' : this.chunk({ role: 'assistant', content: '' })}${this.chunk({}, this.finish)}${usageChunk}data: [DONE]\n\n`;
  }

  private base() {
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.o.publicModel };
  }

  private chunk(delta: Json, finish: string | null = null): string {
    return `data: ${JSON.stringify({ ...this.base(), choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  }
}
