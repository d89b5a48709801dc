-- Tokengate's whole schema, for reading: what applying every file of migrations/ in
-- order gives (a test compares the two, table by table, column by column). It is applied
-- nowhere: databases get migrations/, through `wrangler d1 migrations apply`.
--
-- Money is INTEGER micro-dollars (1 USD = 1,000,000) everywhere; prices are integer
-- micro-dollars per 1M tokens. No REAL column holds money.
-- Times are ISO 8601 UTC strings with milliseconds, which sort as text.

-- accounts: one customer. balance = SUM(ledger.amount) for the account at every moment;
-- only src/db/ledger.ts changes it, always together with the ledger row, in one batch.
-- reserved: the part of the balance the account's Durable Object (src/account/object.ts)
-- may spend without asking D1; it never exceeds the balance, and only that object moves it
-- (with its flushes, which are numbered: flushed_seq is the last one applied, so a flush
-- retried after it was applied changes nothing).
CREATE TABLE IF NOT EXISTS accounts (
  id          TEXT PRIMARY KEY,                 -- 'acct_' + random
  email       TEXT NOT NULL UNIQUE COLLATE NOCASE,
  name        TEXT,
  group_name  TEXT NOT NULL DEFAULT 'default',  -- decides which models the account may use
  rpm              INTEGER,                     -- rate-limit defaults for the account's keys,
  tpm              INTEGER,                     -- a key may narrow them; NULL = unlimited
  max_concurrency  INTEGER,
  balance     INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
  reserved    INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= balance),
  flushed_seq INTEGER NOT NULL DEFAULT 0,
  -- console log-in (src/auth/password.ts): 'pbkdf2-sha256$<iterations>$<salt>$<hash>';
  -- NULL = no password yet (an account made by the admin API until one is set)
  password_hash TEXT,
  suspended   INTEGER NOT NULL DEFAULT 0,       -- set by the operator: API use answers 403
  created_at  TEXT NOT NULL,
  email_verified_at TEXT,                       -- NULL: the address is not verified yet (migration 0005)
  trial_credit_at   TEXT                        -- when SIGNUP_CREDIT was granted, once per verified address; NULL: not yet
);

-- api_keys: the secret is never stored; key_hash = hex(SHA-256(full key)).
-- prefix is the first characters of the key, for people to tell keys apart.
-- models: JSON array of allowed public model ids, NULL = every model the group may use.
-- spend_limit and spent are micro-dollars; NULL spend_limit = no per-key limit. spent is
-- what the key's flushed charges add up to (the account's object knows the rest).
CREATE TABLE IF NOT EXISTS api_keys (
  id           TEXT PRIMARY KEY,                -- 'key_' + random
  account_id   TEXT NOT NULL REFERENCES accounts(id),
  name         TEXT NOT NULL,
  key_hash     TEXT NOT NULL UNIQUE,
  prefix       TEXT NOT NULL,
  rpm              INTEGER,                     -- requests / tokens per minute, in-flight requests,
  tpm              INTEGER,                     -- NULL = the account's default (itself NULL =
  max_concurrency  INTEGER,                     -- unlimited)
  models       TEXT,
  expires_at   TEXT,
  spend_limit  INTEGER,
  spent        INTEGER NOT NULL DEFAULT 0,
  revoked_at   TEXT,
  created_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_keys_account ON api_keys(account_id);

-- models: what customers can call and what it costs. A model without a row is unknown (400).
-- groups: JSON array of account groups allowed to use the model, NULL = every group.
CREATE TABLE IF NOT EXISTS models (
  id                  TEXT PRIMARY KEY,         -- public model id, as customers send it
  input_price         INTEGER NOT NULL CHECK (input_price >= 0),
  output_price        INTEGER NOT NULL CHECK (output_price >= 0),
  cached_input_price  INTEGER CHECK (cached_input_price >= 0),
  cache_write_price   INTEGER CHECK (cache_write_price >= 0),  -- prompt tokens written to a provider's cache
  max_output_tokens   INTEGER,                  -- output cap when a request sets none
  owned_by            TEXT NOT NULL DEFAULT 'tokengate',
  groups              TEXT,
  created_at          TEXT NOT NULL,
  -- Prices in the units of the image, audio and moderation APIs (migration 0004; NULL: not
  -- sold in that unit). image_prices: JSON {"WxH/quality" | "WxH" | "*/quality" | "*": µ$ per image}.
  image_prices        TEXT,
  character_price     INTEGER CHECK (character_price >= 0),     -- µ$ per 1M input characters
  audio_minute_price  INTEGER CHECK (audio_minute_price >= 0),  -- µ$ per minute of audio
  max_audio_seconds   INTEGER CHECK (max_audio_seconds > 0),    -- longest audio the model takes
  image_input_price   INTEGER CHECK (image_input_price >= 0),   -- µ$ per 1M tokens of each modality
  image_output_price  INTEGER CHECK (image_output_price >= 0),
  audio_input_price   INTEGER CHECK (audio_input_price >= 0),
  audio_output_price  INTEGER CHECK (audio_output_price >= 0)
);

