import { Hono } from 'hono';
import { confirm } from '../auth/customer';
import type { AppEnv } from '../context';
import { modelAllowed, type ModelRow } from '../db/catalog';
import { ApiError } from '../errors';

/** GET /v1/models and /v1/models/{id}: OpenAI's list/object shapes, only what this key may use. */
export const models = new Hono<AppEnv>();

const modelObject = (m: ModelRow) => ({
  id: m.id,
  object: 'model',
  created: Math.floor(Date.parse(m.created_at) / 1000),
  owned_by: m.owned_by,
});

models.get('/models', async (c) => {
  const { principal, catalog } = await c.var.auth.withCatalog();
  await confirm(c, principal);
  const data = [...catalog.models.values()].sort((a, b) => a.id.localeCompare(b.id)).filter((m) => modelAllowed(m, principal.group, principal.allowedModels)).map(modelObject);
  return c.json({ object: 'list', data });
});

models.get('/models/:id{.+}', async (c) => {
  const id = c.req.param('id');
  const { principal, catalog } = await c.var.auth.withCatalog();
  await confirm(c, principal);
  const model = catalog.models.get(id);
  // A model this key may not use answers like one that does not exist: 404, not 403.
  if (!model || !modelAllowed(model, principal.group, principal.allowedModels)) {
    throw new ApiError('not_found', `The model '${id}' does not exist or you do not have access to it.`);
  }
  return c.json(modelObject(model));
});
