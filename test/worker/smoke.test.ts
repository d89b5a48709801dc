import { describe, expect, it } from 'vitest';
import { call, setup, usageRow } from './helpers';

describe('smoke', () => {
  it('serves health and a non-stream chat', async () => {
    expect((await call('/health')).status).toBe(200);
    const { key, model } = await setup('openai/chat-nonstream-text-gpt-4o.json');
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'hi' }] } });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row.status).toBe('success');
  });
});
