import { config, type Env } from '../config';

/**
 * Sending e-mail: one interface, chosen by settings (README, "Accounts"):
 * - Resend's HTTP API (RESEND_API_KEY, EMAIL_FROM): POST {EMAIL_API_BASE}/emails;
 * - Cloudflare's e-mail sending binding `EMAIL` (EMAIL_FROM), its structured send();
 * - `npm run dev` only (EMAIL_DEV_LOG=true): printed to the dev log, links and all.
 * None configured: nothing can be sent, and the caller says so.
 * A message's text (with its single-use link) never reaches a log line in production.
 */
export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export type Mailer = (mail: Mail) => Promise<void>;

interface EmailBinding {
  send(message: { from: string; to: string; subject: string; text: string; html: string }): Promise<unknown>;
}

export function mailerOf(env: Env): Mailer | null {
  const cfg = config(env);
  const from = cfg.EMAIL_FROM ?? `${cfg.SITE_NAME} <noreply@${new URL(cfg.PUBLIC_URL).hostname}>`;
  if (cfg.RESEND_API_KEY) {
    const key = cfg.RESEND_API_KEY;
    return async (mail) => {
      const res = await fetch(`${cfg.EMAIL_API_BASE.replace(/\/$/, '')}/emails`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ from, to: [mail.to], subject: mail.subject, text: mail.text, html: mail.html }),
        redirect: 'manual',
      });
      if (!res.ok) throw new Error(`e-mail provider answered HTTP ${res.status}`);
    };
  }
  const binding = env.EMAIL as EmailBinding | undefined;
  if (binding && typeof binding.send === 'function') {
    return async (mail) => void (await binding.send({ from, ...mail }));
  }
  if (cfg.EMAIL_DEV_LOG) {
    return async (mail) => console.log(`\n[e-mail to ${mail.to}] ${mail.subject}\n${mail.text}\n`);
  }
  return null;
}
