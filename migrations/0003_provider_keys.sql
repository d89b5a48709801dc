-- Migration 0003: provider keys the operator pastes in the console or sends to the admin
-- API, kept in D1 sealed (AES-256-GCM under the key-encryption key PROVIDER_KEYS_KEK,
-- src/auth/vault.ts): only the ciphertext, its nonce, the id of the key that sealed it and
-- the last four characters. A channel may hold many; requests spread over the enabled ones.
CREATE TABLE provider_keys (
  id              TEXT PRIMARY KEY,                -- 'pk_' + random
  channel_id      TEXT NOT NULL REFERENCES channels(id),
  ciphertext      TEXT NOT NULL,                   -- base64: the sealed key and its GCM tag
  nonce           TEXT NOT NULL,                   -- base64: 96 random bits, one per sealing
  kek_id          TEXT NOT NULL,                   -- which PROVIDER_KEYS_KEK entry sealed it
  last4           TEXT NOT NULL,                   -- shown as …abcd; nothing else of the key is stored in clear
  weight          INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 1),
  enabled         INTEGER NOT NULL DEFAULT 1,
  disabled_reason TEXT,                            -- why it was taken out, by the gateway or an operator
  disabled_at     TEXT,
  created_at      TEXT NOT NULL
);
CREATE INDEX provider_keys_channel ON provider_keys(channel_id);

-- How a channel sends its key: NULL is its kind's own way (Bearer for openai, x-api-key
-- for anthropic, x-goog-api-key for gemini); Azure OpenAI deployments take api-key.
ALTER TABLE channels ADD COLUMN auth TEXT CHECK (auth IN ('bearer', 'api-key', 'x-api-key', 'x-goog-api-key'));
-- Fixed query parameters for every call, as a JSON object (Azure's {"api-version": "…"}); NULL: none.
ALTER TABLE channels ADD COLUMN query TEXT;
