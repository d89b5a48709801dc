import { z } from 'zod';
import { config, type Env } from '../config';

const Answer = z.object({ success: z.boolean() });

/** Whether sign-up may go on: always when Turnstile is not configured; otherwise only when
 *  Cloudflare's siteverify (TURNSTILE_VERIFY_URL) accepts the form's token. */
export async function turnstilePasses(env: Env, token: string | undefined, ip: string | undefined): Promise<boolean> {
  const cfg = config(env);
  if (!cfg.TURNSTILE_SECRET_KEY) return true;
  if (!token) return false;
  const form = new FormData();
  form.set('secret', cfg.TURNSTILE_SECRET_KEY);
  form.set('response', token);
  if (ip) form.set('remoteip', ip);
  try {
    const res = await fetch(cfg.TURNSTILE_VERIFY_URL, { method: 'POST', body: form });
    const parsed = Answer.safeParse(await res.json());
    return parsed.success && parsed.data.success;
  } catch {
    return false;
  }
}
