import { describe, expect, it } from 'vitest';
import { adminCall, call, db, newAccount, newKey, newModel, unique, usageRow } from './helpers';

async function ledgerSum(accountId: string) {
  return (await db.prepare('SELECT COALESCE(SUM(amount), 0) AS s FROM ledger WHERE account_id = ?').bind(accountId).first<{ s: number }>())!.s;
}
async function balanceMicros(accountId: string) {
  return (await db.prepare('SELECT balance FROM accounts WHERE id = ?').bind(accountId).first<{ balance: number }>())!.balance;
}

describe('admin: accounts and credit', () => {
  it('creates an account with opening credit as a ledger row', async () => {
    const email = `${unique('a')}@example.com`;
    const { status, body } = await adminCall('POST', '/accounts', { email, name: 'Ada', group: 'vip', credit: 12.5 });
    expect(status).toBe(201);
    expect(body).toEqual({
      id: expect.stringMatching(/^acct_/), email, name: 'Ada', group: 'vip', balance: 12.5, suspended: false, rpm: null, tpm: null, max_concurrency: null, email_verified: true, created_at: expect.any(String),
    });
    const fetched = await adminCall('GET', `/accounts/${body.id}`);
    expect(fetched.body).toMatchObject({ id: body.id, balance: 12.5, group: 'vip' });
    expect(await balanceMicros(body.id)).toBe(12_500_000);
    expect(await ledgerSum(body.id)).toBe(12_500_000);
  });

  it('defaults credit to 0 and group to default, and refuses a duplicate email', async () => {
    const email = `${unique('a')}@example.com`;
    const first = await adminCall('POST', '/accounts', { email });
    expect(first.body).toMatchObject({ balance: 0, group: 'default', name: null });
    const again = await adminCall('POST', '/accounts', { email: email.toUpperCase() });
    expect(again.status).toBe(400);
  });

  it('adjusts credit both ways, never below zero, with a ledger row each', async () => {
    const account = await newAccount({ credit: 1 });
    let res = await adminCall('POST', `/accounts/${account.id}/credit`, { amount: 2.25, reason: 'goodwill' });
    expect(res.body).toEqual({ balance: 3.25 });
    res = await adminCall('POST', `/accounts/${account.id}/credit`, { amount: -3.25, reason: 'chargeback' });
    expect(res.body).toEqual({ balance: 0 });
    res = await adminCall('POST', `/accounts/${account.id}/credit`, { amount: -0.000001, reason: 'too far' });
    expect(res.status).toBe(400);
    expect(await balanceMicros(account.id)).toBe(0);
    const ledger = await adminCall('GET', `/accounts/${account.id}/ledger`);
    expect(ledger.body.data.map((r: any) => [r.kind, r.amount, r.balance_after, r.reason])).toEqual([
      ['adjustment', -3.25, 0, 'chargeback'],
      ['adjustment', 2.25, 3.25, 'goodwill'],
      ['adjustment', 1, 1, 'opening credit'],
    ]);
    expect(await ledgerSum(account.id)).toBe(await balanceMicros(account.id));
  });

  it('rejects bad amounts: not a number, more than 6 decimals, zero, missing reason', async () => {
    const account = await newAccount({ credit: 1 });
    for (const body of [{ amount: '5', reason: 'x' }, { amount: 0.0000001, reason: 'x' }, { amount: 0, reason: 'x' }, { amount: 1 }]) {
      const res = await adminCall('POST', `/accounts/${account.id}/credit`, body);
      expect(res.status).toBe(400);
      expect(res.body.error.param).not.toBeNull();
    }
    expect(await balanceMicros(account.id)).toBe(1_000_000);
  });

  it('answers 404 for an unknown account or key', async () => {
    expect((await adminCall('GET', '/accounts/acct_nope')).status).toBe(404);
    expect((await adminCall('POST', '/accounts/acct_nope/credit', { amount: 1, reason: 'x' })).status).toBe(404);
    expect((await adminCall('POST', '/accounts/acct_nope/keys', { name: 'k' })).status).toBe(404);
    expect((await adminCall('DELETE', '/keys/key_nope')).status).toBe(404);
  });
});

