import { Hono } from 'hono';
import { z } from 'zod';
import * as act from '../admin/actions';
import { requireAdmin } from '../auth/admin';
import { modelId, NewKeySchema } from '../auth/api-keys';
import type { AppEnv } from '../context';
import { overview, overviewJson, PeriodSchema } from '../admin/overview';
import * as operators from '../admin/operators';
import * as keys from '../admin/provider-keys';
import { readJson, parse } from '../validate';

/** The operator's API, behind ADMIN_TOKEN: each route reads its input and calls the one
 *  implementation in admin/actions.ts, which the operator console calls too. Amounts are
 *  dollars, prices USD per 1M tokens. */
export const admin = new Hono<AppEnv>();
admin.use('*', requireAdmin);

const actor = act.API_ACTOR;
const limit = (max: number, fallback: number) => z.object({ limit: z.coerce.number().int().min(1).max(max).default(fallback) });

admin.post('/accounts', async (c) => c.json(await act.createAccount(c.env, actor, await readJson(c, act.NewAccountSchema)), 201));

admin.get('/accounts', async (c) => {
  const query = parse(limit(100, 20).extend({ email: z.string().trim().min(1).max(254).optional() }), c.req.query());
  return c.json({ data: await act.findAccounts(c.env, query.email, query.limit) });
});

admin.patch('/accounts/:id', async (c) => c.json(await act.changeAccount(c.env, actor, c.req.param('id'), await readJson(c, act.AccountChangeSchema))));

admin.get('/accounts/:id', async (c) => c.json(await act.accountById(c.env, c.req.param('id'))));

admin.post('/accounts/:id/verify-email', async (c) => c.json(await act.verifyEmail(c.env, actor, c.req.param('id'))));

admin.delete('/accounts/:id/two-factor', async (c) => c.json(await act.resetTwoFactor(c.env, actor, c.req.param('id'))));

admin.post('/accounts/:id/credit', async (c) => c.json(await act.adjustCredit(c.env, actor, c.req.param('id'), await readJson(c, act.CreditSchema))));

admin.get('/accounts/:id/ledger', async (c) => c.json({ data: await act.ledgerOf(c.env, c.req.param('id')) }));

admin.post('/accounts/:id/keys', async (c) => c.json(await act.createKey(c.env, actor, c.req.param('id'), await readJson(c, NewKeySchema)), 201));

admin.get('/accounts/:id/keys', async (c) => c.json({ data: await act.keysOf(c.env, c.req.param('id')) }));

admin.delete('/keys/:id', async (c) => {
  await act.revokeKey(c.env, actor, c.req.param('id'));
  return c.body(null, 204);
});

admin.get('/operators', async (c) => c.json({ data: await operators.operatorsList(c.env) }));

admin.post('/operators', async (c) => c.json(await operators.addOperator(c.env, actor, await readJson(c, operators.NewOperatorSchema)), 201));

admin.delete('/operators/:id', async (c) => {
  await operators.removeOperator(c.env, actor, c.req.param('id'));
  return c.body(null, 204);
});

admin.post('/redemption-codes', async (c) => c.json({ data: await act.createCodeBatch(c.env, actor, await readJson(c, act.CodeBatchSchema)) }, 201));

admin.get('/redemption-codes', async (c) => c.json({ data: await act.codesList(c.env, parse(limit(10_000, 1000), c.req.query()).limit) }));

admin.delete('/redemption-codes/:id', async (c) => {
  await act.disableCode(c.env, actor, c.req.param('id'));
  return c.body(null, 204);
});

admin.get('/models', async (c) => c.json({ data: await act.modelsList(c.env) }));

admin.put('/models/:model{.+}', async (c) =>
  c.json(await act.putModel(c.env, actor, parse(modelId, c.req.param('model')), await readJson(c, act.ModelSchema))));

admin.put('/channels/:id', async (c) =>
  c.json(await act.putChannel(c.env, actor, parse(act.channelId, c.req.param('id')), await readJson(c, act.ChannelSchema))));

admin.get('/channels', async (c) => c.json({ data: await act.channelsList(c.env) }));

/** One tiny request through the channel: its status, latency and usage. */
admin.post('/channels/:id/test', async (c) => c.json(await act.testChannel(c.env, actor, c.req.param('id'))));

/** What the channel's upstream lists as its models. */
admin.get('/channels/:id/upstream-models', async (c) => c.json({ data: await act.discoverModels(c.env, c.req.param('id')) }));

// Provider keys kept in D1 (sealed; shown as their last four characters).
admin.get('/channels/:id/keys', async (c) => c.json({ data: await keys.keysOfChannel(c.env, c.req.param('id')) }));

admin.post('/channels/:id/keys', async (c) =>
  c.json({ data: await keys.addKeys(c.env, actor, c.req.param('id'), await readJson(c, keys.AddKeysSchema)) }, 201));

/** Every disabled key of the channel (?state=disabled is required: no other bulk delete). */
admin.delete('/channels/:id/keys', async (c) => {
  parse(z.object({ state: z.literal('disabled') }), c.req.query());
  return c.json(await keys.removeDisabledKeys(c.env, actor, c.req.param('id')));
});

admin.post('/provider-keys/reseal', async (c) => c.json(await keys.resealAll(c.env, actor)));

admin.patch('/provider-keys/:id', async (c) => c.json(await keys.changeKey(c.env, actor, c.req.param('id'), await readJson(c, keys.KeyChangeSchema))));

admin.delete('/provider-keys/:id', async (c) => {
  await keys.removeKey(c.env, actor, c.req.param('id'));
  return c.body(null, 204);
});

admin.post('/provider-keys/:id/test', async (c) => c.json(await keys.testKey(c.env, actor, c.req.param('id'))));

admin.get('/usage', async (c) => c.json({ data: await act.usageAcross(c.env, parse(act.UsageQuerySchema, c.req.query())) }));

admin.get('/overview', async (c) => c.json(overviewJson(await overview(c.env, parse(z.object({ period: PeriodSchema }), c.req.query()).period))));

admin.get('/audit', async (c) => c.json({ data: await act.auditLog(c.env, parse(limit(1000, 100), c.req.query()).limit) }));
