import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { z } from 'zod';
import type { AppEnv } from '../context';
import { catalogStatements, toCatalog, type Catalog } from '../db/catalog';
import { principalStatement, toPrincipal, type Principal } from '../db/keys';
import { ApiError } from '../errors';
import { toDollars } from '../money';
import { rateLimitHeaders } from '../ratelimit/client';
import { readJson } from '../validate';
import { BALANCE_HEADER } from '../routes/headers';
import { hashKey, isWellFormedKey } from './keys';

/**
 * Authenticates `Authorization: Bearer sk-…` or `x-api-key: sk-…` (what the Anthropic SDKs
 * and Claude Code send); when both are sent, the bearer key is the one used. A missing or
 * malformed key fails at once,
 * without touching D1. The lookup of a well-formed key is left to the route (c.var.auth),
 * so that chat and embeddings can read the key, the model and its channels in one D1
 * round trip.
 */
export const customerAuth = createMiddleware<AppEnv>(async (c, next) => {
  const bearer = c.req.header('authorization');
  const apiKey = c.req.header('x-api-key');
  if (!bearer && !apiKey) {
    throw new ApiError('invalid_api_key', 'You didn\'t provide an API key. Send it as "Authorization: Bearer sk-..." or "x-api-key: sk-...".');
  }
  const key = bearer ? /^Bearer\s+(\S+)\s*$/i.exec(bearer)?.[1] : apiKey?.trim();
  if (!key || !isWellFormedKey(key)) throw new ApiError('invalid_api_key', 'Incorrect API key provided.');
  const auth = new KeyAuth(c.env.DB, await hashKey(key));
  c.set('auth', auth);
  await next();
  // Every authenticated answer carries the balance (after the hold, where there was one)
  // and the key's rate-limit state.
  const known = await auth.settled();
  if (known) c.res.headers.set(BALANCE_HEADER, String(toDollars(c.var.balance ?? known.balance)));
  for (const [name, value] of Object.entries(rateLimitHeaders(c.var.rateLimit ?? null))) c.res.headers.set(name, value);
});

/** The key's principal, looked up at most once per request; rejects with a 401. */
export class KeyAuth {
  private lookup: Promise<Principal> | null = null;

  constructor(
    private readonly db: D1Database,
    readonly keyHash: string,
  ) {}

  principal(): Promise<Principal> {
    this.lookup ??= principalStatement(this.db, this.keyHash).first().then((row) => usable(toPrincipal(row)));
    return this.lookup;
  }

  /**
   * The principal, the model and the model's channels, in one batch, with `then`'s
   * statements (given the key's hash) at the end of the same batch; their results come back
   * as `then`. A 401 for the key is thrown only after the whole batch has run.
   */
  async withCatalog(
    modelId: string,
    then: (keyHash: string) => D1PreparedStatement[] = () => [],
  ): Promise<Catalog & { principal: Principal; then: D1Result[] }> {
    const tail = [...catalogStatements(this.db, modelId), ...then(this.keyHash)];
    if (this.lookup) {
      const [principal, [model, routes, ...rest]] = await Promise.all([this.lookup, this.db.batch(tail)]);
      return { principal, ...toCatalog(model, routes), then: rest };
    }
    const batch = this.db.batch([principalStatement(this.db, this.keyHash), ...tail]);
    this.lookup = batch.then(([row]) => usable(toPrincipal(row?.results[0])));
    const [[, model, routes, ...rest], principal] = await Promise.all([batch, this.lookup]);
    return { principal, ...toCatalog(model, routes), then: rest };
  }

  /** The principal if a lookup found a usable one, for response headers; never throws. */
  async settled(): Promise<Principal | null> {
    return this.lookup ? this.lookup.catch(() => null) : null;
  }
}

function usable(p: Principal | null): Principal {
  if (!p) throw new ApiError('invalid_api_key', 'Incorrect API key provided.');
  if (p.revoked) throw new ApiError('invalid_api_key', 'This API key has been revoked.');
  if (p.expiresAt !== null && Date.parse(p.expiresAt) <= Date.now()) throw new ApiError('invalid_api_key', 'This API key has expired.');
  return p;
}

/** A customer route's JSON body; when it is bad, a bad key still answers 401 first. */
export async function readCustomerJson<S extends z.ZodType>(c: Context<AppEnv>, schema: S): Promise<z.infer<S>> {
  try {
    return await readJson(c, schema);
  } catch (err) {
    await c.var.auth.principal();
    throw err;
  }
}
