import type { ModelRow } from '../db/catalog';
import type { Principal } from '../db/keys';
import { now } from '../db/ids';
import type { Receipt } from '../account/object';
import type { UsageStatus } from '../account/storage';
import { costMicros, type TokenCounts } from '../money';
import { estimatedCounts } from '../proxy/estimate';
import { tokenPriced, type Measured, type Unit } from './units';

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
  /** Whether `usage` is final: a whole answer's, or the event a provider documents as a
   *  stream's last word on it (chat's usage chunk, Anthropic's message_delta, Responses'
   *  response.completed, Gemini's last chunk). An early report (Anthropic's message_start,
   *  with its placeholder output_tokens: 1) is not. */
  usageFinal: boolean;
  /** Output the gateway counted itself (the text relayed); null when nothing was generated. */
  estimatedOutput: number | null;
  firstByteMs: number | null;
  /** A Responses API answer the provider stored (store: true): its id and its output items'. */
  stored?: { responseId: string; itemIds: string[] } | null;
  /** An image, audio or moderation request measured in its own unit (billing/units.ts). */
  measured?: Measured | null;
}

type Billable = Pick<Ending, 'usage' | 'usageFinal' | 'estimatedOutput' | 'measured'>;

/**
 * The tokens to bill for an ending: the final usage where the upstream reported it; else
 * (a stream cut before its usage event, an upstream that reports none) the gateway's
 * count, flagged — the prompt estimate and the output actually relayed, each raised to
 * what an early report already said, so never below what the relayed text proves.
 */
function billedTokens(r: RequestContext, e: Billable): { tokens: TokenCounts; estimated: boolean } {
  if (e.usage && e.usageFinal) return { tokens: e.usage, estimated: false };
  if (!e.usage && e.estimatedOutput === null) return { tokens: estimatedCounts(0, 0), estimated: false };
  const early = e.usage ?? estimatedCounts(0, 0);
  return {
    tokens: {
      input_tokens: Math.max(early.input_tokens, r.promptEstimate),
      output_tokens: Math.max(early.output_tokens, e.estimatedOutput ?? 0),
      cached_tokens: early.cached_tokens,
      cache_write_tokens: early.cache_write_tokens ?? 0,
    },
    estimated: true,
  };
}

export interface Charge {
  tokens: TokenCounts;
  estimated: boolean;
  unit: Unit;
  /** How many of `unit`, where it is not tokens. */
  quantity: number | null;
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
export function charge(r: RequestContext, e: Billable): Charge {
  const { tokens, estimated } = billedTokens(r, e);
  // A request measured in its own unit is priced in it, unless its answer reported final
  // token usage that the model has prices for: the tokens win.
  const units = e.measured && !(e.usage && e.usageFinal && tokenPriced(r.model)) ? e.measured : null;
  const reportedCost = units ? units.micros : costMicros(r.model, tokens);
  return {
    tokens, estimated, unit: units?.unit ?? 'tokens', quantity: units?.quantity ?? null,
    reportedCost, cost: Math.min(reportedCost, r.held), capped: reportedCost > r.held,
  };
}

/**
 * How a request ended, as its account's object records it (AccountState.settle): the
 * charge (from the model's prices, capped at the hold; nothing when nothing was produced),
 * the tokens that correct the key's token window, and what the usage row shows.
 */
export function receipt(r: RequestContext, e: Ending): Receipt {
  const c = charge(r, e);
  if (c.capped) {
    // The provider's own report says the request cost more than it was held for: the
    // operator pays the difference, so this is an alert, not a note (README, "Money").
    console.error(JSON.stringify({
      alert: 'charge_capped_at_hold', request_id: r.requestId, account_id: r.principal.accountId, model: r.model.id, channel: e.channel,
      reported_cost: c.reportedCost, held: r.held, uncharged: c.reportedCost - r.held, tokens: c.tokens, estimated: c.estimated,
    }));
  }
  const stored = e.stored
    ? [{ id: e.stored.responseId, tokens: c.tokens.input_tokens + c.tokens.output_tokens }, ...e.stored.itemIds.map((id) => ({ id, tokens: c.tokens.output_tokens }))]
    : undefined;
  return {
    channel: e.channel,
    ...c.tokens,
    cache_write_tokens: c.tokens.cache_write_tokens ?? 0,
    cost: c.cost,
    reported_cost: c.reportedCost,
    capped: c.capped,
    unit: c.unit,
    quantity: c.quantity,
    status: e.status,
    latency_ms: Date.now() - r.startedAt,
    first_byte_ms: e.firstByteMs,
    estimated: c.estimated,
    created_at: now(),
    tokens_used: c.tokens.input_tokens + c.tokens.output_tokens,
    ...(stored ? { stored } : {}),
  };
}
