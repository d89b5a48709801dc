import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { ChatStreamMeter } from '../../src/proxy/sse';
import { meteredStream, type StreamResult } from '../../src/proxy/stream';
import { normaliseUsage } from '../../src/proxy/usage';
import { estimateTokens } from '../../src/proxy/estimate';

/**
 * The stream meter against every recorded OpenAI-format stream shape in test/fixtures,
 * replayed by the fake upstream. Each stream is also cut into 7-byte pieces, so events
 * split across network chunks (and multi-byte characters split in half) are covered.
 */
async function recorded(fixture: string): Promise<Uint8Array> {
  const res = await fetch(`${inject('upstreamUrl')}/o:/${fixture}/chat/completions`, { method: 'POST', body: '{}' });
  return new Uint8Array(await res.arrayBuffer());
}

/** The bytes in pieces of `size`: as a stream of chunks, or as a byte stream (as a fetched
 *  body is), which the relay reads into its own reused buffer. */
function pieces(bytes: Uint8Array, size: number, byteStream = false): ReadableStream<Uint8Array> {
  let offset = 0;
  const pull = (controller: { enqueue(chunk: Uint8Array): void; close(): void }) => {
    if (offset >= bytes.length) return controller.close();
    controller.enqueue(bytes.slice(offset, offset + size));
    offset += size;
  };
  return byteStream ? new ReadableStream({ type: 'bytes', pull }) : new ReadableStream({ pull });
}

async function relay(bytes: Uint8Array, includeUsage: boolean, size = 7, publicModel?: string, byteStream = false) {
  const meter = new ChatStreamMeter({ dropUsageOnly: !includeUsage, publicModel });
  let result: StreamResult | undefined;
  const out = meteredStream(pieces(bytes, size, byteStream), {
    meter,
    idleTimeoutMs: 5000,
    startedAt: Date.now(),
    clientSignal: new AbortController().signal,
    onEnd: (r) => (result = r),
  });
  const text = await new Response(out).text();
  return { text, meter, result: result as StreamResult };
}

const usageShapes: Array<[string, string, { input_tokens: number; output_tokens: number; cached_tokens: number }]> = [
  ['OpenAI usage chunk with choices: []', 'openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt', { input_tokens: 16, output_tokens: 300, cached_tokens: 0 }],
  ['OpenAI reasoning tokens inside completion_tokens', 'openai/chat-stream-include-usage-finish-length-gpt-5-nano.sse', { input_tokens: 12, output_tokens: 100, cached_tokens: 0 }],
  ['OpenAI n=3', 'openai/chat-stream-n3-multiple-choices-gpt-4o.sse', { input_tokens: 79, output_tokens: 42, cached_tokens: 0 }],
  ['OpenAI parallel tool calls', 'openai/chat-stream-parallel-tool-calls-gpt-4o.sse', { input_tokens: 149, output_tokens: 60, cached_tokens: 0 }],
  ['OpenAI refusal', 'openai/chat-stream-refusal-gpt-4o.sse', { input_tokens: 79, output_tokens: 11, cached_tokens: 0 }],
  ['Azure: empty first chunk with prompt_filter_results', 'azure-openai/chat-stream-model-router-content-filter.chunks.txt', { input_tokens: 15, output_tokens: 78, cached_tokens: 0 }],
  ['DeepSeek: usage on the last content chunk', 'deepseek/chat-stream-deepseek-chat-finish-length.chunks.txt', { input_tokens: 13, output_tokens: 400, cached_tokens: 0 }],
  ['DeepSeek reasoner, raw SSE', 'deepseek/chat-stream-deepseek-reasoner-raw.sse', { input_tokens: 6, output_tokens: 212, cached_tokens: 0 }],
  ['DeepSeek reasoner, tool call with cache hit', 'deepseek/chat-stream-deepseek-reasoner-tool-call-cache-hit.chunks.txt', { input_tokens: 339, output_tokens: 83, cached_tokens: 320 }],
  ['Groq: usage in x_groq', 'groq/chat-stream-llama-3.3-70b-tool-call-x-groq-usage.chunks.txt', { input_tokens: 210, output_tokens: 15, cached_tokens: 0 }],
  ['Mistral: usage on the finish chunk', 'mistral/chat-stream-magistral-usage-on-finish-chunk.sse', { input_tokens: 10, output_tokens: 232, cached_tokens: 0 }],
  ['GLM: usage on the last chunk, reasoning content', 'zhipu-glm/zai-chat-stream-glm-4.7-thinking-include-usage.sse', { input_tokens: 13, output_tokens: 564, cached_tokens: 0 }],
  ['OpenRouter: comment lines and an extra usage chunk', 'openrouter/chat-stream-with-reasoning-usage.sse', { input_tokens: 9, output_tokens: 104, cached_tokens: 0 }],
  ['OpenRouter: Claude reasoning with cost', 'openrouter/chat-stream-claude-sonnet-4.5-reasoning-usage-cost.sse', { input_tokens: 43, output_tokens: 36, cached_tokens: 0 }],
  ['Qwen: usage chunk', 'qwen-dashscope/compatible-mode-chat-stream-qwen3-max-include-usage.chunks.txt', { input_tokens: 18, output_tokens: 779, cached_tokens: 0 }],
  ['Qwen: reasoning content', 'qwen-dashscope/compatible-mode-chat-stream-qwen3-max-reasoning-content.chunks.txt', { input_tokens: 24, output_tokens: 1355, cached_tokens: 0 }],
  ['Qwen: tool calls', 'qwen-dashscope/compatible-mode-chat-stream-qwen3-max-tool-call.chunks.txt', { input_tokens: 295, output_tokens: 22, cached_tokens: 0 }],
  ['xAI: reasoning outside completion_tokens', 'xai/chat-stream-grok-3-mini-reasoning-include-usage.chunks.txt', { input_tokens: 12, output_tokens: 342, cached_tokens: 11 }],
  ['xAI: tool call, reasoning outside completion_tokens', 'xai/chat-stream-grok-3-mini-tool-call.chunks.txt', { input_tokens: 307, output_tokens: 253, cached_tokens: 306 }],
];

