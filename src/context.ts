import type { Env } from './config';
import type { Principal } from './db/keys';
import type { Decision } from './ratelimit/client';

/** Hono's environment for every route: bindings, and what middleware puts on the context. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** Started by customerAuth and awaited by the route, so the key lookup runs in
     *  parallel with the route's own reads. Rejects with a 401/403 ApiError. */
    principal: Promise<Principal>;
    /** Micro-dollars left after this request's hold, for the balance header. */
    balance?: number;
    /** The rate limiter's answer for this request, for the x-ratelimit-* headers. */
    rateLimit?: Decision | null;
  };
};
