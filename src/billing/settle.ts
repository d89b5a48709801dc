import type { ModelRow } from '../db/catalog';
import type { Principal } from '../db/keys';
import { now } from '../db/ids';
import { settlementStatements } from '../db/ledger';
import { usageStatement, type UsageStatus } from '../db/usage';
import { costMicros, type TokenCounts } from '../money';
import { estimatedCounts } from '../proxy/estimate';

/** Everything known about a request before it goes upstream, needed to settle it. */
export interface RequestContext {
  requestId: string;
  principal: Pick<Principal, 'accountId' | 'keyId' | 'keyName'>;
  model: ModelRow;
  startedAt: number;
  /** Gateway-side estimate of the prompt, used only when the upstream reports no usage. */
  promptEstimate: number;
  /** Micro-dollars held for this request. */
  held: number;
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

/** The tokens to bill for an ending: reported, else the gateway's count (flagged). */
function billedTokens(r: RequestContext, e: Pick<Ending, 'usage' | 'estimatedOutput'>): { tokens: TokenCounts; estimated: boolean } {
  if (e.usage) return { tokens: e.usage, estimated: false };
  if (e.estimatedOutput === null) return { tokens: estimatedCounts(0, 0), estimated: false };
  return { tokens: estimatedCounts(r.promptEstimate, e.estimatedOutput), estimated: true };
}

export interface Charge {
  tokens: TokenCounts;
  estimated: boolean;
  /** What the tokens cost at the model's prices, in µ$. */
  reportedCost: number;
  /** What is charged: the reported cost, never more than the hold. */
  cost: number;
  capped: boolean;
}

/**
 * What a request is charged. The hold is the worst case the 402 named, so no usage report,
 * however absurd (an upstream that ignored the output cap, a bug, a hostile endpoint), can
 * charge more: the difference is the operator's to take up with the upstream, and the
 * usage row keeps what was reported beside what was charged.
 */
export function charge(r: RequestContext, e: Pick<Ending, 'usage' | 'estimatedOutput'>): Charge {
  const { tokens, estimated } = billedTokens(r, e);
  const reportedCost = costMicros(r.model, tokens);
  return { tokens, estimated, reportedCost, cost: Math.min(reportedCost, r.held), capped: reportedCost > r.held };
}

/**
 * Settles a request once its response has ended, exactly once: release its hold, charge
 * the real cost (from the model's prices, capped at the hold; nothing when nothing was
 * produced) and write its usage row, in one D1 batch. Runs inside ctx.waitUntil, never on
 * the client's time. Returns the tokens billed, which correct the key's token rate window.
 */
export async function settle(db: D1Database, r: RequestContext, e: Ending): Promise<number> {
  const c = charge(r, e);
  if (c.capped) {
    console.warn(JSON.stringify({ request_id: r.requestId, charge_capped_at_hold: { reported_cost: c.reportedCost, held: r.held, tokens: c.tokens } }));
  }
  const receipt = usageStatement(db, {
    request_id: r.requestId,
    account_id: r.principal.accountId,
    key_id: r.principal.keyId,
    key_name: r.principal.keyName,
    model: r.model.id,
    channel: e.channel,
    ...c.tokens,
    cost: c.cost,
    reported_cost: c.reportedCost,
    capped: c.capped,
    status: e.status,
    latency_ms: Date.now() - r.startedAt,
    first_byte_ms: e.firstByteMs,
    estimated: c.estimated,
    created_at: now(),
  });
  await db.batch(
    settlementStatements(db, { requestId: r.requestId, accountId: r.principal.accountId, keyId: r.principal.keyId, held: r.held, cost: c.cost }, receipt),
  );
  return c.tokens.input_tokens + c.tokens.output_tokens;
}
