import { createMiddleware } from 'hono/factory';
import { config } from '../config';
import { ApiError } from '../errors';
import type { AppEnv } from '../context';

/**
 * Guards /admin/*. Both sides are hashed to equal length first, then compared with
 * timingSafeEqual, so neither the content nor the length of ADMIN_TOKEN leaks through
 * response timing. With no ADMIN_TOKEN configured, the admin API is closed.
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const expected = config(c.env).ADMIN_TOKEN;
  const given = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1];
  if (!expected || !given || !(await sameSecret(given, expected))) {
    throw new ApiError('invalid_admin_token', 'Invalid or missing admin token.');
  }
  await next();
});

async function sameSecret(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(a)),
    crypto.subtle.digest('SHA-256', encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(ha, hb);
}
