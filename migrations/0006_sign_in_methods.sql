-- Migration 0006: sign-in with GitHub, Google or an OpenID Connect provider; TOTP two-factor
-- with recovery codes, for customers and operators; and named operators (e-mail, password,
-- TOTP), so that the audit log names a person. Nothing here holds a secret in clear: TOTP
-- secrets are sealed like provider keys (src/auth/vault.ts), codes and tokens are hashes.

-- Operators of the console. The admin token signs in only while there are none.
CREATE TABLE operators (
  id             TEXT PRIMARY KEY,             -- op_…
  email          TEXT NOT NULL UNIQUE,         -- lower-case
  password_hash  TEXT NOT NULL,                -- src/auth/password.ts
  created_at     TEXT NOT NULL,
  created_by     TEXT NOT NULL                 -- the audit actor who added them
);

-- A TOTP secret per account or operator ('acct_…' / 'op_…'), sealed and bound to its owner.
CREATE TABLE second_factors (
  owner       TEXT PRIMARY KEY,
  ciphertext  TEXT NOT NULL,
  nonce       TEXT NOT NULL,
  kek_id      TEXT NOT NULL,
  last_step   INTEGER NOT NULL DEFAULT 0,      -- the newest 30-second step whose code was used: each code works once
  enabled_at  TEXT,                            -- NULL: enrolment begun, its first code not yet given
  created_at  TEXT NOT NULL
);

-- Single-use recovery codes, by the SHA-256 of each.
CREATE TABLE recovery_codes (
  code_hash  TEXT PRIMARY KEY,
  owner      TEXT NOT NULL,
  used_at    TEXT
);
CREATE INDEX recovery_codes_owner ON recovery_codes(owner);

-- A sign-in whose password (or provider) was right and whose second factor is still to
-- come: the cookie holds a random token, this its SHA-256.
CREATE TABLE login_challenges (
  token_hash  TEXT PRIMARY KEY,
  owner       TEXT NOT NULL,
  next        TEXT,                            -- where to go after
  expires_at  TEXT NOT NULL
);

-- Accounts' identities at GitHub, Google and OIDC providers: the provider's stable subject.
CREATE TABLE oauth_identities (
  provider    TEXT NOT NULL,                   -- 'github', 'google', 'oidc'
  subject     TEXT NOT NULL,
  account_id  TEXT NOT NULL REFERENCES accounts(id),
  email       TEXT,                            -- the verified address it vouched for, shown in Settings
  created_at  TEXT NOT NULL,
  PRIMARY KEY (provider, subject)
);
CREATE UNIQUE INDEX oauth_identities_account ON oauth_identities(account_id, provider); -- one of each per account

-- A named operator's sessions (account_id NULL, as every operator session's).
ALTER TABLE sessions ADD COLUMN operator_id TEXT REFERENCES operators(id);