/** The reference count of generated text, computed apart from the meter: every event
 *  parsed, its deltas' text fields and tool calls counted. */
function referenceEstimate(bytes: Uint8Array): number {
  let text = '';
  for (const event of new TextDecoder().decode(bytes).split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
    if (!data.startsWith('{')) continue;
    for (const choice of JSON.parse(data).choices ?? []) {
      const delta = choice?.delta ?? {};
      for (const field of ['content', 'reasoning_content', 'reasoning', 'refusal']) {
        if (typeof delta[field] === 'string') text += delta[field];
        else if (Array.isArray(delta[field])) text += JSON.stringify(delta[field]);
      }
      for (const call of delta.tool_calls ?? []) text += (call.function?.name ?? '') + (call.function?.arguments ?? '');
    }
  }
  return estimateTokens(text);
}

/** Each event of a relayed stream, parsed (non-JSON events as their text). */
const parsedEvents = (text: string) =>
  text.split(/\r?\n\r?\n/).filter(Boolean).map((e) => {
    const data = e.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
    return data.startsWith('{') ? JSON.parse(data) : e;
  });

describe('counting and renaming every recorded stream shape', () => {
  const shapes = [...usageShapes.map(([, fixture]) => fixture), 'openai/chat-stream-no-include-usage-gpt-5-nano.sse'];
  for (const fixture of shapes) {
    it(`counts the text and renames the model of every event: ${fixture}`, async () => {
      const bytes = await recorded(fixture);
      const expected = parsedEvents(new TextDecoder().decode(bytes)).map((e) => (typeof e === 'object' && typeof e.model === 'string' ? { ...e, model: 'my-alias' } : e));
      // One chunk holding every event, and 7-byte pieces (at most one event completes in
      // each); each also as a byte stream, read in the relay's buffer (whole, so in pieces of
      // its size, split wherever they fall, multi-byte characters included).
      for (const [size, byteStream] of [[bytes.length, false], [7, false], [bytes.length, true], [7, true]] as const) {
        const { text, meter } = await relay(bytes, true, size, 'my-alias', byteStream);
        expect(meter.estimatedOutputTokens).toBe(referenceEstimate(bytes));
        expect(parsedEvents(text)).toEqual(expected);
      }
    });
  }
});

