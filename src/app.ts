import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { customerAuth } from './auth/customer';
import { config } from './config';
import type { AppEnv } from './context';
import { missingMigrations } from './db/migrations';
import { ApiError, renderError } from './errors';
import { version } from '../package.json';
import { admin } from './routes/admin';
import { billing, stripeWebhook } from './routes/billing';
import { chat } from './routes/chat';
import { embeddings } from './routes/embeddings';
import { audio } from './routes/audio';
import { images } from './routes/images';
import { moderations } from './routes/moderations';
import { messages } from './routes/messages';
import { responses } from './routes/responses';
import { models } from './routes/models';
import { pages } from './routes/pages';
import { EXPOSED_HEADERS } from './routes/headers';
import { usage } from './routes/usage';
import { discardBody } from './validate';

export const app = new Hono<AppEnv>();

// Every response, errors included, carries the request id that is also in the usage log.
// It is always generated here, never taken from the client: usage rows are keyed by it.
app.use('*', async (c, next) => {
  const id = crypto.randomUUID();
  c.set('requestId', id);
  await next();
  c.res.headers.set('x-request-id', id);
});

// Uploads (multipart forms with files) have their own, larger limit.
const UPLOADS = new Set(['/v1/audio/transcriptions', '/v1/audio/translations', '/v1/images/edits']);
app.use('*', (c, next) => {
  const max = UPLOADS.has(c.req.path) ? config(c.env).MAX_UPLOAD_BYTES : config(c.env).MAX_BODY_BYTES;
  return bodyLimit({
    maxSize: max,
    onError: async () => {
      await discardBody(c.req.raw, config(c.env).MAX_UPLOAD_BYTES);
      throw new ApiError('request_too_large', `The request body is larger than the ${max} bytes allowed.`);
    },
  })(c, next);
});
// An upload refused while its file still arrives (a file of another type, no credit) is read
// to its end before the answer goes, so that the client gets the answer (uploads.ts).
for (const path of UPLOADS) {
  app.use(path, async (c, next) => {
    await next();
    if (c.res.status >= 400) await c.var.refusedUpload?.();
  });
}

app.get('/health', (c) => c.json({ status: 'ok', version }));

// Nothing is served from a database that lacks a migration this code needs (one that failed
// or was never run): once an isolate has seen them all, it does not ask again.
let migrated = false;
app.use('*', async (c, next) => {
  if (!migrated) {
    const missing = await missingMigrations(c.env.DB);
    if (missing.length > 0) {
      throw new ApiError('database_not_migrated',
        `The database is not migrated to this version of Tokengate: migration ${missing[0]} is not applied. (Operator: run \`npm run deploy\`, or \`node scripts/migrate.mjs --remote\`, then retry.)`,
        { detail: `missing migrations: ${missing.join(', ')}` });
    }
    migrated = true;
  }
  await next();
});

// Browsers call /v1 with a key: preflights are answered here, before the key check, and
// every answer (errors too) names the origins allowed and the headers a client may read.
app.use('/v1/*', cors({
  origin: (origin, c) => {
    const allowed = config(c.env).CORS_ORIGINS;
    return allowed === '*' ? '*' : allowed.includes(origin) ? origin : null;
  },
  allowMethods: ['GET', 'POST', 'OPTIONS'],
  exposeHeaders: [...EXPOSED_HEADERS],
  maxAge: 86_400,
}));

const v1 = new Hono<AppEnv>();
v1.use('*', customerAuth);
v1.route('/', chat);
v1.route('/', embeddings);
v1.route('/', moderations);
v1.route('/', images);
v1.route('/', audio);
v1.route('/', messages);
v1.route('/', responses);
v1.route('/', models);
v1.route('/', usage);
v1.route('/', billing);
// Registered before /v1's key check, which Stripe cannot pass.
app.route('/v1/billing/webhook', stripeWebhook);
app.route('/v1', v1);
app.route('/admin', admin);
app.route('/', pages);

app.notFound((c) => renderError(new ApiError('unknown_route', `Unknown route: ${c.req.method} ${new URL(c.req.url).pathname}`), c));
app.onError(renderError);
