import { z } from 'zod';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN } from '../auth/password';
import type { Env } from '../config';
import { recordAudit } from '../db/audit';
import { newId } from '../db/ids';
import { deleteOperator, insertOperator, listOperators, operatorById, type OperatorView } from '../db/operators';
import { ApiError } from '../errors';

/**
 * Named operators (e-mail, password, TOTP): the admin API and the console's Operators page
 * both call these. A new operator sets up TOTP at their first sign-in, before the console
 * opens (routes/operator/signin.tsx). Removing every operator opens the console to the
 * admin token again: the way back for a team locked out.
 */
export const NewOperatorSchema = z.object({
  email: z.string().trim().toLowerCase().email().max(254),
  password: z.string().min(PASSWORD_MIN).max(PASSWORD_MAX),
});

export const operatorsList = (env: Env): Promise<OperatorView[]> => listOperators(env.DB);

export async function addOperator(env: Env, actor: string, body: z.infer<typeof NewOperatorSchema>): Promise<OperatorView> {
  const id = newId('op');
  if (!(await insertOperator(env.DB, { id, email: body.email, passwordHash: await hashPassword(body.password), createdBy: actor }))) {
    throw new ApiError('email_taken', 'An operator with this email already exists.', { param: 'email' });
  }
  await recordAudit(env.DB, { actor, action: 'operator.add', target: id, detail: { email: body.email } });
  return { ...(await operatorById(env.DB, id))!, two_factor: false };
}

export async function removeOperator(env: Env, actor: string, id: string): Promise<void> {
  const operator = await operatorById(env.DB, id);
  if (!operator || !(await deleteOperator(env.DB, id))) throw new ApiError('not_found', `No operator ${id}.`);
  await recordAudit(env.DB, { actor, action: 'operator.remove', target: id, detail: { email: operator.email } });
}
