import { estimatePromptTokens, estimateTokens } from './estimate';

/**
 * The built-in `echo` channel kind: an upstream inside the Worker that answers in the
 * OpenAI wire format, so the gateway can be tried with no provider key. Chat answers with
 * the last user message (streamed a word per chunk), cut to the request's token cap;
 * embeddings are a deterministic vector per input. Usage is the gateway's documented
 * estimate (estimate.ts), reported as a provider would.
 */
export async function echoResponse(path: string, body: Record<string, unknown>): Promise<Response> {
  return path === '/embeddings' ? echoEmbeddings(body) : echoChat(body);
}

function echoChat(body: Record<string, unknown>): Response {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const cap = [body.max_completion_tokens, body.max_tokens].find((v): v is number => typeof v === 'number');
  const { text, truncated } = reply(lastUserText(messages), cap);
  const usage = {
    prompt_tokens: estimatePromptTokens(messages),
    completion_tokens: estimateTokens(text),
    total_tokens: 0,
  };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const id = `chatcmpl-echo${crypto.randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const model = String(body.model);
  const finish_reason = truncated ? 'length' : 'stop';

  if (body.stream !== true) {
    return Response.json({
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason }],
      usage,
    });
  }
  const chunk = (choices: unknown[], extra: object = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
  const delta = (d: object, finish: string | null = null) => [{ index: 0, delta: d, logprobs: null, finish_reason: finish }];
  const events = [chunk(delta({ role: 'assistant', content: '', refusal: null }))];
  for (const piece of text.match(/\S+\s*|\s+/g) ?? []) events.push(chunk(delta({ content: piece })));
  events.push(chunk(delta({}, finish_reason)));
  const options = body.stream_options as { include_usage?: boolean } | undefined;
  if (options?.include_usage) events.push(chunk([], { usage }));
  events.push('data: [DONE]\n\n');

  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = events.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(encoder.encode(next));
    },
  });
  return new Response(stream, { headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
}

function lastUserText(messages: unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown };
    if (m?.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      return m.content
        .map((part) => (part && typeof part === 'object' && 'text' in part ? String(part.text) : ''))
        .join('');
    }
  }
  return '';
}

/** Cuts the echo, a word at a time, until its estimate fits the cap. */
function reply(text: string, cap: number | undefined): { text: string; truncated: boolean } {
  if (cap === undefined || estimateTokens(text) <= cap) return { text, truncated: false };
  const words = text.match(/\S+\s*/g) ?? [];
  while (words.length > 0 && estimateTokens(words.join('')) > cap) words.pop();
  return { text: words.join(''), truncated: true };
}

async function echoEmbeddings(body: Record<string, unknown>): Promise<Response> {
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  const encoder = new TextEncoder();
  let tokens = 0;
  const data = await Promise.all(
    inputs.map(async (input, index) => {
      const text = typeof input === 'string' ? input : JSON.stringify(input);
      tokens += estimateTokens(text);
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
      const embedding = Array.from(digest.slice(0, 8), (b) => Math.round((b / 127.5 - 1) * 1e6) / 1e6);
      return { object: 'embedding', index, embedding };
    }),
  );
  return Response.json({
    object: 'list', data, model: String(body.model), usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}
