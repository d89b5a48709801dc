import { Hono } from 'hono';
import { z } from 'zod';
import { requireAdmin } from '../auth/admin';
import { issueKey, keyView, NewKeySchema, revokeKeyEverywhere } from '../auth/api-keys';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN } from '../auth/password';
import { createCodes } from '../billing/redeem';
import { codeState, disableCode, listCodes } from '../db/redemption';
import { secret, secretNameProblem } from '../config';
import type { AppEnv } from '../context';
import { baseUrlProblem } from '../proxy/base-url';
import { accountState, withReserveReleased } from '../account/client';
import { concurrency, modelId, perMinute } from '../auth/api-keys';
import { forgetAccountKeys, forgetCatalog } from '../auth/customer';
import { createAccount, getAccount, recentlyActiveAccounts, searchAccounts, suspendedStatement, updateAccount, type AccountRow } from '../db/accounts';
import { listChannels, upsertChannel, upsertModel } from '../db/catalog';
import { channelHealth } from '../health/object';
import { parseJsonColumn } from '../db/ids';
import { listKeys } from '../db/keys';
import { applyLedgerEntry, listLedger } from '../db/ledger';
import { ApiError } from '../errors';
import { dollars, MAX_PRICE_DOLLARS, toDollars } from '../money';
import { readJson, parse } from '../validate';
import { usageView } from './usage';

/** The operator's API, behind ADMIN_TOKEN. Amounts are dollars, prices USD per 1M tokens. */
export const admin = new Hono<AppEnv>();
admin.use('*', requireAdmin);

const name = z.string().trim().min(1).max(200);
const group = z.string().trim().min(1).max(64).regex(/^[\w.-]+$/, 'must be letters, digits, _ . or -');
const price = dollars({ max: MAX_PRICE_DOLLARS });

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
  created_at: a.created_at,
});

async function accountOr404(db: D1Database, id: string): Promise<AccountRow> {
  const account = await getAccount(db, id);
  if (!account) throw new ApiError('not_found', `No account with id '${id}'.`);
  return account;
}

admin.post('/accounts', async (c) => {
  const body = await readJson(c, z.object({
    email: z.string().trim().email().max(254),
    name: name.nullish(),
    group: group.default('default'),
    credit: dollars({ max: 1_000_000 }).default(0),
    rpm: perMinute,
    tpm: perMinute,
    max_concurrency: concurrency,
  }));
  const account = await createAccount(c.env.DB, {
    email: body.email, name: body.name ?? null, group: body.group, credit: body.credit, creditKind: 'adjustment',
    rpm: body.rpm ?? null, tpm: body.tpm ?? null, max_concurrency: body.max_concurrency ?? null,
  });
  if (!account) throw new ApiError('email_taken', 'An account with this email already exists.', { param: 'email' });
  return c.json(accountView(account, account.balance), 201);
});

admin.get('/accounts', async (c) => {
  const query = parse(z.object({
    email: z.string().trim().min(1).max(254),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  }), c.req.query());
  const accounts = await searchAccounts(c.env.DB, query.email, query.limit);
  return c.json({ data: await Promise.all(accounts.map(async (a) => accountView(a, await accountState(c.env, a.id).balance(a.id)))) });
});

admin.patch('/accounts/:id', async (c) => {
  const id = c.req.param('id');
  const body = await readJson(c, z.object({
    name: name.nullish(),
    group,
    suspended: z.boolean(),
    password: z.string().min(PASSWORD_MIN).max(PASSWORD_MAX),
  }).partial().refine((b) => Object.keys(b).length > 0, 'must change at least one of name, group, suspended, password'));
  const account = await updateAccount(c.env.DB, id, {
    name: body.name, group: body.group, suspended: body.suspended,
    passwordHash: body.password === undefined ? undefined : await hashPassword(body.password),
  });
  if (!account) throw new ApiError('not_found', `No account with id '${id}'.`);
  if (body.suspended !== undefined) {
    // Suspended from the next request on (a dispute may keep it suspended after a resume).
    const still = await suspendedStatement(c.env.DB, id).first();
    await accountState(c.env, id).setSuspended(id, still !== null);
  }
  // Isolates read the group (which models) and suspension with the key: forget what they hold.
  if (body.group !== undefined || body.suspended !== undefined) forgetAccountKeys(id);
  return c.json(accountView(account, await accountState(c.env, id).balance(id)));
});

