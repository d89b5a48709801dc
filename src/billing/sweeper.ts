import { config, type Env } from '../config';
import { getModel } from '../db/catalog';
import { listStaleHolds } from '../db/holds';
import { settle } from './settle';

/**
 * The cron sweeper. A hold is settled by its request's isolate when the response ends;
 * if that isolate died first (or D1 failed at that moment), the hold would stay open.
 * Rule: a hold older than HOLD_TIMEOUT_MINUTES is settled as a `failed` request that
 * produced nothing: the hold is released in full and nothing is charged — nobody can
 * say what was used, and the customer is not billed for what cannot be shown. The
 * settlement is the same exactly-once batch as a normal one, so a late real settlement
 * and the sweeper cannot both apply.
 */
export async function sweepHolds(env: Env, nowMs = Date.now()): Promise<number> {
  const cutoff = new Date(nowMs - config(env).HOLD_TIMEOUT_MINUTES * 60_000).toISOString();
  const stale = await listStaleHolds(env.DB, cutoff);
  for (const h of stale) {
    const model = await getModel(env.DB, h.model);
    if (!model) continue;
    const principal = { accountId: h.account_id, keyId: h.key_id, keyName: h.key_name };
    await settle(env.DB, {
      requestId: h.request_id, principal, model, startedAt: Date.parse(h.created_at), promptEstimate: 0, held: h.amount,
    }, { status: 'failed', channel: null, usage: null, estimatedOutput: null, firstByteMs: null });
  }
  return stale.length;
}
