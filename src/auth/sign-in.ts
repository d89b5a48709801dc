import type { Context } from 'hono';
import type { AppEnv } from '../context';
import { hasSecondFactor } from '../db/second-factors';
import { CUSTOMER_SESSION, startSession } from './session';
import { startChallenge, type ChallengeKind } from './two-factor';

/** Where a customer's sign-in may go next: only a path of the console itself, never an open redirect. */
export const safeNext = (next: string | null | undefined) => (next && /^\/console(\/[\w\-/]*)?(\?[\w=&%.\-]*)?$/.test(next) ? next : '/console');

/** A customer's sign-in waiting for its second factor (routes/signin.tsx's /login/code). */
export const CUSTOMER_CHALLENGE: ChallengeKind = { cookie: 'tg_2fa', path: '/login' };

/**
 * The last step of every customer sign-in, by password or by a provider: the console, or —
 * when the account has two-factor on — the page that asks for its code first.
 */
export async function signInCustomer(c: Context<AppEnv>, accountId: string, next: string): Promise<Response> {
  if (await hasSecondFactor(c.env.DB, accountId)) {
    await startChallenge(c, CUSTOMER_CHALLENGE, accountId, next);
    return c.redirect('/login/code', 303);
  }
  await startSession(c, CUSTOMER_SESSION, accountId);
  return c.redirect(next, 303);
}
