import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { customerAuth } from './auth/customer';
import { config } from './config';
import type { AppEnv } from './context';
import { ApiError, notFound, renderError } from './errors';
import { admin } from './routes/admin';
import { billing, stripeWebhook } from './routes/billing';
import { chat } from './routes/chat';
import { embeddings } from './routes/embeddings';
import { models } from './routes/models';
import { usage } from './routes/usage';

export const app = new Hono<AppEnv>();

// Every response, errors included, carries the request id that is also in the usage log.
// It is always generated here, never taken from the client: usage rows are keyed by it.
app.use('*', async (c, next) => {
  const id = crypto.randomUUID();
  c.set('requestId', id);
  await next();
  c.res.headers.set('x-request-id', id);
});

app.use('*', (c, next) =>
  bodyLimit({
    maxSize: config(c.env).MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError(413, 'invalid_request_error', 'request_too_large',
        `The request body is larger than the ${config(c.env).MAX_BODY_BYTES} bytes allowed.`);
    },
  })(c, next),
);

app.get('/health', (c) => c.json({ status: 'ok' }));

const v1 = new Hono<AppEnv>();
v1.use('*', customerAuth);
v1.route('/', chat);
v1.route('/', embeddings);
v1.route('/', models);
v1.route('/', usage);
v1.route('/', billing);
// Registered before /v1's key check, which Stripe cannot pass.
app.route('/v1/billing/webhook', stripeWebhook);
app.route('/v1', v1);
app.route('/admin', admin);

app.notFound((c) => renderError(notFound(`Unknown route: ${c.req.method} ${new URL(c.req.url).pathname}`, 'unknown_route'), c));
app.onError(renderError);
