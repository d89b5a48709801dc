import { app } from './app';
import type { Env } from './config';

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
