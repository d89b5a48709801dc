import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, fixtureEvents } from '../support/fake-upstream.ts';
import { anthropicSpec, openaiSpec, type Spec } from '../support/spec.ts';

/**
 * The validator the conformance tests rely on, proved to reject: a validator that accepts
 * everything is the failure to rule out. Each case takes a real recording that conforms,
 * breaks one thing the spec requires, and expects that exact violation.
 */
let openai: Spec;
let anthropic: Spec;
beforeAll(() => {
  openai = openaiSpec();
  anthropic = anthropicSpec();
});

const json = (fixture: string) => JSON.parse(readFileSync(`${FIXTURES}/${fixture}`, 'utf8'));
const dataOf = (raw: Buffer) => JSON.parse(raw.toString('utf8').split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n'));

describe('the OpenAI spec as a validator', () => {
  it('accepts real recordings of each shape', () => {
    expect(openai.check('CreateChatCompletionResponse', json('openai/chat-nonstream-gpt-4.1-nano.json'))).toEqual([]);
    for (const event of fixtureEvents('openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt').slice(0, -1)) {
      expect(openai.check('CreateChatCompletionStreamResponse', dataOf(event))).toEqual([]);
    }
    // A 2025 recording, against the 2026 spec: the upstream's own deviations, named.
    expect(openai.check('Response', json('openai-responses/responses-nonstream-text-gpt-4.1-nano.json'))).toEqual([
      '/user must be string', "/usage/input_tokens_details must have required property 'cache_write_tokens'",
    ]);
    expect(openai.check('CreateEmbeddingResponse', json('openai/embeddings-response.openapi-example.json'))).toEqual([]);
    expect(openai.check('ErrorResponse', { error: { message: 'm', type: 't', param: null, code: null } })).toEqual([]);
  });

  it('rejects a missing required field, a wrong type, an unknown enum value and a wrong const', () => {
    const { choices: _c, ...noChoices } = json('openai/chat-nonstream-gpt-4.1-nano.json');
    expect(openai.check('CreateChatCompletionResponse', noChoices)).toContain("(root) must have required property 'choices'");
    const badIndex = json('openai/chat-nonstream-gpt-4.1-nano.json');
    badIndex.choices[0].index = 'zero';
    expect(openai.check('CreateChatCompletionResponse', badIndex)).toContain('/choices/0/index must be integer');
    const badFinish = json('openai/chat-nonstream-gpt-4.1-nano.json');
    badFinish.choices[0].finish_reason = 'done';
    expect(openai.check('CreateChatCompletionResponse', badFinish).join('\n')).toMatch(/\/choices\/0\/finish_reason must be equal to one of the allowed values/);
    expect(openai.check('CreateChatCompletionResponse', { ...json('openai/chat-nonstream-gpt-4.1-nano.json'), object: 'chat.completion.chunk' }).join('\n'))
      .toMatch(/\/object must be equal to one of the allowed values/);
    expect(openai.check('ErrorResponse', { error: { message: 'm', type: 't' } })).toEqual([
      "/error must have required property 'param'", "/error must have required property 'code'",
    ]);
  });

  it('reads nullable as OpenAPI means it, and picks the member of a union its type names', () => {
    const chunk = dataOf(fixtureEvents('openai/chat-stream-include-usage-gpt-4.1-nano.chunks.txt')[1]!);
    expect(chunk.choices[0].finish_reason).toBeNull(); // nullable: true in the spec
    expect(openai.check('CreateChatCompletionStreamResponse', chunk)).toEqual([]);
    expect(openai.member('ResponseStreamEvent', 'response.output_text.delta')).toBe('ResponseTextDeltaEvent');
    expect(openai.member('ResponseStreamEvent', 'response.completed')).toBe('ResponseCompletedEvent');
    expect(openai.check('ResponseTextDeltaEvent', { type: 'response.output_text.delta', item_id: 'i', output_index: 0, content_index: 0, delta: 'x', sequence_number: 1 }))
      .toContain("(root) must have required property 'logprobs'");
  });
});

describe('the Anthropic spec as a validator', () => {
  it('accepts a real message, and rejects one broken in each way', () => {
    const message = json('anthropic/messages-nonstream-text-then-tool-use-no-args.json');
    expect(anthropic.check('Message', { ...message, usage: { input_tokens: 1, output_tokens: 2 } })).toEqual([]);
    expect(anthropic.check('Message', { ...message, type: 'chat.completion' }).join('\n')).toMatch(/\/type must be/);
    expect(anthropic.check('Message', { ...message, content: [{ type: 'text' }] })).toContain("/content/0 must have required property 'text'");
    // A discriminated union: an unknown block type is refused as such.
    expect(anthropic.check('Message', { ...message, content: [{ type: 'picture', text: 'x' }] }).join('\n')).toMatch(/\/content\/0\/type must be equal to one of the allowed values/);
    expect(anthropic.check('ErrorResponse', { type: 'error', error: { type: 'overloaded_error', message: 'busy' } })).toEqual([]);
    expect(anthropic.check('ErrorResponse', { type: 'error', error: { type: 'overloaded_error' } })).toContain("/error must have required property 'message'");
    expect(anthropic.member('MessageStreamEvent', 'message_delta')).toBe('MessageDeltaEvent');
  });
});
