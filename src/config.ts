import { z } from 'zod';
import type { AccountState } from './account/object';
import type { AttemptLimiter } from './ratelimit/attempts';
import type { ChannelHealth } from './health/object';

/** Worker bindings: D1, [vars] from wrangler.toml, and secrets (ADMIN_TOKEN, the provider
 *  keys that channels name, Stripe's). Secrets are looked up by name, hence the index. */
export interface Env {
  DB: D1Database;
  ACCOUNTS: DurableObjectNamespace<AccountState>;
  ATTEMPTS: DurableObjectNamespace<AttemptLimiter>;
  HEALTH: DurableObjectNamespace<ChannelHealth>;
  [name: string]: unknown;
}

const intVar = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** Dollars given as a string var, turned into integer micro-dollars once at parse time. */
const dollarsVar = (fallback: number) =>
  z.coerce.number().nonnegative().default(fallback).transform((d) => Math.round(d * 1_000_000));

const ConfigSchema = z.object({
  ADMIN_TOKEN: z.string().min(1).optional(),
  STRIPE_SECRET_KEY: z.string().min(1).optional(),
  STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  STRIPE_API_BASE: z.string().url().default('https://api.stripe.com'),
  TOPUP_MIN_DOLLARS: z.coerce.number().positive().default(5),
  TOPUP_MAX_DOLLARS: z.coerce.number().positive().default(1000),
  PUBLIC_URL: z.string().url().default('http://localhost:8787'),
  SIGNUP_CREDIT: dollarsVar(1),
  /** The storefront's name, on every page and in the page titles. */
  SITE_NAME: z.string().min(1).default('Tokengate'),
  /** One line on every page telling customers how to reach the operator ("support@…"). */
  CONTACT: z.string().default(''),
  /** The key-encryption keyring for provider keys kept in D1 (src/auth/vault.ts). */
  PROVIDER_KEYS_KEK: z.string().min(1).optional(),
  /** E-mail (src/email/mailer.ts): the sender's address, and one way to send. */
  EMAIL_FROM: z.string().min(3).optional(),
  RESEND_API_KEY: z.string().min(1).optional(),
  EMAIL_API_BASE: z.string().url().default('https://api.resend.com'),
  /** `npm run dev` only: messages (with their links) printed to the dev log instead of sent. */
  EMAIL_DEV_LOG: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Sign-in with GitHub, Google or an OpenID Connect provider (src/auth/oauth.ts): each
   *  offered when its client id and secret are both set. GITHUB_URL: GitHub Enterprise Server. */
  GITHUB_CLIENT_ID: z.string().min(1).optional(),
  GITHUB_CLIENT_SECRET: z.string().min(1).optional(),
  GITHUB_URL: z.string().url().default('https://github.com'),
  GOOGLE_CLIENT_ID: z.string().min(1).optional(),
  GOOGLE_CLIENT_SECRET: z.string().min(1).optional(),
  OIDC_ISSUER: z.string().url().optional(),
  OIDC_CLIENT_ID: z.string().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  /** The OIDC provider's name on the sign-in button ("Continue with …"). */
  OIDC_NAME: z.string().min(1).max(40).default('single sign-on'),
  /** Cloudflare Turnstile on sign-up: both set, or neither (no challenge). */
  TURNSTILE_SITE_KEY: z.string().min(1).optional(),
  TURNSTILE_SECRET_KEY: z.string().min(1).optional(),
  TURNSTILE_VERIFY_URL: z.string().url().default('https://challenges.cloudflare.com/turnstile/v0/siteverify'),
  /** The most unrevoked API keys one account may hold (its rate limits bound them together). */
  MAX_KEYS_PER_ACCOUNT: intVar(50),
  /** How long a console session lasts without signing in again. */
  SESSION_DAYS: intVar(30),
  MAX_BODY_BYTES: intVar(4 * 1024 * 1024),
  MAX_UPLOAD_BYTES: intVar(64 * 1024 * 1024),
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: intVar(30_000),
  UPSTREAM_IDLE_TIMEOUT_MS: intVar(60_000),
  DEFAULT_MAX_OUTPUT_TOKENS: intVar(16_384),
  HOLD_TIMEOUT_MINUTES: intVar(60),
  /** Seconds after a request's end within which its charge reaches D1's ledger. */
  FLUSH_DELAY_SECONDS: intVar(2),
  /** An account idle this long gives its object's unspent reservation back to D1. */
  RESERVE_IDLE_SECONDS: intVar(300),
  /** Per-request usage rows are kept this long (daily totals in D1 stay). */
  USAGE_RETENTION_DAYS: intVar(90),
  /** Longest an isolate uses a key's or the catalog's cached copy (prices, channels,
   *  groups) before reading D1 again; refreshed in the background from half of it on. */
  CACHE_SECONDS: intVar(10),
  /** A failing channel's first cool-down out of rotation; doubled while it keeps failing (src/health/rules.ts). */
  HEALTH_COOL_DOWN_MS: intVar(10_000),
  /** How often at most an isolate reports its channels' outcomes to the shared view. */
  HEALTH_REPORT_MS: intVar(1_000),
  /** Browser origins allowed to call /v1 ("*", or a comma-separated list). The key, not a
   *  cookie, is the credential there, so "*" is safe and the default. */
  CORS_ORIGINS: z
    .string()
    .default('*')
    .transform((s) => (s.trim() === '*' ? '*' : s.split(',').map((o) => o.trim()).filter(Boolean))),
});

export type Config = z.infer<typeof ConfigSchema>;

// Bindings are fixed for the life of an isolate, so parse them once per env object.
const cache = new WeakMap<object, Config>();

export function config(env: Env): Config {
  let parsed = cache.get(env);
  if (!parsed) {
    const result = ConfigSchema.safeParse(env);
    if (!result.success) {
      throw new Error(`invalid configuration: ${z.prettifyError(result.error)}`);
    }
    parsed = result.data;
    cache.set(env, parsed);
  }
  return parsed;
}

/** Why a channel may not name this secret, or null: only UPPER_CASE names, and none of the
 *  gateway's own secrets, which would otherwise be sent to whatever base_url says. (A
 *  binding such as DB passes the name rule; secret() reads only string values.) */
export function secretNameProblem(name: string): string | null {
  if (!/^[A-Z][A-Z0-9_]*$/.test(name)) return 'must be the NAME of a Worker secret, like OPENAI_API_KEY';
  if (name === 'ADMIN_TOKEN' || ['STRIPE_', 'TURNSTILE_', 'PROVIDER_KEYS_', 'RESEND_', 'GITHUB_CLIENT_', 'GOOGLE_CLIENT_', 'OIDC_'].some((p) => name.startsWith(p))) {
    return "must not name one of the gateway's own secrets (ADMIN_TOKEN, STRIPE_*, TURNSTILE_*, PROVIDER_KEYS_*, RESEND_*, GITHUB_CLIENT_*, GOOGLE_CLIENT_*, OIDC_*)";
  }
  return null;
}

/** A secret that a channel names, if it is one a channel may name and it is set. */
export function secret(env: Env, name: string): string | undefined {
  if (secretNameProblem(name) !== null) return undefined;
  const value = env[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