-- channels: upstreams. api_key_secret is the NAME of a Worker secret, never the key itself
-- ('' when the channel uses only keys kept in provider_keys).
-- models: JSON object {"public-id": "upstream-id"}.
CREATE TABLE IF NOT EXISTS channels (
  id              TEXT PRIMARY KEY,
  kind            TEXT NOT NULL,
  base_url        TEXT NOT NULL,
  api_key_secret  TEXT NOT NULL,
  models          TEXT NOT NULL,
  priority        INTEGER NOT NULL DEFAULT 0,
  weight          INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 0),
  enabled         INTEGER NOT NULL DEFAULT 1,
  -- kind 'openai': whether the upstream has OpenAI's Responses API (0: /v1/responses is
  -- translated onto its chat completions)
  responses       INTEGER NOT NULL DEFAULT 1,
  updated_at      TEXT NOT NULL,
  -- how the key is sent: NULL is the kind's own way (Bearer for openai, x-api-key for
  -- anthropic, x-goog-api-key for gemini); Azure OpenAI deployments take api-key
  auth            TEXT CHECK (auth IN ('bearer', 'api-key', 'x-api-key', 'x-goog-api-key')),
  query           TEXT                          -- fixed query parameters, JSON (Azure's api-version)
);

-- provider_keys: keys the operator pasted, sealed with AES-256-GCM under PROVIDER_KEYS_KEK
-- (src/auth/vault.ts): ciphertext, nonce, the sealing key's id and the last four
-- characters; nothing else of a key is ever stored. A channel with enabled keys spreads its
-- requests over them by weight; one without uses the Worker secret it names.
CREATE TABLE IF NOT EXISTS provider_keys (
  id              TEXT PRIMARY KEY,                -- 'pk_' + random
  channel_id      TEXT NOT NULL REFERENCES channels(id),
  ciphertext      TEXT NOT NULL,                   -- base64: the sealed key and its GCM tag
  nonce           TEXT NOT NULL,                   -- base64: 96 random bits, one per sealing
  kek_id          TEXT NOT NULL,                   -- which PROVIDER_KEYS_KEK entry sealed it
  last4           TEXT NOT NULL,
  weight          INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 1),
  enabled         INTEGER NOT NULL DEFAULT 1,
  disabled_reason TEXT,                            -- why it was taken out, by the gateway or an operator
  disabled_at     TEXT,
  created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS provider_keys_channel ON provider_keys(channel_id);

-- usage_daily: per account, key, model and UTC day, the totals of the requests its
-- account's object flushed (the per-request rows live in that object, see README "Scale").
-- Upserted by each flush, so it grows with accounts × keys × models × days, not requests.
CREATE TABLE IF NOT EXISTS usage_daily (
  day            TEXT NOT NULL,                 -- 'YYYY-MM-DD', UTC
  account_id     TEXT NOT NULL,
  key_id         TEXT NOT NULL,
  model          TEXT NOT NULL,
  requests       INTEGER NOT NULL DEFAULT 0,
  failed         INTEGER NOT NULL DEFAULT 0,    -- requests whose status was not 'success'
  input_tokens   INTEGER NOT NULL DEFAULT 0,
  output_tokens  INTEGER NOT NULL DEFAULT 0,
  cached_tokens  INTEGER NOT NULL DEFAULT 0,
  cost           INTEGER NOT NULL DEFAULT 0,    -- micro-dollars charged
  PRIMARY KEY (day, account_id, key_id, model)
);
CREATE INDEX IF NOT EXISTS usage_daily_account ON usage_daily(account_id, day);

