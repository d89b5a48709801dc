-- Migration 0005: verified e-mail addresses, the trial credit granted once per verified
-- address, and the single-use links e-mailed to verify an address or reset a password
-- (src/auth/email-links.ts). Accounts made before this version got their credit at sign-up
-- and are counted verified.
ALTER TABLE accounts ADD COLUMN email_verified_at TEXT;   -- NULL: not verified yet
ALTER TABLE accounts ADD COLUMN trial_credit_at TEXT;     -- when SIGNUP_CREDIT was granted; NULL: not yet
-- None is owed a trial credit: each got what SIGNUP_CREDIT was at sign-up, or was made by the operator.
UPDATE accounts SET email_verified_at = created_at, trial_credit_at = created_at;

CREATE TABLE email_links (
  token_hash  TEXT PRIMARY KEY,                  -- SHA-256 (hex) of the link's token: the token is only in the e-mail
  account_id  TEXT NOT NULL REFERENCES accounts(id),
  purpose     TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
  email       TEXT NOT NULL,                     -- the address it went to: a verify link verifies that address only
  expires_at  TEXT NOT NULL,
  used_at     TEXT,                              -- single use
  created_at  TEXT NOT NULL
);
CREATE INDEX email_links_account ON email_links(account_id, purpose);
