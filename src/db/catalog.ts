import type { Sealed } from '../auth/vault';
import { now, parseJsonColumn } from './ids';
import { enabledKeysStatement } from './provider-keys';

/** Models (what is sold, at what price) and channels (where it is bought). */

export interface ModelRow {
  id: string;
  input_price: number;
  output_price: number;
  cached_input_price: number | null;
  cache_write_price: number | null;
  max_output_tokens: number | null;
  owned_by: string;
  groups: string | null;
  created_at: string;
  /** Prices in other units (billing/units.ts; migration 0004), all µ$; null: not sold so. */
  image_prices: string | null;
  character_price: number | null;
  audio_minute_price: number | null;
  max_audio_seconds: number | null;
  image_input_price: number | null;
  image_output_price: number | null;
  audio_input_price: number | null;
  audio_output_price: number | null;
}

/** The price columns that are not tokens' own, as the admin API sets them. */
export const UNIT_PRICE_COLUMNS = [
  'character_price', 'audio_minute_price', 'max_audio_seconds', 'image_input_price', 'image_output_price', 'audio_input_price', 'audio_output_price',
] as const;

export interface ChannelRow {
  id: string;
  kind: string;
  base_url: string;
  api_key_secret: string;
  models: string;
  priority: number;
  weight: number;
  enabled: number;
  /** 1: an `openai` channel whose upstream has the Responses API. */
  responses: number;
  updated_at: string;
  /** How the key is sent (null: the kind's own way). */
  auth: ChannelAuth | null;
  /** Fixed query parameters, JSON; null: none. */
  query: string | null;
}

export const CHANNEL_AUTHS = ['bearer', 'api-key', 'x-api-key', 'x-goog-api-key'] as const;
export type ChannelAuth = (typeof CHANNEL_AUTHS)[number];

/** A provider key of a channel, sealed, as the catalog carries it (opened only to be sent). */
export interface RouteKey extends Sealed {
  id: string;
  last4: string;
  weight: number;
}

/** A channel able to serve one particular model, with that model's upstream id. */
export interface Route {
  id: string;
  kind: string;
  base_url: string;
  api_key_secret: string;
  upstream_model: string;
  priority: number;
  weight: number;
  responses: number;
  auth: ChannelAuth | null;
  query: Record<string, string> | null;
  /** The channel's enabled provider keys; none: it uses the Worker secret it names. */
  keys: RouteKey[];
}