admin.get('/accounts/:id', async (c) => {
  const account = await accountOr404(c.env.DB, c.req.param('id'));
  return c.json(accountView(account, await accountState(c.env, account.id).balance(account.id)));
});

admin.post('/accounts/:id/credit', async (c) => {
  const id = c.req.param('id');
  const body = await readJson(c, z.object({
    amount: dollars({ allowNegative: true, min: -1_000_000, max: 1_000_000 }).refine((m) => m !== 0, 'must not be zero'),
    reason: z.string().trim().min(1).max(500),
  }));
  await accountOr404(c.env.DB, id);
  const entry = () => applyLedgerEntry(c.env.DB, { accountId: id, kind: 'adjustment', amount: body.amount, reason: body.reason });
  // A debit may take only credit that no request in flight is holding.
  const applied = body.amount < 0 ? await withReserveReleased(c.env, id, entry) : await entry();
  if (applied === null) throw new ApiError('adjustment_below_zero', 'The adjustment would take the balance below zero.', { param: 'amount' });
  return c.json({ balance: toDollars(await accountState(c.env, id).balance(id)) });
});

admin.get('/accounts/:id/ledger', async (c) => {
  const id = c.req.param('id');
  await accountOr404(c.env.DB, id);
  // Charges still waiting in the account's object are flushed first, so the ledger is whole.
  await accountState(c.env, id).flushNow(id);
  const rows = await listLedger(c.env.DB, id);
  return c.json({
    data: rows.map((r) => ({ ...r, amount: toDollars(r.amount), balance_after: toDollars(r.balance_after) })),
  });
});

admin.post('/accounts/:id/keys', async (c) => {
  const id = c.req.param('id');
  const body = await readJson(c, NewKeySchema);
  await accountOr404(c.env.DB, id);
  const { key, row } = await issueKey(c.env.DB, id, body);
  const { revoked_at: _revoked, ...view } = keyView(row);
  return c.json({ ...view, key /* shown this once; only its hash is stored */ }, 201);
});

admin.get('/accounts/:id/keys', async (c) => {
  const id = c.req.param('id');
  await accountOr404(c.env.DB, id);
  return c.json({ data: (await listKeys(c.env.DB, id)).map(keyView) });
});

admin.delete('/keys/:id', async (c) => {
  const id = c.req.param('id');
  if (!(await revokeKeyEverywhere(c.env, id))) throw new ApiError('not_found', `No active key with id '${id}'.`);
  return c.body(null, 204);
});

admin.post('/redemption-codes', async (c) => {
  const body = await readJson(c, z.object({
    count: z.number().int().min(1).max(1000),
    amount: dollars({ max: 1_000_000 }).refine((m) => m > 0, 'must be more than zero'),
    expires_at: z.iso.datetime({ offset: true }).nullish(),
    note: z.string().trim().max(500).nullish(),
  }));
  const expiresAt = body.expires_at ? new Date(body.expires_at).toISOString() : null;
  const codes = await createCodes(c.env.DB, { count: body.count, amount: body.amount, expiresAt, note: body.note ?? null });
  return c.json({
    // The codes are shown this once; only their hashes are stored.
    data: codes.map((k) => ({ id: k.id, code: k.code, amount: toDollars(body.amount), expires_at: expiresAt, note: body.note ?? null })),
  }, 201);
});

admin.get('/redemption-codes', async (c) => {
  const { limit } = parse(z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(1000) }), c.req.query());
  const at = new Date().toISOString();
  return c.json({
    data: (await listCodes(c.env.DB, limit)).map((r) => ({
      id: r.id, amount: toDollars(r.amount), state: codeState(r, at), note: r.note, expires_at: r.expires_at,
      redeemed_by: r.redeemed_by, redeemed_at: r.redeemed_at, disabled_at: r.disabled_at, created_at: r.created_at,
    })),
  });
});

admin.delete('/redemption-codes/:id', async (c) => {
  const id = c.req.param('id');
  if (!(await disableCode(c.env.DB, id))) throw new ApiError('not_found', `No unused code with id '${id}'.`);
  return c.body(null, 204);
});

