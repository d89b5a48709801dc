/**
 * The SQLite schema of an account's object, as numbered migrations. The object runs those
 * its storage has not had, in order, each in one transaction with the version it reaches
 * (kept in `schema_version`), in its constructor — so before it serves anything, and a step
 * that fails rolls back and leaves the object refusing every call rather than serving a
 * half-migrated schema. Never edit a step that has shipped: add the next one.
 */

/** Version 1: the tables of Tokengate 0.1.0, the last version without numbered migrations. */
const V1 = `
  -- One row: the account, and the funds as the last applied flush left them in D1.
  CREATE TABLE IF NOT EXISTS funds (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    account_id TEXT NOT NULL,
    balance INTEGER NOT NULL,        -- D1's balance after the last applied flush
    reserved INTEGER NOT NULL,       -- D1's reserved after it: what this object may spend
    seq INTEGER NOT NULL,            -- that flush's number (accounts.flushed_seq)
    suspended INTEGER NOT NULL DEFAULT 0
  );
  -- Keys of the account this object has seen: what their applied flushes charged (the
  -- rest is in usage rows not yet applied), and revocation.
  CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    spent INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
  );
  -- Each key's GCRA windows (theoretical arrival times, µs), as ratelimit/windows.ts keeps them.
  CREATE TABLE IF NOT EXISTS windows (
    key_id TEXT PRIMARY KEY, requests REAL NOT NULL DEFAULT 0, tokens REAL NOT NULL DEFAULT 0
  );
  -- Requests admitted and not yet settled; amount is their hold.
  CREATE TABLE IF NOT EXISTS holds (
    request_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    key_name TEXT NOT NULL,
    model TEXT NOT NULL,
    amount INTEGER NOT NULL,
    tokens INTEGER NOT NULL,         -- counted against the key's tpm until settled
    tpm INTEGER,                     -- the key's tpm when admitted (to correct the window)
    created_at INTEGER NOT NULL
  );
  -- (No index: it holds only the requests in flight.)
  -- One row per settled request; flush is the number of the flush that charged it in D1
  -- (NULL: not yet flushed).
  CREATE TABLE IF NOT EXISTS usage (
    request_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    key_name TEXT NOT NULL,
    model TEXT NOT NULL,
    channel TEXT,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost INTEGER NOT NULL,
    reported_cost INTEGER NOT NULL,
    capped INTEGER NOT NULL,
    status TEXT NOT NULL,
    latency_ms INTEGER NOT NULL,
    first_byte_ms INTEGER,
    estimated INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    flush INTEGER
  );
  -- Rows arrive in settlement order, so rowid order is time order: no index on created_at.
  CREATE INDEX IF NOT EXISTS usage_flush ON usage(flush);
  -- Responses API state this account stored at the provider (store: true): only this account
  -- may build on it, and what it adds to a prompt is held for. A response by its id (tokens:
  -- its input plus output, the history it carries on) and each of its output items (tokens:
  -- the response's output, more than any one item holds). Kept STORED_RETENTION_MS.
  CREATE TABLE IF NOT EXISTS stored (
    id TEXT PRIMARY KEY,
    tokens INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
`;

export const STORAGE_STEPS: ReadonlyArray<(sql: SqlStorage) => void> = [
  // 1. 0.1.0's schema. Its statements are idempotent, so an object 0.1.0 wrote (its tables,
  //    no schema_version) is adopted by running them; objects from before cache-write counts
  //    also get that column.
  (sql) => {
    sql.exec(V1);
    if (sql.exec("SELECT 1 FROM pragma_table_info('usage') WHERE name = 'cache_write_tokens'").toArray().length === 0) {
      sql.exec('ALTER TABLE usage ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0');
    }
  },
  // 2. A hold keeps its account's tpm, so the account's token window is corrected when it
  //    settles even after the object restarted (NULL: no account tpm, or placed by 0.1.0).
  (sql) => sql.exec('ALTER TABLE holds ADD COLUMN account_tpm INTEGER'),
  // 3. A usage row says what the request was priced in — tokens, or images, characters or
  //    seconds of audio with how many (billing/units.ts); older rows are tokens.
  (sql) => {
    sql.exec("ALTER TABLE usage ADD COLUMN unit TEXT NOT NULL DEFAULT 'tokens'");
    sql.exec('ALTER TABLE usage ADD COLUMN quantity INTEGER');
  },
];

/** The version this code's storage is at once migrated. */
export const STORAGE_VERSION = STORAGE_STEPS.length;

/** Runs the steps `storage` has not had (`steps`: this code's, or a test's). */
export function migrateStorage(storage: DurableObjectStorage, steps: ReadonlyArray<(sql: SqlStorage) => void> = STORAGE_STEPS): void {
  const { sql } = storage;
  sql.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const current = sql.exec<{ version: number }>('SELECT version FROM schema_version').toArray()[0]?.version ?? 0;
  for (let version = current; version < steps.length; version++) {
    storage.transactionSync(() => {
      steps[version]!(sql);
      sql.exec('DELETE FROM schema_version');
      sql.exec('INSERT INTO schema_version (version) VALUES (?)', version + 1);
    });
  }
}
