import { config, type Env } from '../config';
import { accountByEmail, clearUnprovenPassword, createAccount, verifyAddress } from '../db/accounts';
import { recordAudit } from '../db/audit';
import { accountOfIdentity, insertIdentity } from '../db/oauth-identities';
import { deleteAccountSessions } from '../db/sessions';
import type { Identity } from './oauth';

/**
 * What an identity a provider vouched for opens (routes/oauth.tsx):
 * - one linked before: its account;
 * - else an account with the address the provider vouches is verified: that account, linked
 *   now. If its address was not verified yet, whoever signed up with it never proved it: the
 *   password they chose is cleared and their sessions end (so an address cannot be claimed
 *   ahead of its owner), and the address counts as verified — the trial credit then, once;
 * - else a new account, verified, with the trial credit once.
 * A provider that vouches for no verified address opens nothing new.
 */
export type SignInOutcome = { accountId: string; created: boolean } | { refused: 'no_verified_email' };

export async function accountForIdentity(env: Env, identity: Identity, mayCreate: () => Promise<boolean>): Promise<SignInOutcome | { refused: 'throttled' }> {
  const linked = await accountOfIdentity(env.DB, identity.provider, identity.subject);
  if (linked) return { accountId: linked, created: false };
  if (!identity.email) return { refused: 'no_verified_email' };
  const credit = config(env).SIGNUP_CREDIT;
  const existing = await accountByEmail(env.DB, identity.email);
  if (existing) {
    if (!existing.email_verified_at) {
      await clearUnprovenPassword(env.DB, existing.id);
      await deleteAccountSessions(env.DB, existing.id);
    }
    await link(env, existing.id, identity);
    await verifyAddress(env.DB, existing.id, identity.email, credit);
    return { accountId: existing.id, created: false };
  }
  if (!(await mayCreate())) return { refused: 'throttled' };
  const created = await createAccount(env.DB, {
    email: identity.email, name: null, group: 'default', rpm: null, tpm: null, max_concurrency: null, credit: 0, creditKind: 'signup', verified: false,
  });
  // Lost a race with another sign-up of the same address: that account is the one.
  const accountId = created?.id ?? (await accountByEmail(env.DB, identity.email))!.id;
  await link(env, accountId, identity);
  await verifyAddress(env.DB, accountId, identity.email, credit);
  return { accountId, created: created !== null };
}

/** Links an identity to a signed-in account (Settings). False: it is linked elsewhere, or
 *  the account has one of this provider already. */
export async function link(env: Env, accountId: string, identity: Identity): Promise<boolean> {
  const linked = await insertIdentity(env.DB, { provider: identity.provider, subject: identity.subject, accountId, email: identity.email });
  if (linked) await recordAudit(env.DB, { actor: 'customer', action: 'account.link', target: accountId, detail: { provider: identity.provider } });
  return linked;
}
