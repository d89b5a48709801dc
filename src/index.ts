import { app } from './app';
import { sweepHolds } from './billing/sweeper';
import type { Env } from './config';

export { RateLimiter } from './ratelimit/limiter';

export default {
  fetch: app.fetch,
  scheduled: (_controller, env, ctx) => ctx.waitUntil(sweepHolds(env)),
} satisfies ExportedHandler<Env>;
