import { config, type Env } from '../config';
import { recordAudit } from '../db/audit';
import { verifyAddress, updateAccount } from '../db/accounts';
import { claimLink, insertLink, linkUsable, type LinkPurpose } from '../db/email-links';
import { deleteAccountSessions } from '../db/sessions';
import { mailerOf, type Mail } from '../email/mailer';
import { toDollars } from '../money';
import type { T } from '../pages/i18n';
import { hashPassword } from './password';
import { randomToken, sha256Hex } from './keys';

/**
 * The links the console e-mails: to verify an address (24 hours) and to reset a password
 * (one hour). Each is a random 256-bit token in the URL, kept in D1 only as its SHA-256,
 * used at most once (db/email-links.ts). Whoever holds a link can use it; that is what the
 * address proves.
 */
const LIFETIME_HOURS: Record<LinkPurpose, number> = { verify: 24, reset: 1 };
const PATH: Record<LinkPurpose, string> = { verify: '/verify', reset: '/reset' };
const hashOf = (token: string) => sha256Hex(`email-link:${token}`);
const escape = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** Sends the account a fresh link; false when this site cannot send e-mail. */
export async function sendLink(env: Env, t: T, account: { id: string; email: string }, purpose: LinkPurpose): Promise<boolean> {
  const mail = mailerOf(env);
  if (!mail) return false;
  const cfg = config(env);
  const token = randomToken();
  const hours = LIFETIME_HOURS[purpose];
  await insertLink(env.DB, {
    tokenHash: await hashOf(token), accountId: account.id, purpose, email: account.email,
    expiresAt: new Date(Date.now() + hours * 3_600_000).toISOString(),
  });
  const link = siteUrl(env, `${PATH[purpose]}?token=${token}`);
  const site = cfg.SITE_NAME;
  const credit = cfg.SIGNUP_CREDIT > 0 ? t('mail.verify.credit', { credit: `$${toDollars(cfg.SIGNUP_CREDIT)}` }) : '';
  const text = purpose === 'verify' ? t('mail.verify.body', { site, link, hours, credit }) : t('mail.reset.body', { site, link });
  await mail(message(account.email, t(purpose === 'verify' ? 'mail.verify.subject' : 'mail.reset.subject', { site }), text, [link]));
  return true;
}

/** Tells the owner of an address that has an account already that someone signed up with
 *  it: the sign-up page itself said nothing of it. */
export async function sendAccountExists(env: Env, t: T, email: string): Promise<void> {
  const mail = mailerOf(env);
  if (!mail) return;
  const [login, forgot] = [siteUrl(env, '/login'), siteUrl(env, '/forgot')];
  const site = config(env).SITE_NAME;
  await mail(message(email, t('mail.exists.subject', { site }), t('mail.exists.body', { site, login, forgot }), [login, forgot]));
}

const siteUrl = (env: Env, path: string) => `${config(env).PUBLIC_URL.replace(/\/$/, '')}${path}`;

/** The text, and the same as HTML with its paragraphs kept and its links made links. */
function message(to: string, subject: string, text: string, links: string[]): Mail {
  const linked = (p: string) => links.reduce((html, l) => html.replace(escape(l), `<a href="${escape(l)}">${escape(l)}</a>`), escape(p));
  return { to, subject, text, html: text.split('\n\n').map((p) => `<p>${linked(p).replace(/\n/g, '<br>')}</p>`).join('') };
}

/** Verifies the address a link went to, granting the trial credit the first time. Null: the link is no good. */
export async function useVerifyLink(env: Env, token: string): Promise<{ accountId: string; credited: boolean } | null> {
  const link = await claimLink(env.DB, await hashOf(token), 'verify');
  if (!link) return null;
  const { credited } = await verifyAddress(env.DB, link.account_id, link.email, config(env).SIGNUP_CREDIT);
  return { accountId: link.account_id, credited };
}

export const resetLinkUsable = async (env: Env, token: string) => linkUsable(env.DB, await hashOf(token), 'reset');

/**
 * Sets a new password with a reset link: every session of the account ends, an audit row
 * says so, and the address (which the link reached) counts as verified. False: the link is
 * no good.
 */
export async function useResetLink(env: Env, token: string, password: string): Promise<boolean> {
  const link = await claimLink(env.DB, await hashOf(token), 'reset');
  if (!link) return false;
  await updateAccount(env.DB, link.account_id, { passwordHash: await hashPassword(password) });
  await deleteAccountSessions(env.DB, link.account_id);
  await verifyAddress(env.DB, link.account_id, link.email, config(env).SIGNUP_CREDIT);
  await recordAudit(env.DB, { actor: 'customer', action: 'account.password_reset', target: link.account_id, detail: { by: 'email link' } });
  return true;
}
