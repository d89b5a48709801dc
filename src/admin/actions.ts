import { z } from 'zod';
import { accountState, withReserveReleased } from '../account/client';
import type { UsageRow, UsageStatus } from '../account/storage';
import { concurrency, issueKey, keyView, modelId, perMinute, revokeKeyEverywhere, type NewKey } from '../auth/api-keys';
import { forgetAccountKeys, forgetCatalog } from '../auth/customer';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN } from '../auth/password';
import { createCodes } from '../billing/redeem';
import { imagePriceKey } from '../billing/units';
import { config, secret, secretNameProblem, type Env } from '../config';
import {
  createAccount as insertAccount, getAccount, listAccounts, recentlyActiveAccounts, searchAccounts, suspendedStatement, updateAccount as patchAccount, verifyAddress,
  type AccountRow,
} from '../db/accounts';
import { listAudit, recordAudit } from '../db/audit';
import { CHANNEL_AUTHS, getChannel, listChannels, listModels, upsertChannel, upsertModel, type ChannelRow, type ModelRow } from '../db/catalog';
import { asRouteKey, channelKeys } from '../db/provider-keys';
import { parseJsonColumn } from '../db/ids';
import { listKeys } from '../db/keys';
import { hasSecondFactor, removeSecondFactor } from '../db/second-factors';
import { deleteAccountSessions } from '../db/sessions';
import { applyLedgerEntry, listLedger } from '../db/ledger';
import { codeState, disableCode as disableCodeRow, listCodes } from '../db/redemption';
import { ApiError } from '../errors';
import { sharedHealth } from '../health/view';
import { dollars, MAX_PRICE_DOLLARS, toDollars } from '../money';
import { baseUrlProblem } from '../proxy/base-url';
import { upstreamModels } from '../proxy/model-list';
import { probeChannel, type ProbeResult } from '../proxy/probe';
import { usageView } from '../routes/usage';

/**
 * What an operator can do, once: the admin API (routes/admin.ts) and the operator console
 * (routes/operator/) both call these, with the same schemas, so a form and a JSON body are
 * checked alike and have the same effect. Every change is written to the audit log with
 * who made it: `actor` is 'admin-api' or the console session's.
 */

export const API_ACTOR = 'admin-api';

const name = z.string().trim().min(1).max(200);
const group = z.string().trim().min(1).max(64).regex(/^[\w.-]+$/, 'must be letters, digits, _ . or -');
const price = dollars({ max: MAX_PRICE_DOLLARS });

export const NewAccountSchema = z.object({
  email: z.string().trim().email().max(254),
  name: name.nullish(),
  group: group.default('default'),
  credit: dollars({ max: 1_000_000 }).default(0),
  rpm: perMinute,
  tpm: perMinute,
  max_concurrency: concurrency,
});

export const AccountChangeSchema = z.object({
  name: name.nullish(),
  group,
  suspended: z.boolean(),
  password: z.string().min(PASSWORD_MIN).max(PASSWORD_MAX),
}).partial().refine((b) => Object.keys(b).length > 0, 'must change at least one of name, group, suspended, password');

export const CreditSchema = z.object({
  amount: dollars({ allowNegative: true, min: -1_000_000, max: 1_000_000 }).refine((m) => m !== 0, 'must not be zero'),
  reason: z.string().trim().min(1).max(500),
});

export const CodeBatchSchema = z.object({
  count: z.number().int().min(1).max(1000),
  amount: dollars({ max: 1_000_000 }).refine((m) => m > 0, 'must be more than zero'),
  expires_at: z.iso.datetime({ offset: true }).nullish(),
  note: z.string().trim().max(500).nullish(),
});

export const ModelSchema = z.object({
  input_price: price,
  output_price: price,
  cached_input_price: price.nullish(),
  cache_write_price: price.nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
  owned_by: z.string().trim().min(1).max(100).default('tokengate'),
  groups: z.array(group).nullish(),
  // Other units (billing/units.ts): $ per image by size and quality, per 1M input
  // characters, per minute of audio; $ per 1M image and audio tokens.
  image_prices: z.record(imagePriceKey, price).refine((p) => Object.keys(p).length <= 100, 'must have at most 100 sizes').nullish(),
  character_price: price.nullish(),
  audio_minute_price: price.nullish(),
  max_audio_seconds: z.number().int().positive().max(86_400).nullish(),
  image_input_price: price.nullish(),
  image_output_price: price.nullish(),
  audio_input_price: price.nullish(),
  audio_output_price: price.nullish(),
});

