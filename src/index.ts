import { app } from './app';
import type { Env } from './config';

export { AccountState } from './account/object';
export { AttemptLimiter } from './ratelimit/attempts';
export { ChannelHealth } from './health/object';

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
