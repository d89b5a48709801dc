import { createMiddleware } from 'hono/factory';
import { config, type Env } from '../config';
import { ApiError } from '../errors';
import type { AppEnv } from '../context';

/** Guards /admin/*: `Authorization: Bearer <ADMIN_TOKEN>`. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const given = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1];
  if (!given || !(await isAdminToken(c.env, given))) throw new ApiError('invalid_admin_token', 'Invalid or missing admin token.');
  await next();
});

/**
 * Whether `given` is ADMIN_TOKEN. Both sides are hashed to equal length first, then
 * compared with timingSafeEqual, so neither the content nor the length of the token leaks
 * through response timing. With no ADMIN_TOKEN configured, nothing is.
 */
export async function isAdminToken(env: Env, given: string): Promise<boolean> {
  const expected = config(env).ADMIN_TOKEN;
  if (!expected) return false;
  const encoder = new TextEncoder();
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(given)),
    crypto.subtle.digest('SHA-256', encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(ha, hb);
}