export const CHANNEL_KINDS = ['openai', 'anthropic', 'gemini', 'echo'] as const;
export const channelId = z.string().min(1).max(100).regex(/^[\w.-]+$/, 'must be letters, digits, _ . or -');

export const ChannelSchema = z.object({
  kind: z.enum(CHANNEL_KINDS),
  base_url: z.string().max(2000),
  // The Worker secret holding the key; empty when the channel uses only keys kept in D1
  // (POST /admin/channels/{id}/keys).
  api_key_secret: z.string().max(200).default('').superRefine((secretName, ctx) => {
    const problem = secretName === '' ? null : secretNameProblem(secretName);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  auth: z.enum(CHANNEL_AUTHS).nullish(),
  query: z.record(z.string().regex(/^[\w.-]{1,64}$/, 'must be a query parameter name'), z.string().max(200)).nullish(),
  models: z.record(modelId, modelId).refine((m) => Object.keys(m).length > 0, 'must map at least one model'),
  priority: z.number().int().default(0),
  weight: z.number().int().min(0).max(1000).default(1),
  enabled: z.boolean().default(true),
  responses: z.boolean().default(true),
}).superRefine((ch, ctx) => {
  // The built-in echo channel sends nothing anywhere; every other kind sends its key there.
  const problem = ch.kind === 'echo' ? null : baseUrlProblem(ch.base_url);
  if (problem) ctx.addIssue({ code: 'custom', path: ['base_url'], message: problem });
});

export const STATUSES = ['success', 'failed', 'cancelled', 'timeout'] as const satisfies readonly UsageStatus[];
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD').refine((d) => !Number.isNaN(Date.parse(d)), 'must be a date');

export const UsageQuerySchema = z.object({
  /** An account's id, or its email. */
  account: z.string().trim().min(1).max(254).optional(),
  key: z.string().min(1).max(100).optional(),
  model: z.string().min(1).max(200).optional(),
  channel: z.string().min(1).max(100).optional(),
  status: z.enum(STATUSES).optional(),
  from: day.optional(),
  to: day.optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});
export type UsageQuery = z.infer<typeof UsageQuerySchema>;

/** `balance` is what the account can spend now (its object's view: D1's balance less holds
 *  and charges not yet flushed), as GET /v1/billing/balance shows it. */
const accountView = (a: AccountRow, balance: number) => ({
  id: a.id,
  email: a.email,
  name: a.name,
  group: a.group_name,
  balance: toDollars(balance),
  suspended: a.suspended === 1,
  rpm: a.rpm,
  tpm: a.tpm,
  max_concurrency: a.max_concurrency,
  email_verified: a.email_verified_at !== null,
  created_at: a.created_at,
});
export type AccountView = ReturnType<typeof accountView>;

const withBalance = async (env: Env, a: AccountRow) => accountView(a, await accountState(env, a.id).balance(a.id));

async function accountOr404(env: Env, id: string): Promise<AccountRow> {
  const account = await getAccount(env.DB, id);
  if (!account) throw new ApiError('not_found', `No account with id '${id}'.`);
  return account;
}

/** An account by id, or by its email (exactly, in any case). */
async function accountNamed(env: Env, idOrEmail: string): Promise<AccountRow> {
  if (!idOrEmail.includes('@')) return accountOr404(env, idOrEmail);
  const [match] = (await searchAccounts(env.DB, idOrEmail, 1)).filter((a) => a.email.toLowerCase() === idOrEmail.toLowerCase());
  if (!match) throw new ApiError('not_found', `No account with email '${idOrEmail}'.`);
  return match;
}

const audit = (env: Env, actor: string, action: string, target: string, detail?: Record<string, unknown>) =>
  recordAudit(env.DB, { actor, action, target, detail });

export async function createAccount(env: Env, actor: string, body: z.infer<typeof NewAccountSchema>): Promise<AccountView> {
  const account = await insertAccount(env.DB, {
    email: body.email, name: body.name ?? null, group: body.group, credit: body.credit, creditKind: 'adjustment',
    rpm: body.rpm ?? null, tpm: body.tpm ?? null, max_concurrency: body.max_concurrency ?? null, verified: true,
  });
  if (!account) throw new ApiError('email_taken', 'An account with this email already exists.', { param: 'email' });
  await audit(env, actor, 'account.create', account.id, { email: account.email, group: account.group_name, credit: toDollars(body.credit) });
  return accountView(account, account.balance);
}

/** The operator vouches for the account's address: verified, and the trial credit granted
 *  if it never was (once per address, as a customer's own link would). */
export async function verifyEmail(env: Env, actor: string, id: string): Promise<AccountView> {
  const account = await accountOr404(env, id);
  const { credited } = await verifyAddress(env.DB, id, account.email, config(env).SIGNUP_CREDIT);
  await audit(env, actor, 'account.verify_email', id, { email: account.email, trial_credit: credited });
  return accountById(env, id);
}

/** Turns off the account's two-factor sign-in (a customer who lost both the authenticator
 *  and the recovery codes): its sessions end too, so whoever holds one signs in again. */
export async function resetTwoFactor(env: Env, actor: string, id: string): Promise<AccountView> {
  await accountOr404(env, id);
  if (!(await hasSecondFactor(env.DB, id))) throw new ApiError('invalid_request', 'This account has no two-factor sign-in.');
  await removeSecondFactor(env.DB, id);
  await deleteAccountSessions(env.DB, id);
  await audit(env, actor, 'account.two_factor_reset', id);
  return accountById(env, id);
}

/** Accounts whose email starts with `query` (or whose id it is); the newest without one. */
export async function findAccounts(env: Env, query: string | undefined, limit: number): Promise<AccountView[]> {
  const rows = query ? await searchAccounts(env.DB, query, limit) : await listAccounts(env.DB, limit);
  return Promise.all(rows.map((a) => withBalance(env, a)));
}

export const accountById = async (env: Env, id: string): Promise<AccountView> => withBalance(env, await accountOr404(env, id));

export async function changeAccount(env: Env, actor: string, id: string, body: z.infer<typeof AccountChangeSchema>): Promise<AccountView> {
  const account = await patchAccount(env.DB, id, {
    name: body.name, group: body.group, suspended: body.suspended,
    passwordHash: body.password === undefined ? undefined : await hashPassword(body.password),
  });
  if (!account) throw new ApiError('not_found', `No account with id '${id}'.`);
  if (body.suspended !== undefined) {
    // Suspended from the next request on (a dispute may keep it suspended after a resume).
    const still = await suspendedStatement(env.DB, id).first();
    await accountState(env, id).setSuspended(id, still !== null);
  }
  // A password set by the operator (a recovery, or a takeover stopped) and a suspension end
  // every console session the account had: whoever held one must sign in again.
  if (body.password !== undefined || body.suspended === true) await deleteAccountSessions(env.DB, id);
  // Isolates read the group (which models) and suspension with the key: forget what they hold.
  if (body.group !== undefined || body.suspended !== undefined) forgetAccountKeys(id);
  const { password, ...changed } = body;
  await audit(env, actor, 'account.update', id, { ...changed, ...(password === undefined ? {} : { password: 'set' }) });
  return withBalance(env, account);
}

export async function adjustCredit(env: Env, actor: string, id: string, body: z.infer<typeof CreditSchema>): Promise<{ balance: number }> {
  await accountOr404(env, id);
  const entry = () => applyLedgerEntry(env.DB, { accountId: id, kind: 'adjustment', amount: body.amount, reason: body.reason });
  // A debit may take only credit that no request in flight is holding.
  const applied = body.amount < 0 ? await withReserveReleased(env, id, entry) : await entry();
  if (applied === null) throw new ApiError('adjustment_below_zero', 'The adjustment would take the balance below zero.', { param: 'amount' });
  await audit(env, actor, 'account.credit', id, { amount: toDollars(body.amount), reason: body.reason });
  return { balance: toDollars(await accountState(env, id).balance(id)) };
}

export async function ledgerOf(env: Env, id: string, limit?: number) {
  await accountOr404(env, id);
  // Charges still waiting in the account's object are flushed first, so the ledger is whole.
  await accountState(env, id).flushNow(id);
  return (await listLedger(env.DB, id, limit)).map((r) => ({ ...r, amount: toDollars(r.amount), balance_after: toDollars(r.balance_after) }));
}

export async function createKey(env: Env, actor: string, accountId: string, body: NewKey) {
  await accountOr404(env, accountId);
  const { key, row } = await issueKey(env, accountId, body);
  await audit(env, actor, 'key.create', row.id, { account: accountId, name: row.name });
  const { revoked_at: _revoked, ...view } = keyView(row);
  return { ...view, key /* shown this once; only its hash is stored */ };
}

export async function keysOf(env: Env, accountId: string) {
  await accountOr404(env, accountId);
  return (await listKeys(env.DB, accountId)).map(keyView);
}

export async function revokeKey(env: Env, actor: string, keyId: string): Promise<void> {
  if (!(await revokeKeyEverywhere(env, keyId))) throw new ApiError('not_found', `No active key with id '${keyId}'.`);
  await audit(env, actor, 'key.revoke', keyId);
}

export async function createCodeBatch(env: Env, actor: string, body: z.infer<typeof CodeBatchSchema>) {
  const expiresAt = body.expires_at ? new Date(body.expires_at).toISOString() : null;
  const codes = await createCodes(env.DB, { count: body.count, amount: body.amount, expiresAt, note: body.note ?? null });
  await audit(env, actor, 'codes.create', codes[0]!.id, { count: body.count, amount: toDollars(body.amount), expires_at: expiresAt, note: body.note ?? null });
  // The codes are shown this once; only their hashes are stored.
  return codes.map((k) => ({ id: k.id, code: k.code, amount: toDollars(body.amount), expires_at: expiresAt, note: body.note ?? null }));
}

export async function codesList(env: Env, limit: number) {
  const at = new Date().toISOString();
  return (await listCodes(env.DB, limit)).map((r) => ({
    id: r.id, amount: toDollars(r.amount), state: codeState(r, at), note: r.note, expires_at: r.expires_at,
    redeemed_by: r.redeemed_by, redeemed_at: r.redeemed_at, disabled_at: r.disabled_at, created_at: r.created_at,
  }));
}

export async function disableCode(env: Env, actor: string, id: string): Promise<void> {
  if (!(await disableCodeRow(env.DB, id))) throw new ApiError('not_found', `No unused code with id '${id}'.`);
  await audit(env, actor, 'code.disable', id);
}

type ModelFields = Omit<ModelRow, 'created_at' | 'groups' | 'image_prices'> & { groups: string[] | null; image_prices: Record<string, number> | null };

const dollarsOrNull = (micros: number | null) => (micros === null ? null : toDollars(micros));

const modelView = (m: ModelFields) => ({
  id: m.id,
  input_price: toDollars(m.input_price),
  output_price: toDollars(m.output_price),
  cached_input_price: dollarsOrNull(m.cached_input_price),
  cache_write_price: dollarsOrNull(m.cache_write_price),
  max_output_tokens: m.max_output_tokens,
  owned_by: m.owned_by,
  groups: m.groups,
  image_prices: m.image_prices === null ? null : Object.fromEntries(Object.entries(m.image_prices).map(([k, v]) => [k, toDollars(v)])),
  character_price: dollarsOrNull(m.character_price),
  audio_minute_price: dollarsOrNull(m.audio_minute_price),
  max_audio_seconds: m.max_audio_seconds,
  image_input_price: dollarsOrNull(m.image_input_price),
  image_output_price: dollarsOrNull(m.image_output_price),
  audio_input_price: dollarsOrNull(m.audio_input_price),
  audio_output_price: dollarsOrNull(m.audio_output_price),
});

export async function putModel(env: Env, actor: string, id: string, body: z.infer<typeof ModelSchema>) {
  const model: ModelFields = {
    id,
    input_price: body.input_price,
    output_price: body.output_price,
    cached_input_price: body.cached_input_price ?? null,
    cache_write_price: body.cache_write_price ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    owned_by: body.owned_by,
    groups: body.groups ?? null,
    image_prices: body.image_prices && Object.keys(body.image_prices).length > 0 ? body.image_prices : null,
    character_price: body.character_price ?? null,
    audio_minute_price: body.audio_minute_price ?? null,
    max_audio_seconds: body.max_audio_seconds ?? null,
    image_input_price: body.image_input_price ?? null,
    image_output_price: body.image_output_price ?? null,
    audio_input_price: body.audio_input_price ?? null,
    audio_output_price: body.audio_output_price ?? null,
  };
  await upsertModel(env.DB, model);
  forgetCatalog();
  const view = modelView(model);
  await audit(env, actor, 'model.put', id, view);
  return view;
}

/** Every model with its prices and the channels that serve it (enabled or not). */
export async function modelsList(env: Env) {
  const [models, channels] = await Promise.all([listModels(env.DB), listChannels(env.DB)]);
  return models.map((m) => ({
    ...modelView({ ...m, groups: parseJsonColumn<string[]>(m.groups), image_prices: parseJsonColumn<Record<string, number>>(m.image_prices) }),
    channels: channels.filter((ch) => m.id in (parseJsonColumn<Record<string, string>>(ch.models) ?? {}))
      .map((ch) => ({ id: ch.id, enabled: ch.enabled === 1 })),
  }));
}

/** How soon every isolate uses a changed price or channel: this one at once, the others
 *  when their cached catalog expires. */
export const catalogPropagationSeconds = (env: Env) => config(env).CACHE_SECONDS;

export async function putChannel(env: Env, actor: string, id: string, body: z.infer<typeof ChannelSchema>) {
  await upsertChannel(env.DB, { id, ...body, auth: body.auth ?? null, query: body.query ?? null, enabled: body.enabled ? 1 : 0, responses: body.responses ? 1 : 0 });
  forgetCatalog();
  await audit(env, actor, 'channel.put', id, body);
  // Saved either way (a secret or keys may come after the channel), but the operator is told.
  const keys = body.kind === 'echo' ? [] : (await channelKeys(env.DB, id)).filter((k) => k.enabled === 1);
  const warnings = body.kind === 'echo' || keys.length > 0 ? []
    : body.api_key_secret === ''
      ? ['This channel has no key yet: add keys to it (Channels → Keys, or POST /admin/channels/{id}/keys), or name a Worker secret.']
      : !secret(env, body.api_key_secret)
        ? [`The secret ${body.api_key_secret} is not set, so requests to this channel fail until it is: locally add it to .dev.vars and restart \`npm run dev\`; in production run \`wrangler secret put ${body.api_key_secret}\`, or add keys to the channel instead.`]
        : [];
  return { id, ...body, warnings };
}

const channelView = (ch: ChannelRow) => ({
  id: ch.id, kind: ch.kind as (typeof CHANNEL_KINDS)[number], base_url: ch.base_url, api_key_secret: ch.api_key_secret,
  models: parseJsonColumn<Record<string, string>>(ch.models) ?? {}, priority: ch.priority, weight: ch.weight,
  enabled: ch.enabled === 1, responses: ch.responses === 1, auth: ch.auth, query: parseJsonColumn<Record<string, string>>(ch.query),
  updated_at: ch.updated_at,
});

/** Every channel with its health as the isolates reported it: state, failures in a row, the
 *  end of its cool-down, and its last 15 minutes' success rate and latency. */
export async function channelsList(env: Env) {
  const [channels, health] = await Promise.all([listChannels(env.DB), sharedHealth(env).then((h) => h.overview())]);
  return channels.map((ch) => {
    const h = health[ch.id];
    return {
      ...channelView(ch),
      health: {
        state: h?.state ?? 'healthy',
        consecutive_failures: h?.failures ?? 0,
        cool_down_until: h && h.coolUntil > Date.now() ? new Date(h.coolUntil).toISOString() : null,
        recent: h?.recent ?? { attempts: 0, success_rate: null, latency_ms: null },
      },
    };
  });
}

export type ChannelView = ReturnType<typeof channelView>;

export async function channelById(env: Env, id: string): Promise<ChannelView> {
  const channel = await getChannel(env.DB, id);
  if (!channel) throw new ApiError('not_found', `No channel with id '${id}'.`);
  return channelView(channel);
}

/** The channel's "Test": one tiny request, recorded like every other operator action. */
export async function testChannel(env: Env, actor: string, id: string): Promise<ProbeResult> {
  const channel = await getChannel(env.DB, id);
  if (!channel) throw new ApiError('not_found', `No channel with id '${id}'.`);
  const keys = (await channelKeys(env.DB, id)).filter((k) => k.enabled === 1).map(asRouteKey);
  const result = await probeChannel(env, channel, keys);
  await audit(env, actor, 'channel.test', id, { ok: result.ok, status: result.status, latency_ms: result.latency_ms });
  return result;
}

/** What the channel's upstream offers (its model list, asked with one of its keys), for
 *  the operator to pick public ids from. */
export async function discoverModels(env: Env, id: string): Promise<string[]> {
  const channel = await getChannel(env.DB, id);
  if (!channel) throw new ApiError('not_found', `No channel with id '${id}'.`);
  const keys = (await channelKeys(env.DB, id)).filter((k) => k.enabled === 1).map(asRouteKey);
  return upstreamModels(env, { ...channel, upstream_model: '', query: parseJsonColumn<Record<string, string>>(channel.query), keys });
}

/** How many accounts a usage query without `account` reads rows from. */
export const ACROSS_ACCOUNTS_MAX = 50;

/** How many rows a merge across accounts asks an account for at a time. */
const MERGE_PAGE = 500;

/**
 * Usage rows across accounts, newest first. Rows live with their accounts; without an
 * account, the rows of those active in the period (from the daily totals, the most active
 * ACROSS_ACCOUNTS_MAX of them; the last two days when no period is given) are merged. The
 * merge asks an account for its next page only once its rows so far are used up, so it
 * holds at most a page per account, not `limit` rows from each.
 */
export async function usageAcross(
  env: Env, q: UsageQuery, mergePage = MERGE_PAGE,
): Promise<Array<ReturnType<typeof usageView> & { account_id: string; key_id: string }>> {
  const nextDay = (d: string) => new Date(Date.parse(d) + 86_400_000).toISOString();
  const from = q.from ? new Date(Date.parse(q.from)).toISOString() : null;
  const to = q.to ? nextDay(q.to) : null;
  const days = from ? Math.ceil((Date.now() - Date.parse(from)) / 86_400_000) + 1 : 2;
  const accounts = q.account ? [(await accountNamed(env, q.account)).id] : await recentlyActiveAccounts(env.DB, days, ACROSS_ACCOUNTS_MAX);
  const filter = { keyId: q.key ?? null, model: q.model ?? null, channel: q.channel ?? null, status: q.status ?? null, from, to };
  const limit = accounts.length === 1 ? q.limit : Math.min(q.limit, mergePage);
  const sources = accounts.map((id) => ({ id, rows: [] as UsageRow[], at: 0, next: null as number | null, more: true }));
  const fill = async (s: (typeof sources)[number]) => {
    const page = await accountState(env, s.id).findUsage(s.id, { ...filter, limit, before: s.next });
    Object.assign(s, { rows: page.rows, at: 0, next: page.next, more: page.next !== null });
  };
  await Promise.all(sources.map(fill));
  const merged = [];
  while (merged.length < q.limit) {
    let newest: (typeof sources)[number] | undefined;
    for (const s of sources) if (s.at < s.rows.length && (!newest || s.rows[s.at]!.created_at > newest.rows[newest.at]!.created_at)) newest = s;
    if (!newest) break;
    const r = newest.rows[newest.at++]!;
    merged.push({ account_id: newest.id, key_id: r.key_id, ...usageView(r) });
    if (newest.at === newest.rows.length && newest.more) await fill(newest);
  }
  return merged;
}

export const auditLog = async (env: Env, limit: number) =>
  (await listAudit(env.DB, limit)).map((r) => ({ ...r, detail: parseJsonColumn<Record<string, unknown>>(r.detail) }));
