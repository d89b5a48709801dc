import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { freePort } from './test/support/ports.ts';

// The fake Stripe API's port is chosen here: the worker's bindings must name it.
process.env.TOKENGATE_FAKE_STRIPE_PORT ??= String(await freePort());
const stripeApiBase = `http://127.0.0.1:${process.env.TOKENGATE_FAKE_STRIPE_PORT}`;
// Likewise the fake e-mail provider's (test/support/fake-mail.ts).
process.env.TOKENGATE_FAKE_MAIL_PORT ??= String(await freePort());
const mailApiBase = `http://127.0.0.1:${process.env.TOKENGATE_FAKE_MAIL_PORT}`;

/**
 * Two projects: `worker` runs inside workerd (the Workers runtime, real local D1) and
 * calls the gateway through exports.default.fetch; `e2e` runs in Node, starts the whole
 * worker in Miniflare and drives it over HTTP with the official openai SDK. Both talk to
 * the same kind of fake upstream on 127.0.0.1, replaying test/fixtures.
 */
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                ADMIN_TOKEN: 'test-admin-token',
                FAKE_UPSTREAM_KEY: 'sk-upstream-secret-never-leaks-0123456789abcdef',
                MIGRATIONS: await readD1Migrations('./migrations'),
                UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '1500',
                UPSTREAM_IDLE_TIMEOUT_MS: '1500',
                CACHE_SECONDS: '2',
                HEALTH_COOL_DOWN_MS: '1000',
                HEALTH_REPORT_MS: '20',
                MAX_KEYS_PER_ACCOUNT: '20',
                // Two key-encryption keys: 'rotated' seals, 'original' still opens (test/worker/provider-keys.test.ts).
                PROVIDER_KEYS_KEK: `rotated:egVPSaAnWb7xJdsbaRdTg4XNeQgpuK/PlZdkojJMlho=,original:E2eMqqUvNE4kwTpXv/qT0naPd1ze9rE0IDiDUWk1/Hw=`,
                STRIPE_SECRET_KEY: 'sk_test_fake_0123456789',
                STRIPE_WEBHOOK_SECRET: 'whsec_test_secret',
                STRIPE_API_BASE: stripeApiBase,
                RESEND_API_KEY: 're_test_fake_0123456789',
                EMAIL_API_BASE: mailApiBase,
                EMAIL_FROM: 'Tokengate <noreply@gateway.example.com>',
                PUBLIC_URL: 'https://gateway.example.com',
              },
            },
          }),
        ],
        test: {
          name: 'worker',
          include: ['test/worker/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/worker/setup.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
