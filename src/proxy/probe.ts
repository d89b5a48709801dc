import { config, type Env } from '../config';
import type { ChannelRow, Route, RouteKey } from '../db/catalog';
import { parseJsonColumn } from '../db/ids';
import type { TokenCounts } from '../money';
import { ChatRequestSchema } from '../routes/schemas';
import * as gemini from '../translate/chat-via-gemini';
import { messagesRequest } from '../translate/chat-via-messages';
import { withChatOutputCap } from './output-cap';
import { callUpstream, isCompletion, isMessage, UpstreamFailure, type UpstreamRequest } from './upstream';
import { anthropicUsage, geminiUsage, normaliseUsage } from './usage';

/** What the operator's "Test" of a channel saw. */
export interface ProbeResult {
  ok: boolean;
  model: string;
  /** The upstream's HTTP status, or the gateway's own where none came (no connection, timeout). */
  status: number;
  latency_ms: number;
  usage: TokenCounts | null;
  /** Why it failed, as the client would be told (sanitised: no key, no internal host). */
  error: string | null;
}

const MAX_TOKENS = 16;

/**
 * Sends one tiny chat request ("Say OK.", at most 16 output tokens) to the channel's first
 * model, in the channel's own API, through the same upstream call and translations as
 * customer traffic, enabled or not. Nobody is charged, and the channel's health is left to
 * real traffic.
 */
export async function probeChannel(env: Env, channel: ChannelRow, keys: RouteKey[]): Promise<ProbeResult> {
  const [model, upstreamModel] = Object.entries(parseJsonColumn<Record<string, string>>(channel.models) ?? {})[0] ?? ['', ''];
  const route: Route = { ...channel, upstream_model: upstreamModel, query: parseJsonColumn<Record<string, string>>(channel.query), keys };
  const chat = ChatRequestSchema.parse({ model: upstreamModel, messages: [{ role: 'user', content: 'Say OK.' }] });
  const request: UpstreamRequest = channel.kind === 'anthropic' ? { path: '/messages', body: { ...messagesRequest(chat, MAX_TOKENS), model: upstreamModel } }
    : channel.kind === 'gemini' ? { path: gemini.geminiPath(upstreamModel, false), body: gemini.geminiRequest(chat, MAX_TOKENS) }
    // The cap in the field the model's family takes (reasoning models refuse max_tokens).
    : { path: '/chat/completions', body: withChatOutputCap(chat, upstreamModel, MAX_TOKENS) };
  const cfg = config(env);
  const started = Date.now();
  try {
    const answer = await callUpstream(env, {
      routes: [route],
      request: () => request,
      isAnswer: (parsed) => (channel.kind === 'anthropic' ? isMessage(parsed) : channel.kind === 'gemini' ? gemini.isGeminiAnswer(parsed) : isCompletion(parsed)),
      firstByteTimeoutMs: cfg.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
      idleTimeoutMs: cfg.UPSTREAM_IDLE_TIMEOUT_MS,
      clientSignal: new AbortController().signal,
    });
    const json = answer.json ?? {};
    const usage = channel.kind === 'anthropic' ? anthropicUsage(json.usage) : channel.kind === 'gemini' ? geminiUsage(json.usageMetadata) : normaliseUsage(json.usage);
    return { ok: true, model, status: answer.response.status, latency_ms: Date.now() - started, usage, error: null };
  } catch (err) {
    if (!(err instanceof UpstreamFailure)) throw err;
    return { ok: false, model, status: err.upstreamStatus ?? err.status, latency_ms: Date.now() - started, usage: null, error: err.message };
  }
}
