import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { z } from 'zod';
import { accountState } from '../account/client';
import type { AppEnv } from '../context';
import { IsolateCache } from '../cache';
import { config } from '../config';
import { catalogStatements, toCatalog, type Catalog } from '../db/catalog';
import { principalStatement, toPrincipal, type Principal } from '../db/keys';
import { ApiError } from '../errors';
import { toDollars } from '../money';
import { rateLimitHeaders } from '../ratelimit/headers';
import { readJson } from '../validate';
import { suspended } from '../routes/access';
import { BALANCE_HEADER } from '../routes/headers';
import { hashKey, isWellFormedKey } from './keys';

/**
 * Authenticates `Authorization: Bearer sk-…` or `x-api-key: sk-…` (what the Anthropic SDKs
 * and Claude Code send); when both are sent, the bearer key is the one used. A missing or
 * malformed key fails at once, without touching D1. The lookup of a well-formed key is
 * left to the route (c.var.auth): from this isolate's cache when it has the key, else
 * from D1 — together with the catalog, in one round trip, where the route needs both.
 */
export const customerAuth = createMiddleware<AppEnv>(async (c, next) => {
  const bearer = c.req.header('authorization');
  const apiKey = c.req.header('x-api-key');
  if (!bearer && !apiKey) {
    throw new ApiError('invalid_api_key', 'You didn\'t provide an API key. Send it as "Authorization: Bearer sk-..." or "x-api-key: sk-...".');
  }
  const key = bearer ? /^Bearer\s+(\S+)\s*$/i.exec(bearer)?.[1] : apiKey?.trim();
  if (!key || !isWellFormedKey(key)) throw new ApiError('invalid_api_key', 'Incorrect API key provided.');
  const ctx = c.executionCtx;
  c.set('auth', new KeyAuth(c.env.DB, await hashKey(key), config(c.env).CACHE_SECONDS * 1000, (p) => ctx.waitUntil(p)));
  await next();
  // Answers that asked the account's object carry what it can spend (after the request's
  // hold, on chat and embeddings), and the key's rate-limit state.
  if (c.var.balance !== undefined) c.res.headers.set(BALANCE_HEADER, String(toDollars(c.var.balance)));
  for (const [name, value] of Object.entries(rateLimitHeaders(c.var.rateLimit ?? null))) c.res.headers.set(name, value);
});

/** Keys (by hash) and the catalog, as this isolate last read them (see cache.ts). */
const principals = new IsolateCache<Principal>(10_000);
const catalogs = new IsolateCache<Catalog>(1);
const CATALOG = 'catalog';

/** This isolate forgets at once what the admin API just changed; others within CACHE_SECONDS. */
export const forgetKey = (keyHash: string) => principals.delete(keyHash);
/** The account changed (its group, its suspension): this isolate reads its keys again. */
export const forgetAccountKeys = (accountId: string) => principals.deleteWhere((p) => p.accountId === accountId);
export const forgetCatalog = () => catalogs.clear();

/** The key's principal, looked up at most once per request; rejects with a 401. */
export class KeyAuth {
  private lookup: Promise<Principal> | null = null;

  constructor(
    private readonly db: D1Database,
    readonly keyHash: string,
    private readonly ttlMs: number,
    private readonly background: (work: Promise<unknown>) => void,
  ) {}

  principal(): Promise<Principal> {
    this.lookup ??= (async () => {
      const hit = principals.get(this.keyHash, this.ttlMs);
      if (!hit) return usable(await this.readPrincipal());
      if (hit.stale) this.refresh(this.readPrincipal());
      return usable(hit.value);
    })();
    return this.lookup;
  }

  /** The principal and the catalog; from D1 in one batch when this isolate has neither. */
  async withCatalog(): Promise<{ principal: Principal; catalog: Catalog }> {
    if (!this.lookup && !principals.has(this.keyHash, this.ttlMs) && !catalogs.has(CATALOG, this.ttlMs)) {
      const batch = this.db.batch([principalStatement(this.db, this.keyHash), ...catalogStatements(this.db)]);
      this.lookup = batch.then(([row]) => usable(this.remember(row?.results[0])));
      const [[, ...catalog], principal] = await Promise.all([batch, this.lookup]);
      return { principal, catalog: rememberCatalog(toCatalog(catalog)) };
    }
    const [principal, catalog] = await Promise.all([this.principal(), this.catalog()]);
    return { principal, catalog };
  }

  private async catalog(): Promise<Catalog> {
    const hit = catalogs.get(CATALOG, this.ttlMs);
    if (!hit) return readCatalog(this.db);
    if (hit.stale) this.refresh(readCatalog(this.db));
    return hit.value;
  }

  private async readPrincipal(): Promise<Principal | null> {
    return this.remember(await principalStatement(this.db, this.keyHash).first());
  }

  private remember(row: unknown): Principal | null {
    const p = toPrincipal(row);
    if (p && !p.revoked) principals.put(this.keyHash, p);
    else principals.delete(this.keyHash);
    return p;
  }

  private refresh(work: Promise<unknown>): void {
    this.background(work.catch((err) => console.error(JSON.stringify({ cache_refresh_failed: String(err) }))));
  }
}

async function readCatalog(db: D1Database): Promise<Catalog> {
  return rememberCatalog(toCatalog(await db.batch(catalogStatements(db))));
}

function rememberCatalog(catalog: Catalog): Catalog {
  catalogs.put(CATALOG, catalog);
  return catalog;
}

function usable(p: Principal | null): Principal {
  if (!p) throw new ApiError('invalid_api_key', 'Incorrect API key provided.');
  if (p.revoked) throw new ApiError('invalid_api_key', 'This API key has been revoked.');
  if (p.expiresAt !== null && Date.parse(p.expiresAt) <= Date.now()) throw new ApiError('invalid_api_key', 'This API key has expired.');
  return p;
}

/**
 * Confirms the principal with its account's object, which learns of a revocation or a
 * suspension the moment it happens, where this isolate's copy may be CACHE_SECONDS old: the
 * routes that place no hold (models, usage, billing, count_tokens) call it, so a revoked key
 * or a suspended account is refused from the next request on everywhere, as the model
 * routes' admission refuses them.
 */
export async function confirm(c: Context<AppEnv>, principal: Principal): Promise<Principal> {
  let status: 'ok' | 'revoked' | 'suspended';
  try {
    status = await accountState(c.env, principal.accountId).keyStatus(principal.accountId, principal.keyId, principal.spent);
  } catch (err) {
    throw new ApiError('account_unavailable', 'This account cannot be reached right now. Please retry shortly.', { detail: `account object: ${String(err)}` });
  }
  if (status === 'revoked') {
    forgetKey(c.var.auth.keyHash);
    throw new ApiError('invalid_api_key', 'This API key has been revoked.');
  }
  if (status === 'suspended' || principal.suspended) throw suspended();
  return principal;
}

/** The request's key, looked up and confirmed (see confirm). */
export const confirmedPrincipal = async (c: Context<AppEnv>) => confirm(c, await c.var.auth.principal());

/** A customer route's JSON body; when it is bad, a bad key still answers 401 first. */
export async function readCustomerJson<S extends z.ZodType>(c: Context<AppEnv>, schema: S): Promise<z.infer<S>> {
  try {
    return await readJson(c, schema);
  } catch (err) {
    await c.var.auth.principal();
    throw err;
  }
}
