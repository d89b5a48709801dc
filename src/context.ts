import type { Env } from './config';
import type { KeyAuth } from './auth/customer';
import type { Decision } from './ratelimit/windows';

/** Hono's environment for every route: bindings, and what middleware puts on the context. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** The request's key, from customerAuth; its lookup is the route's to start. */
    auth: KeyAuth;
    /** Micro-dollars the account can spend (after this request's hold), for the balance header. */
    balance?: number;
    /** The console's signed-in customer (auth/session.ts). */
    session?: { accountId: string; tokenHash: string };
    /** The operator console's session (auth/operator.ts): who, for the audit log; the
     *  named operator's id (null: the admin token signed in, before there were operators). */
    operator?: { actor: string; tokenHash: string; id: string | null };
    /** Drops the rest of a multipart upload the route refused (routes/uploads.ts). */
    refusedUpload?: () => Promise<void>;
    /** The rate limiter's answer for this request, for the x-ratelimit-* headers. */
    rateLimit?: Decision | null;
  };
};
