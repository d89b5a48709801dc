import { app } from './app';
import type { Env } from './config';

export { AccountState } from './account/object';

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
