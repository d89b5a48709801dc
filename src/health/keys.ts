import { disableRefusedKey } from '../admin/provider-keys';
import type { Env } from '../config';
import type { Route, RouteKey } from '../db/catalog';
import type { KeyOutcome } from '../proxy/upstream';
import { record } from './view';

/** A call with a provider key: counted for the key's statistics, and a key the upstream
 *  refused disabled in D1 (with the reason, audited), off the request's path. */
export function keyOutcome(env: Env, background: (work: Promise<unknown>) => void, route: Route, key: RouteKey, outcome: KeyOutcome): void {
  const at = Date.now();
  const fault = outcome.ok ? null : outcome.fault;
  record(env, background, {
    channel: route.id, key: key.id, ok: outcome.ok, latencyMs: outcome.ok ? outcome.latencyMs : null, at,
    ...(outcome.ok ? {} : { error: outcome.error }), ...(fault && 'coolMs' in fault ? { coolUntil: at + fault.coolMs } : {}),
  });
  if (fault && 'disable' in fault) {
    background(disableRefusedKey(env, key, route.id, fault.disable)
      .catch((err) => console.error(JSON.stringify({ provider_key_disable_failed: key.id, error: String(err) }))));
  }
}