-- usage_hourly: across accounts, per UTC hour, model and channel ('' when no channel was
-- reached), the totals of the requests flushed: the operator's overview reads these, never
-- the requests. Upserted by the same flush batch as usage_daily, so it grows with
-- hours × models × channels. latency_ms is the sum, for the mean.
CREATE TABLE IF NOT EXISTS usage_hourly (
  hour           TEXT NOT NULL,                 -- 'YYYY-MM-DDTHH', UTC
  model          TEXT NOT NULL,
  channel        TEXT NOT NULL,
  requests       INTEGER NOT NULL DEFAULT 0,
  failed         INTEGER NOT NULL DEFAULT 0,
  input_tokens   INTEGER NOT NULL DEFAULT 0,
  output_tokens  INTEGER NOT NULL DEFAULT 0,
  cached_tokens  INTEGER NOT NULL DEFAULT 0,
  cost           INTEGER NOT NULL DEFAULT 0,    -- micro-dollars charged
  latency_ms     INTEGER NOT NULL DEFAULT 0,    -- summed over the requests
  capped         INTEGER NOT NULL DEFAULT 0,    -- requests whose charge was cut at their hold
  uncharged      INTEGER NOT NULL DEFAULT 0,    -- micro-dollars those requests' usage cost above it
  PRIMARY KEY (hour, model, channel)
);

-- ledger: append-only. Every balance change is exactly one row here, written in the same
-- batch as the change. amount is signed micro-dollars; balance_after is the balance the
-- change produced. At any moment SUM(amount) per account = accounts.balance.
-- Charges for API use arrive as one 'settlement' row per flush of the account's object:
-- request_id is the flush id ('flush:<account>:<seq>') and requests the number of requests
-- it covers. (request_id, kind) is unique, so no effect is applied twice.
-- ('hold' and 'release' are kinds of ledger rows written before holds moved to the
-- account's object; no new rows have them.)
CREATE TABLE IF NOT EXISTS ledger (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id     TEXT NOT NULL REFERENCES accounts(id),
  kind           TEXT NOT NULL CHECK (kind IN
                   ('signup', 'adjustment', 'hold', 'settlement', 'release', 'topup', 'refund', 'redemption')),
  amount         INTEGER NOT NULL,
  balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),
  request_id     TEXT,
  reason         TEXT,
  requests       INTEGER,
  created_at     TEXT NOT NULL,
  UNIQUE (request_id, kind)
);
CREATE INDEX IF NOT EXISTS ledger_account ON ledger(account_id, id);
-- The overview's revenue: top-ups and refunds by time, without reading settlements.
CREATE INDEX IF NOT EXISTS ledger_kind_time ON ledger(kind, created_at);

-- topups: one Stripe Checkout purchase of credit. amount is the micro-dollars it credits
-- (amount_cents × 10,000); credited exactly once, when status goes pending → paid, in the
-- same batch as its 'topup' ledger row (request_id = the top-up id) and the Stripe event.
-- refunded: micro-dollars Stripe has refunded so far (its cumulative amount_refunded).
CREATE TABLE IF NOT EXISTS topups (
  id              TEXT PRIMARY KEY,            -- 'top_' + random, also the Checkout client_reference_id
  account_id      TEXT NOT NULL REFERENCES accounts(id),
  amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
  amount          INTEGER NOT NULL CHECK (amount > 0),
  status          TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
  session_id      TEXT UNIQUE,
  payment_intent  TEXT,
  refunded        INTEGER NOT NULL DEFAULT 0,
  created_at      TEXT NOT NULL,
  paid_at         TEXT
);
CREATE INDEX IF NOT EXISTS topups_payment_intent ON topups(payment_intent);

-- stripe_events: every authentic webhook event that changed something, by Stripe's event
-- id. Its insert is the first statement of each event's batch; the rest only run when it
-- inserted, so a replayed event changes nothing.
CREATE TABLE IF NOT EXISTS stripe_events (
  id           TEXT PRIMARY KEY,
  type         TEXT NOT NULL,
  received_at  TEXT NOT NULL
);

