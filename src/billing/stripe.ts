import Stripe from 'stripe';
import { config, type Env } from '../config';
import { ApiError } from '../errors';

/**
 * Stripe's own SDK, on the Workers runtime: its fetch HTTP client, and SubtleCrypto for
 * webhook signatures. STRIPE_API_BASE points it elsewhere (tests use a local fake).
 */
export function stripe(env: Env): Stripe {
  const cfg = config(env);
  if (!cfg.STRIPE_SECRET_KEY) {
    throw new ApiError('billing_unavailable', 'Top-ups are not configured on this gateway.', { detail: 'STRIPE_SECRET_KEY is not set' });
  }
  const base = new URL(cfg.STRIPE_API_BASE);
  const protocol = base.protocol === 'http:' ? 'http' : 'https';
  return new Stripe(cfg.STRIPE_SECRET_KEY, {
    httpClient: Stripe.createFetchHttpClient(),
    host: base.hostname,
    port: base.port ? Number(base.port) : protocol === 'https' ? 443 : 80,
    protocol,
    maxNetworkRetries: 2,
  });
}

/** Stripe's signature tolerance: a delivery signed more than 5 minutes ago is refused. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * Verifies Stripe-Signature over the raw body (any v1 signature may match) and returns the
 * parsed payload, or null when the signature is missing, forged or stale (or the signed
 * body is not JSON). The payload is authentic but not yet shape-checked: that is
 * webhook.ts's first step.
 */
export async function verifyWebhook(
  env: Env, rawBody: string, signature: string | undefined, receivedAtMs?: number,
): Promise<{ payload: unknown } | null> {
  const secret = config(env).STRIPE_WEBHOOK_SECRET;
  if (!secret || !signature) return null;
  try {
    const payload: unknown = await webhooks().constructEventAsync(
      rawBody, signature, secret, WEBHOOK_TOLERANCE_SECONDS, Stripe.createSubtleCryptoProvider(), receivedAtMs,
    );
    return { payload };
  } catch {
    return null;
  }
}

// Webhook verification needs no API key. Made on first use, not at isolate start-up,
// which every chat request's isolate would otherwise pay for.
let verifier: Stripe['webhooks'] | undefined;
const webhooks = () =>
  (verifier ??= new Stripe('sk_unused_for_webhook_verification', { httpClient: Stripe.createFetchHttpClient() }).webhooks);
