import { modelAllowed, type ModelRow } from '../db/catalog';
import type { Principal } from '../db/keys';
import { ApiError } from '../errors';

/** The model a request names, if it exists and this principal may use it: else 400 / 403. */
export function allowedModel(model: ModelRow | null, requested: string, p: Principal): ModelRow {
  if (p.suspended) throw suspended();
  if (!model) {
    throw new ApiError('model_not_found', `The model '${requested}' does not exist or you do not have access to it.`, { param: 'model' });
  }
  if (!modelAllowed(model, p.group, p.allowedModels)) {
    throw new ApiError('model_not_allowed', `This API key is not allowed to use the model '${requested}'.`);
  }
  return model;
}

export const suspended = () =>
  new ApiError('account_suspended', 'API use is suspended on this account (by the operator, or while a payment dispute is open). Contact support.');