-- disputes: while an account has one with status 'open', its API use answers 403.
CREATE TABLE IF NOT EXISTS disputes (
  id          TEXT PRIMARY KEY,                -- Stripe's dispute id
  account_id  TEXT NOT NULL,
  amount      INTEGER NOT NULL,                -- micro-dollars disputed
  status      TEXT NOT NULL,                   -- 'open' or Stripe's closed status (won, lost, ...)
  updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS disputes_account ON disputes(account_id, status);

-- redemption_codes: token packs. The code is shown once, when created; only its SHA-256
-- is kept (codes have 128 random bits, so a fast hash is enough, as for API keys).
-- Redeemed exactly once: the UPDATE that sets redeemed_by only matches an unused,
-- enabled, unexpired code, and the 'redemption' ledger row (request_id = the code's id)
-- is written in the same batch only if that UPDATE changed the row.
CREATE TABLE IF NOT EXISTS redemption_codes (
  id           TEXT PRIMARY KEY,                -- 'rc_' + random
  code_hash    TEXT NOT NULL UNIQUE,
  amount       INTEGER NOT NULL CHECK (amount > 0),   -- micro-dollars credited
  note         TEXT,
  expires_at   TEXT,
  disabled_at  TEXT,
  redeemed_by  TEXT REFERENCES accounts(id),
  redeemed_at  TEXT,
  created_at   TEXT NOT NULL
);

-- sessions: console log-ins. The cookie holds a random token; only its SHA-256 is here.
-- account_id is NULL for the operator's sessions (src/auth/session.ts); operator_id names
-- the operator, NULL for a session the admin token opened.
CREATE TABLE IF NOT EXISTS sessions (
  token_hash   TEXT PRIMARY KEY,
  account_id   TEXT REFERENCES accounts(id),
  created_at   TEXT NOT NULL,
  expires_at   TEXT NOT NULL,
  operator_id  TEXT REFERENCES operators(id)  -- a named operator's session (account_id NULL)
);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions(account_id);

-- audit_log: every change an operator makes, through the console or the admin API.
-- actor: 'admin-api' (the ADMIN_TOKEN), or 'console:' + the first 12 hex digits of the
-- operator session's token hash. detail is JSON and never holds a secret (no password, no
-- key, no code: only what was set and ids).
CREATE TABLE IF NOT EXISTS audit_log (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  at          TEXT NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,                   -- e.g. 'account.credit', 'model.put'
  target      TEXT NOT NULL,                   -- the account, key, model, channel or batch id
  detail      TEXT
);

-- email_links: the single-use links e-mailed to verify an address or reset a password
-- (src/auth/email-links.ts), kept only as the SHA-256 of their token.
CREATE TABLE IF NOT EXISTS email_links (
  token_hash  TEXT PRIMARY KEY,
  account_id  TEXT NOT NULL REFERENCES accounts(id),
  purpose     TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
  email       TEXT NOT NULL,                     -- the address it went to
  expires_at  TEXT NOT NULL,
  used_at     TEXT,
  created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS email_links_account ON email_links(account_id, purpose);

-- operators: named users of the operator console (e-mail, password, TOTP). The admin token
-- signs in to the console only while there are none (src/auth/operator.ts).
CREATE TABLE IF NOT EXISTS operators (
  id             TEXT PRIMARY KEY,
  email          TEXT NOT NULL UNIQUE,
  password_hash  TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  created_by     TEXT NOT NULL
);

-- second_factors: a TOTP secret per account or operator, sealed under PROVIDER_KEYS_KEK
-- and bound to its owner (src/auth/two-factor.ts); last_step makes each code single-use.
CREATE TABLE IF NOT EXISTS second_factors (
  owner       TEXT PRIMARY KEY,
  ciphertext  TEXT NOT NULL,
  nonce       TEXT NOT NULL,
  kek_id      TEXT NOT NULL,
  last_step   INTEGER NOT NULL DEFAULT 0,
  enabled_at  TEXT,
  created_at  TEXT NOT NULL
);

-- recovery_codes: single-use, by SHA-256.
CREATE TABLE IF NOT EXISTS recovery_codes (
  code_hash  TEXT PRIMARY KEY,
  owner      TEXT NOT NULL,
  used_at    TEXT
);
CREATE INDEX IF NOT EXISTS recovery_codes_owner ON recovery_codes(owner);

-- login_challenges: sign-ins waiting for their second factor, by the SHA-256 of their cookie's token.
CREATE TABLE IF NOT EXISTS login_challenges (
  token_hash  TEXT PRIMARY KEY,
  owner       TEXT NOT NULL,
  next        TEXT,
  expires_at  TEXT NOT NULL
);

-- oauth_identities: accounts' identities at GitHub, Google and OIDC providers (src/auth/oauth.ts).
CREATE TABLE IF NOT EXISTS oauth_identities (
  provider    TEXT NOT NULL,
  subject     TEXT NOT NULL,
  account_id  TEXT NOT NULL REFERENCES accounts(id),
  email       TEXT,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (provider, subject)
);
CREATE UNIQUE INDEX IF NOT EXISTS oauth_identities_account ON oauth_identities(account_id, provider);