export async function upsertModel(
  db: D1Database, m: Omit<ModelRow, 'created_at' | 'groups' | 'image_prices'> & { groups: string[] | null; image_prices: Record<string, number> | null },
) {
  await db
    .prepare(
      `INSERT INTO models (id, input_price, output_price, cached_input_price, cache_write_price, max_output_tokens, owned_by, groups, created_at,
         image_prices, ${UNIT_PRICE_COLUMNS.join(', ')})
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ${UNIT_PRICE_COLUMNS.map(() => '?').join(', ')})
       ON CONFLICT (id) DO UPDATE SET input_price = excluded.input_price, output_price = excluded.output_price,
         cached_input_price = excluded.cached_input_price, cache_write_price = excluded.cache_write_price, max_output_tokens = excluded.max_output_tokens,
         owned_by = excluded.owned_by, groups = excluded.groups, image_prices = excluded.image_prices,
         ${UNIT_PRICE_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    )
    .bind(m.id, m.input_price, m.output_price, m.cached_input_price, m.cache_write_price, m.max_output_tokens, m.owned_by,
      m.groups === null ? null : JSON.stringify(m.groups), now(), m.image_prices === null ? null : JSON.stringify(m.image_prices),
      ...UNIT_PRICE_COLUMNS.map((c) => m[c]))
    .run();
}

/** Statements for a batch: every model, every enabled channel with each model it serves,
 *  and the channels' enabled provider keys. */
export function catalogStatements(db: D1Database): D1PreparedStatement[] {
  return [
    db.prepare('SELECT * FROM models'),
    db.prepare(
      `SELECT c.id, c.kind, c.base_url, c.api_key_secret, m.key AS model, m.value AS upstream_model, c.priority, c.weight, c.responses,
              c.auth, c.query
       FROM channels c, json_each(c.models) m WHERE c.enabled = 1`,
    ),
    enabledKeysStatement(db),
  ];
}

/** Everything sold and where it is bought, by public model id. */
export interface Catalog {
  models: Map<string, ModelRow>;
  routes: Map<string, Route[]>;
}

/** Reads catalogStatements' results. */
export function toCatalog([models, routes, keys]: Array<D1Result | undefined>): Catalog {
  const catalog: Catalog = { models: new Map(), routes: new Map() };
  for (const m of (models?.results ?? []) as ModelRow[]) catalog.models.set(m.id, m);
  const keysOf = new Map<string, RouteKey[]>();
  for (const { channel_id, ...key } of (keys?.results ?? []) as Array<RouteKey & { channel_id: string }>) {
    keysOf.set(channel_id, [...(keysOf.get(channel_id) ?? []), key]);
  }
  type Row = Omit<Route, 'query' | 'keys'> & { model: string; query: string | null };
  for (const { model, query, ...route } of (routes?.results ?? []) as Row[]) {
    const full: Route = { ...route, query: parseJsonColumn<Record<string, string>>(query), keys: keysOf.get(route.id) ?? [] };
    catalog.routes.set(model, [...(catalog.routes.get(model) ?? []), full]);
  }
  return catalog;
}

export async function upsertChannel(
  db: D1Database, c: Omit<ChannelRow, 'updated_at' | 'models' | 'query'> & { models: Record<string, string>; query: Record<string, string> | null },
) {
  await db
    .prepare(
      `INSERT INTO channels (id, kind, base_url, api_key_secret, models, priority, weight, enabled, responses, auth, query, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url,
         api_key_secret = excluded.api_key_secret, models = excluded.models, priority = excluded.priority,
         weight = excluded.weight, enabled = excluded.enabled, responses = excluded.responses, auth = excluded.auth, query = excluded.query,
         updated_at = excluded.updated_at`,
    )
    .bind(c.id, c.kind, c.base_url, c.api_key_secret, JSON.stringify(c.models), c.priority, c.weight, c.enabled, c.responses, c.auth,
      c.query === null ? null : JSON.stringify(c.query), now())
    .run();
}

/** Whether a principal of this group, with this key allowlist, may use the model. */
export function modelAllowed(model: ModelRow, group: string, keyModels: string[] | null): boolean {
  const groups = parseJsonColumn<string[]>(model.groups);
  return (groups === null || groups.includes(group)) && (keyModels === null || keyModels.includes(model.id));
}

/** The price list a group sees: models it may use that an enabled channel serves, by id. */
export async function priceList(db: D1Database, group: string): Promise<ModelRow[]> {
  const { results } = await db
    .prepare(
      `SELECT * FROM models m WHERE EXISTS (SELECT 1 FROM channels c, json_each(c.models) j WHERE c.enabled = 1 AND j.key = m.id)
       ORDER BY m.id`,
    )
    .all<ModelRow>();
  return results.filter((m) => modelAllowed(m, group, null));
}

/** Every model, for the operator. */
export async function listModels(db: D1Database): Promise<ModelRow[]> {
  return (await db.prepare('SELECT * FROM models ORDER BY id').all<ModelRow>()).results;
}

export function getChannel(db: D1Database, id: string): Promise<ChannelRow | null> {
  return db.prepare('SELECT * FROM channels WHERE id = ?').bind(id).first<ChannelRow>();
}

/** Every channel, enabled or not, for the operator. */
export async function listChannels(db: D1Database): Promise<ChannelRow[]> {
  return (await db.prepare('SELECT * FROM channels ORDER BY id').all<ChannelRow>()).results;
}