describe('usage from every recorded stream shape', () => {
  for (const [shape, fixture, expected] of usageShapes) {
    it(`reads usage: ${shape}`, async () => {
      const bytes = await recorded(fixture);
      // In 7-byte pieces, and as a byte stream read whole into the relay's buffer.
      for (const [size, byteStream] of [[7, false], [bytes.length, true]] as const) {
        const { text, meter, result } = await relay(bytes, true, size, undefined, byteStream);
        expect(meter.usage).toEqual(expected);
        expect(result.end).toBe('success');
        // The client that asked for usage gets the upstream's bytes unchanged.
        expect(text).toBe(new TextDecoder().decode(bytes));
      }
    });
  }

  it('removes only the usage-only chunk when the client did not ask for usage', async () => {
    const bytes = await recorded('openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt');
    const { text, meter } = await relay(bytes, false);
    expect(meter.usage?.output_tokens).toBe(300);
    const original = new TextDecoder().decode(bytes).split('\n\n').filter(Boolean);
    const relayed = text.split('\n\n').filter(Boolean);
    expect(relayed.length).toBe(original.length - 1);
    expect(relayed.some((e) => e.includes('"usage":{'))).toBe(false);
    expect(relayed.at(-1)).toBe('data: [DONE]');
  });

  it('keeps usage that rides on a content chunk (DeepSeek), since that chunk carries the finish', async () => {
    const bytes = await recorded('deepseek/chat-stream-deepseek-chat-finish-length.chunks.txt');
    const { text } = await relay(bytes, false);
    expect(text).toBe(new TextDecoder().decode(bytes));
  });

  it("drops OpenRouter's trailing usage chunk and keeps its comment lines", async () => {
    const bytes = await recorded('openrouter/chat-stream-with-reasoning-usage.sse');
    const { text } = await relay(bytes, false);
    expect(text).toContain(': OPENROUTER PROCESSING');
    expect(text).not.toContain('"usage"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('keeps the Azure first chunk (no choices, no usage)', async () => {
    const bytes = await recorded('azure-openai/chat-stream-model-router-content-filter.chunks.txt');
    const { text } = await relay(bytes, false);
    expect(text.startsWith('data: {"choices":[],"created":0')).toBe(true);
  });

  it('counts output when the upstream reports no usage', async () => {
    const bytes = await recorded('openai/chat-stream-no-include-usage-gpt-5-nano.sse');
    const { meter } = await relay(bytes, false);
    expect(meter.usage).toBeNull();
    expect(meter.estimatedOutputTokens).toBeGreaterThan(0);
  });

  it('notices an in-band error event (Groq) and ends as failed without adding one', async () => {
    const bytes = await recorded('groq/chat-stream-gpt-oss-120b-inband-error-event.sse');
    const { text, meter, result } = await relay(bytes, false);
    expect(meter.upstreamError).toMatchObject({ code: 'tool_use_failed' });
    expect(result.end).toBe('failed');
    expect(text).toBe(new TextDecoder().decode(bytes));
  });

  it('keeps the usage of a stream that errors mid-way (OpenRouter token limit)', async () => {
    const bytes = await recorded('openrouter/chat-stream-midstream-error-token-limit.sse');
    const { meter, result } = await relay(bytes, false);
    expect(meter.usage).toEqual({ input_tokens: 43, output_tokens: 10, cached_tokens: 0 });
    expect(result.end).toBe('failed');
  });

  it('forwards whole-event chunks as the very same bytes', async () => {
    const bytes = await recorded('openai/chat-stream-text-gpt-4o.sse');
    const { text } = await relay(bytes, true, bytes.length);
    expect(text).toBe(new TextDecoder().decode(bytes));
  });
});

describe('usage from every recorded whole-response shape', () => {
  const shapes: Array<[string, { input_tokens: number; output_tokens: number; cached_tokens: number }]> = [
    ['openai/chat-nonstream-gpt-4.1-nano.json', { input_tokens: 16, output_tokens: 363, cached_tokens: 0 }],
    ['openai/chat-nonstream-n3-multiple-choices-gpt-4o.json', { input_tokens: 79, output_tokens: 44, cached_tokens: 0 }],
    ['deepseek/chat-nonstream-deepseek-json-mode.json', { input_tokens: 495, output_tokens: 144, cached_tokens: 320 }],
    ['deepseek/chat-nonstream-deepseek-reasoner-tool-call.json', { input_tokens: 339, output_tokens: 92, cached_tokens: 320 }],
    ['groq/chat-nonstream-llama-3.3-70b-tool-call.json', { input_tokens: 218, output_tokens: 15, cached_tokens: 0 }],
    ['qwen-dashscope/compatible-mode-chat-nonstream-qwen3-max-reasoning.json', { input_tokens: 24, output_tokens: 1668, cached_tokens: 0 }],
    ['xai/chat-nonstream-grok-3-mini.json', { input_tokens: 12, output_tokens: 322, cached_tokens: 2 }],
    ['xai/chat-nonstream-grok-3-mini-tool-call.json', { input_tokens: 307, output_tokens: 281, cached_tokens: 244 }],
    ['gemini-openai-compat/chat-nonstream-gemini-2.5-pro-tool-call.reconstructed.json', { input_tokens: 35, output_tokens: 74, cached_tokens: 0 }],
    ['zhipu-glm/zai-chat-nonstream-glm-simple.reconstructed.json', { input_tokens: 13, output_tokens: 437, cached_tokens: 0 }],
  ];
  for (const [fixture, expected] of shapes) {
    it(`reads usage: ${fixture}`, async () => {
      const body = JSON.parse(new TextDecoder().decode(await recorded(fixture)));
      expect(normaliseUsage(body.usage)).toEqual(expected);
    });
  }
});

describe('the public model id in every chunk', () => {
  const meter = () => new ChatStreamMeter({ dropUsageOnly: false, publicModel: 'my-alias' });

  it('swaps only the id where the chunk is compact, keeping every other byte', () => {
    const raw = 'data: {"id":"c1","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"\\"model\\":\\"x\\""}}]}\n\n';
    expect(meter().inspect(raw)).toBe(raw.replace('"model":"gpt-4o-2024-08-06"', '"model":"my-alias"'));
  });

  it('writes the chunk anew where the id is spaced, and leaves chunks already naming the alias alone', () => {
    const spaced = 'data: {"id": "c1", "model": "gpt-4o-2024-08-06", "choices": []}\n\n';
    expect(JSON.parse(meter().inspect(spaced).slice(6)).model).toBe('my-alias');
    const own = 'data: {"id":"c1","model":"my-alias","choices":[]}\n\n';
    expect(meter().inspect(own)).toBe(own);
  });
});
