import type { ModelRow } from '../db/catalog';
import type { Principal } from '../db/keys';
import { now } from '../db/ids';
import { usageStatement, type UsageStatus } from '../db/usage';
import { costMicros, type TokenCounts } from '../money';
import { estimatedCounts } from '../proxy/estimate';

/** Everything known about a request before it goes upstream, needed to settle it. */
export interface RequestContext {
  requestId: string;
  principal: Principal;
  model: ModelRow;
  startedAt: number;
  /** Gateway-side estimate of the prompt, used only when the upstream reports no usage. */
  promptEstimate: number;
}

export interface Ending {
  status: UsageStatus;
  channel: string | null;
  /** Usage the upstream reported, if any. */
  usage: TokenCounts | null;
  /** Output the gateway counted itself; null when nothing was generated. */
  estimatedOutput: number | null;
  firstByteMs: number | null;
}

/**
 * Settles a request once its response has ended: the tokens (reported, else estimated
 * and flagged), the cost from the model's prices, one usage row. A request that produced
 * nothing costs nothing. Runs inside ctx.waitUntil, never on the client's time.
 */
export async function settle(db: D1Database, r: RequestContext, e: Ending): Promise<void> {
  const counted = e.usage === null && e.estimatedOutput !== null;
  const tokens = e.usage ?? (counted ? estimatedCounts(r.promptEstimate, e.estimatedOutput ?? 0) : estimatedCounts(0, 0));
  const cost = costMicros(r.model, tokens);
  await usageStatement(db, {
    request_id: r.requestId,
    account_id: r.principal.accountId,
    key_id: r.principal.keyId,
    key_name: r.principal.keyName,
    model: r.model.id,
    channel: e.channel,
    ...tokens,
    cost,
    status: e.status,
    latency_ms: Date.now() - r.startedAt,
    first_byte_ms: e.firstByteMs,
    estimated: counted,
    created_at: now(),
  }).run();
}
