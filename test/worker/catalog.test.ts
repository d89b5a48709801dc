import { describe, expect, it } from 'vitest';
import { adminCall, call, newAccount, newKey, newModel, recordedRequests, unique, usageRow } from './helpers';

describe('model access: key allowlist and account group', () => {
  it('lists only the models a key may use, and answers 403 for the others', async () => {
    const open = (await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }])).model;
    const vipOnly = (await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], { input_price: 1, output_price: 1, groups: ['vip'] })).model;
    const account = await newAccount({ group: 'default' });
    const { key } = await newKey(account.id);
    const limited = (await newKey(account.id, { models: [vipOnly] })).key;

    const listed = ((await (await call('/v1/models', { key })).json()) as any).data.map((m: any) => m.id);
    expect(listed).toContain(open);
    expect(listed).not.toContain(vipOnly);
    expect((await call(`/v1/models/${open}`, { key })).status).toBe(200);
    expect((await call(`/v1/models/${vipOnly}`, { key })).status).toBe(404);

    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model: vipOnly, messages: [{ role: 'user', content: 'x' }] } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error.type).toBe('permission_error');

    // A key limited to a model its group may not use gets neither.
    const limitedList = ((await (await call('/v1/models', { key: limited })).json()) as any).data;
    expect(limitedList).toEqual([]);
    const res2 = await call('/v1/chat/completions', { method: 'POST', key: limited, json: { model: open, messages: [{ role: 'user', content: 'x' }] } });
    expect(res2.status).toBe(403);

    const vip = await newAccount({ group: 'vip' });
    const vipKey = (await newKey(vip.id)).key;
    const vipList = ((await (await call('/v1/models', { key: vipKey })).json()) as any).data.map((m: any) => m.id);
    expect(vipList).toContain(vipOnly);
  });

  it('answers /v1/models in the OpenAI list and object shapes', async () => {
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }], { input_price: 1, output_price: 2, owned_by: 'acme' });
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const list = (await (await call('/v1/models', { key })).json()) as any;
    expect(list.object).toBe('list');
    const one = (await (await call(`/v1/models/${model}`, { key })).json()) as any;
    expect(one).toEqual({ id: model, object: 'model', created: expect.any(Number), owned_by: 'acme' });
  });
});

describe('channel choice', () => {
  it('uses the highest priority first and shares equal priorities by weight', async () => {
    const tag = unique('w');
    const account = await newAccount({ credit: 100 });
    const { key } = await newKey(account.id);
    const { model, channelIds } = await newModel([
      { fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}`, priority: 5, weight: 3 },
      { fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}`, priority: 5, weight: 1 },
      { fixture: 'openai/chat-nonstream-text-gpt-4o.json', options: `id=${tag}`, priority: 1, weight: 100 },
    ]);
    const counts = new Map<string, number>();
    for (let i = 0; i < 80; i++) {
      const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'x' }] } });
      expect(res.status).toBe(200);
      const row = await usageRow(res.headers.get('x-request-id')!);
      counts.set(row.channel!, (counts.get(row.channel!) ?? 0) + 1);
    }
    expect(counts.get(channelIds[2]!) ?? 0).toBe(0);
    const heavy = counts.get(channelIds[0]!) ?? 0;
    const light = counts.get(channelIds[1]!) ?? 0;
    expect(heavy + light).toBe(80);
    // 3:1 by weight; with 80 draws the heavy channel's share is far above half.
    expect(heavy).toBeGreaterThan(light);
    expect(light).toBeGreaterThan(0);
  });

  it('skips disabled channels', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model, channelIds } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const put = await adminCall('PUT', `/channels/${channelIds[0]}`, {
      kind: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key_secret: 'FAKE_UPSTREAM_KEY', models: { [model]: 'x' }, enabled: false,
    });
    expect(put.status).toBe(200);
    const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'x' }] } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.type).toBe('upstream_error');
  });
});

describe('POST /v1/embeddings', () => {
  it('forwards to the channel and bills the input tokens', async () => {
    const tag = unique('e');
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/embeddings-response.openapi-example.json', options: `id=${tag}` }], { input_price: 0.1, output_price: 0 });
    const res = await call('/v1/embeddings', { method: 'POST', key, json: { model, input: 'The food was delicious', encoding_format: 'float' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.object).toBe('list');
    expect(body.data[0].embedding.length).toBeGreaterThan(0);
    const [seen] = await recordedRequests(tag);
    expect(seen!.path.endsWith('/embeddings')).toBe(true);
    expect(seen!.body).toEqual({ model: 'upstream-model', input: 'The food was delicious', encoding_format: 'float' });
    const row = await usageRow(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'success', input_tokens: 8, output_tokens: 0, cost: 1 });
  });
});