admin.put('/models/:model{.+}', async (c) => {
  const id = parse(modelId, c.req.param('model'));
  const body = await readJson(c, z.object({
    input_price: price,
    output_price: price,
    cached_input_price: price.nullish(),
    cache_write_price: price.nullish(),
    max_output_tokens: z.number().int().positive().nullish(),
    owned_by: z.string().trim().min(1).max(100).default('tokengate'),
    groups: z.array(group).nullish(),
  }));
  await upsertModel(c.env.DB, {
    id,
    input_price: body.input_price,
    output_price: body.output_price,
    cached_input_price: body.cached_input_price ?? null,
    cache_write_price: body.cache_write_price ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    owned_by: body.owned_by,
    groups: body.groups ?? null,
  });
  forgetCatalog();
  return c.json({
    id,
    input_price: toDollars(body.input_price),
    output_price: toDollars(body.output_price),
    cached_input_price: body.cached_input_price == null ? null : toDollars(body.cached_input_price),
    cache_write_price: body.cache_write_price == null ? null : toDollars(body.cache_write_price),
    max_output_tokens: body.max_output_tokens ?? null,
    owned_by: body.owned_by,
    groups: body.groups ?? null,
  });
});

admin.put('/channels/:id', async (c) => {
  const id = parse(z.string().min(1).max(100).regex(/^[\w.-]+$/), c.req.param('id'));
  const body = await readJson(c, z.object({
    kind: z.enum(['openai', 'anthropic', 'gemini', 'echo']),
    base_url: z.string().max(2000),
    api_key_secret: z.string().max(200).superRefine((name, ctx) => {
      const problem = secretNameProblem(name);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    models: z.record(modelId, modelId).refine((m) => Object.keys(m).length > 0, 'must map at least one model'),
    priority: z.number().int().default(0),
    weight: z.number().int().min(0).max(1000).default(1),
    enabled: z.boolean().default(true),
    responses: z.boolean().default(true),
  }).superRefine((ch, ctx) => {
    // The built-in echo channel sends nothing anywhere; every other kind sends its key there.
    const problem = ch.kind === 'echo' ? null : baseUrlProblem(ch.base_url);
    if (problem) ctx.addIssue({ code: 'custom', path: ['base_url'], message: problem });
  }));
  await upsertChannel(c.env.DB, { id, ...body, enabled: body.enabled ? 1 : 0, responses: body.responses ? 1 : 0 });
  forgetCatalog();
  // Saved either way (secrets may be set after the channel), but the operator is told.
  const warnings = body.kind !== 'echo' && !secret(c.env, body.api_key_secret)
    ? [`The secret ${body.api_key_secret} is not set, so requests to this channel fail until it is: locally add it to .dev.vars and restart \`npm run dev\`; in production run \`wrangler secret put ${body.api_key_secret}\`.`]
    : [];
  return c.json({ id, ...body, warnings });
});

/** Every channel with its health as the isolates reported it: state, failures in a row, the
 *  end of its cool-down, and its last 15 minutes' success rate and latency. */
admin.get('/channels', async (c) => {
  const [channels, health] = await Promise.all([listChannels(c.env.DB), channelHealth(c.env).overview()]);
  return c.json({
    data: channels.map((ch) => {
      const h = health[ch.id];
      return {
        id: ch.id, kind: ch.kind, base_url: ch.base_url, api_key_secret: ch.api_key_secret, models: parseJsonColumn(ch.models),
        priority: ch.priority, weight: ch.weight, enabled: ch.enabled === 1, responses: ch.responses === 1, updated_at: ch.updated_at,
        health: {
          state: h?.state ?? 'healthy',
          consecutive_failures: h?.failures ?? 0,
          cool_down_until: h && h.coolUntil > Date.now() ? new Date(h.coolUntil).toISOString() : null,
          recent: h?.recent ?? { attempts: 0, success_rate: null, latency_ms: null },
        },
      };
    }),
  });
});

admin.get('/usage', async (c) => {
  const query = parse(z.object({
    account: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  }), c.req.query());
  // Usage rows live with their accounts; across accounts, the newest rows of those that
  // were active in the last two days (from the daily totals), merged.
  const accounts = query.account
    ? [(await accountOr404(c.env.DB, query.account)).id]
    : await recentlyActiveAccounts(c.env.DB, 2, ACROSS_ACCOUNTS_MAX);
  const perAccount = await Promise.all(
    accounts.map(async (id) => (await accountState(c.env, id).usage(id, query.limit)).map((r) => ({ account_id: id, ...usageView(r) }))),
  );
  const rows = perAccount.flat().sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, query.limit);
  return c.json({ data: rows });
});

/** How many accounts GET /admin/usage without `account` reads rows from. */
const ACROSS_ACCOUNTS_MAX = 50;
