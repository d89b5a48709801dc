import type { ModelRow } from '../db/catalog';
import type { Principal } from '../db/keys';
import { now } from '../db/ids';
import type { Receipt } from '../account/object';
import type { UsageStatus } from '../account/storage';
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
 * How a request ended, as its account's object records it (AccountState.settle): the
 * charge (from the model's prices, capped at the hold; nothing when nothing was produced),
 * the tokens that correct the key's token window, and what the usage row shows.
 */
export function receipt(r: RequestContext, e: Ending): Receipt {
  const c = charge(r, e);
  if (c.capped) {
    console.warn(JSON.stringify({ request_id: r.requestId, charge_capped_at_hold: { reported_cost: c.reportedCost, held: r.held, tokens: c.tokens } }));
  }
  return {
    channel: e.channel,
    ...c.tokens,
    cache_write_tokens: c.tokens.cache_write_tokens ?? 0,
    cost: c.cost,
    reported_cost: c.reportedCost,
    capped: c.capped,
    status: e.status,
    latency_ms: Date.now() - r.startedAt,
    first_byte_ms: e.firstByteMs,
    estimated: c.estimated,
    created_at: now(),
    tokens_used: c.tokens.input_tokens + c.tokens.output_tokens,
  };
}
