import { app } from './app';
import { sweepHolds } from './billing/sweeper';
import type { Env } from './config';

export default {
  fetch: app.fetch,
  scheduled: (_controller, env, ctx) => ctx.waitUntil(sweepHolds(env)),
} satisfies ExportedHandler<Env>;
