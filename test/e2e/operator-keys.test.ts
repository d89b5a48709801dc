import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, screenshots } from '../support/browser.ts';
import { startWorker } from '../support/worker-process.ts';

/**
 * Provider keys in the operator console, in real Chromium by accessible names: keys pasted
 * in bulk on a channel's Keys page serve the next request (no restart), round robin; the
 * one the upstream refuses is disabled by itself while requests go on; Test, Disable,
 * Delete disabled keys; Fetch models and serve one. Then the database file on disk, every
 * page and answer the test saw, and the worker's whole log are searched for the pasted
 * keys: none is anywhere in clear.
 */
const ADMIN = 'e2e-keys-admin-token';
const shoot = screenshots('operator-keys');
const persist = mkdtempSync(join(tmpdir(), 'tokengate-keys-'));
const log: string[] = [];
const seen: string[] = [];
let worker: Awaited<ReturnType<typeof startWorker>>;
let browser: Browser;

const pasted = ['good-one', 'good-two', 'refused'].map((name) => `sk-proj-${name}-${randomBytes(18).toString('base64url')}`);
const [first, second, refused] = pasted as [string, string, string];
const tag = `keys-${Date.now()}`;

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: ADMIN, PROVIDER_KEYS_KEK: `k1:${randomBytes(32).toString('base64')}` }, { persist, onLog: (t) => log.push(t) });
  await worker.admin('PUT', '/models/pooled', { input_price: 1, output_price: 2 });
  await worker.admin('PUT', '/channels/openai-pool', {
    kind: 'openai', base_url: `${inject('upstreamUrl')}/o:id=${tag},deny=${refused.slice(-8)}:401/openai/chat-nonstream-gpt-4.1-nano.json`,
    models: { pooled: 'gpt-4.1-nano' },
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await worker?.dispose();
});

describe('provider keys in the operator console', () => {
  it('paste → serve round robin → a refused key disabled by itself → test, disable, delete → fetch models → nothing in clear anywhere', async () => {
    const account = await worker.admin('POST', '/accounts', { email: 'keys@example.com', credit: 5 });
    const { key } = await worker.admin('POST', `/accounts/${account.id}/keys`, { name: 'app' });
    const chat = async (model = 'pooled') => {
      const res = await fetch(`${worker.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello' }] }),
      });
      seen.push(await res.text());
      return res.status;
    };
    const sentKeys = async () => ((await (await fetch(`${inject('upstreamUrl')}/__requests?id=${tag}`)).json()) as Array<{ path: string; headers: Record<string, string> }>)
      .filter((r) => r.path.endsWith('/chat/completions')).map((r) => r.headers.authorization?.replace('Bearer ', ''));

    const page = await browser.newPage({ locale: 'en-US' });
    page.on('response', async (r) => void seen.push(await r.text().catch(() => '')));
    await page.goto(`${worker.url}/operator/login`);
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Channels' }).click();
    await page.getByText('Provider keys are sealed under k1').waitFor();
    await page.getByRole('link', { name: 'Keys of openai-pool' }).click();
    await expect(page.getByRole('heading', { name: 'Keys of openai-pool' })).toBeTruthy();

    // Three keys pasted at once, one per line; shown from then on as their last four characters.
    await page.getByLabel('Keys (one per line)').fill(`${first}\n${second}\n\n${refused}\n`);
    await page.getByRole('button', { name: 'Add keys' }).click();
    await page.getByText('Keys added').waitFor();
    for (const k of pasted) await page.getByRole('cell', { name: `…${k.slice(-4)}`, exact: true }).waitFor();
    await shoot(page, 'keys-added');

    // The next requests use them, in turn; the refused one fails once, is disabled, and its
    // request is served by the next key.
    for (let i = 0; i < 4; i++) expect(await chat()).toBe(200);
    expect(await sentKeys()).toEqual([first, second, refused, first, second]);
    await page.reload();
    for (let i = 0; i < 40 && !(await page.getByRole('row', { name: new RegExp(`…${refused.slice(-4)} disabled`) }).count()); i++) {
      await page.waitForTimeout(100);
      await page.reload();
    }
    await page.getByRole('row', { name: new RegExp(`…${refused.slice(-4)} disabled`) }).getByText(/HTTP 401/).first().waitFor();
    // Each key's calls as they went, read as soon as the page is.
    await page.getByRole('row', { name: new RegExp(`…${first.slice(-4)} enabled 1 100.0% 2 calls`) }).waitFor();
    await page.getByRole('row', { name: new RegExp(`…${refused.slice(-4)} disabled .* 0.0% 1 call `) }).waitFor();
    await shoot(page, 'key-disabled');

    // Test the refused key: still refused, still disabled. Disable a good one by hand.
    await page.getByRole('button', { name: `Test …${refused.slice(-4)}` }).click();
    await page.getByText(/Test: failed/).waitFor();
    await page.getByRole('button', { name: `Disable …${second.slice(-4)}` }).click();
    await page.getByText('Key disabled.').waitFor();
    await page.getByRole('row', { name: new RegExp(`…${second.slice(-4)} disabled`) }).waitFor();
    for (let i = 0; i < 2; i++) expect(await chat()).toBe(200);
    expect((await sentKeys()).slice(-2)).toEqual([first, first]);
    // Delete every disabled key: only the first is left.
    await page.getByRole('button', { name: 'Delete disabled keys' }).click();
    await page.getByText('Disabled keys deleted.').waitFor();
    expect(await page.locator('td code').count()).toBe(1);

    // What the upstream offers, picked and served under a public id of the operator's.
    await page.getByRole('button', { name: 'Fetch models' }).click();
    await page.getByLabel('Public id for model-id-1').fill('cheap-model');
    await page.getByRole('checkbox', { name: /model-id-1/ }).check();
    await shoot(page, 'fetch-models');
    await page.getByRole('button', { name: 'Serve selected models' }).click();
    await page.getByText('The channel serves the selected models.').waitFor();
    await worker.admin('PUT', '/models/cheap-model', { input_price: 0.5, output_price: 1 });
    expect(await chat('cheap-model')).toBe(200);
    const calls = (await (await fetch(`${inject('upstreamUrl')}/__requests?id=${tag}`)).json()) as Array<{ path: string; body: { model: string } }>;
    expect(calls.filter((r) => r.path.endsWith('/chat/completions')).at(-1)?.body.model).toBe('model-id-1');
    seen.push(await page.content());
    await page.close();

    // No pasted key anywhere in clear: the database files on disk, every page and answer, the log.
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else files.push(path);
      }
    };
    walk(persist);
    expect(files.some((f) => f.endsWith('.sqlite'))).toBe(true);
    for (const k of pasted) {
      for (const f of files) expect(readFileSync(f).includes(Buffer.from(k)), `${k} in ${f}`).toBe(false);
      expect(seen.some((text) => text.includes(k))).toBe(false);
      expect(log.join('').includes(k)).toBe(false);
    }
  });
});
