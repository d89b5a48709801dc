import { z } from 'zod';

/** Worker bindings: D1, [vars] from wrangler.toml, and secrets (ADMIN_TOKEN, the provider
 *  keys that channels name, Stripe's). Secrets are looked up by name, hence the index. */
export interface Env {
  DB: D1Database;
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
  MAX_BODY_BYTES: intVar(4 * 1024 * 1024),
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: intVar(30_000),
  UPSTREAM_IDLE_TIMEOUT_MS: intVar(60_000),
  DEFAULT_MAX_OUTPUT_TOKENS: intVar(16_384),
  HOLD_TIMEOUT_MINUTES: intVar(60),
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

/** A secret that a channel names. Only names that look like secret names are read, so a
 *  channel cannot be pointed at a binding such as DB. */
export function secret(env: Env, name: string): string | undefined {
  if (!/^[A-Z][A-Z0-9_]*$/.test(name) || name === 'ADMIN_TOKEN' || name.startsWith('STRIPE_')) {
    return undefined;
  }
  const value = env[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