describe('admin: keys, models, channels, usage', () => {
  it('creates a key with limits and shows its secret once', async () => {
    const account = await newAccount();
    const { status, body } = await adminCall('POST', `/accounts/${account.id}/keys`, {
      name: 'ci', rpm: 60, tpm: 1000, models: ['a', 'b'], expires_at: '2099-01-01T00:00:00Z', spend_limit: 5,
    });
    expect(status).toBe(201);
    expect(body).toMatchObject({ name: 'ci', rpm: 60, tpm: 1000, models: ['a', 'b'], spend_limit: 5, expires_at: '2099-01-01T00:00:00.000Z' });
    expect(body.key.startsWith(body.prefix)).toBe(true);
  });

  it('stores prices as integer micro-dollars per 1M tokens', async () => {
    const model = unique('m');
    const res = await adminCall('PUT', `/models/${model}`, { input_price: 0.075, output_price: 0.3, cached_input_price: 0.01875 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ input_price: 0.075, output_price: 0.3, cached_input_price: 0.01875 });
    const row = await db.prepare('SELECT input_price, output_price, cached_input_price, typeof(input_price) AS t FROM models WHERE id = ?').bind(model).first();
    expect(row).toEqual({ input_price: 75_000, output_price: 300_000, cached_input_price: 18_750, t: 'integer' });
    expect((await adminCall('PUT', `/models/${model}`, { input_price: -1, output_price: 1 })).status).toBe(400);
    expect((await adminCall('PUT', `/models/${model}`, { input_price: 1 })).body.error.param).toBe('output_price');
  });

  it('accepts model ids with slashes, as providers name them', async () => {
    const model = `${unique('org')}/llama-3.3-70b`;
    expect((await adminCall('PUT', `/models/${model}`, { input_price: 1, output_price: 1 })).status).toBe(200);
  });

  it('stores a channel by the NAME of its secret and refuses anything else', async () => {
    const id = unique('ch');
    const ok = await adminCall('PUT', `/channels/${id}`, { kind: 'openai', base_url: 'https://api.openai.com/v1', api_key_secret: 'OPENAI_API_KEY', models: { 'gpt-4o': 'gpt-4o' } });
    expect(ok.status).toBe(200);
    const bad = await adminCall('PUT', `/channels/${id}`, { kind: 'openai', base_url: 'https://api.openai.com/v1', api_key_secret: 'sk-live-123', models: { 'gpt-4o': 'gpt-4o' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('api_key_secret');
    expect((await adminCall('PUT', `/channels/${id}`, { kind: 'openai', base_url: 'ftp://x', api_key_secret: 'A', models: { a: 'b' } })).status).toBe(400);
  });

  it('lists usage rows, newest first, filtered by account', async () => {
    const account = await newAccount();
    const { key } = await newKey(account.id);
    const { model } = await newModel([{ fixture: 'openai/chat-nonstream-text-gpt-4o.json' }]);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call('/v1/chat/completions', { method: 'POST', key, json: { model, messages: [{ role: 'user', content: 'x' }] } });
      ids.push(res.headers.get('x-request-id')!);
      await usageRow(ids[i]!);
    }
    const { body } = await adminCall('GET', `/usage?account=${account.id}&limit=2`);
    expect(body.data.map((r: any) => r.request_id)).toEqual([ids[2], ids[1]]);
    expect(Object.keys(body.data[0]).sort()).toEqual(['account_id', 'cache_write_tokens', 'cached_tokens', 'capped', 'channel', 'cost', 'created_at', 'estimated',
      'first_byte_ms', 'reported_cost', 'input_tokens', 'key_id', 'key_name', 'latency_ms', 'model', 'output_tokens', 'quantity', 'request_id', 'status', 'unit'].sort());
    expect(typeof body.data[0].cost).toBe('number');
  });
});
