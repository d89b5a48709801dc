import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { migrateStorage, STORAGE_STEPS, STORAGE_VERSION } from '../../src/account/migrations';
import { accountObject, newAccount } from './helpers';

/**
 * An account object's own SQLite schema, migrated in its constructor (account/migrations.ts):
 * at this version's number once it has woken, each step one transaction. (The upgrade from
 * storage that 0.1.0 wrote, holds and unflushed charges in it, is test/e2e/upgrade.test.ts.)
 */
const version = (sql: SqlStorage) => sql.exec<{ version: number }>('SELECT version FROM schema_version').one().version;

describe("an account object's storage", () => {
  it('is at the version this code knows once the object has woken, with every table it needs', async () => {
    const account = await newAccount();
    const stub = accountObject(account.id);
    await stub.balance(account.id);
    await runInDurableObject(stub, (_instance, state) => {
      expect(version(state.storage.sql)).toBe(STORAGE_VERSION);
      expect(STORAGE_VERSION).toBe(3);
      const columns = (table: string) => state.storage.sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`).toArray().map((c) => c.name);
      expect(columns('holds')).toContain('account_tpm');
      expect(columns('usage')).toEqual(expect.arrayContaining(['unit', 'quantity']));
      // Running the migrations again changes nothing.
      migrateStorage(state.storage);
      expect(version(state.storage.sql)).toBe(STORAGE_VERSION);
    });
  });

  it('rolls a failing step back whole, and stays at the version before it', async () => {
    const account = await newAccount();
    const stub = accountObject(account.id);
    await stub.balance(account.id);
    await runInDurableObject(stub, (_instance, state) => {
      const failing = (sql: SqlStorage) => {
        sql.exec('CREATE TABLE half_done (x INTEGER)');
        sql.exec('ALTER TABLE holds ADD COLUMN also_half_done INTEGER');
        throw new Error('this step fails halfway');
      };
      expect(() => migrateStorage(state.storage, [...STORAGE_STEPS, failing])).toThrow('this step fails halfway');
      expect(version(state.storage.sql)).toBe(STORAGE_VERSION);
      expect(state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'half_done'").toArray()).toEqual([]);
      expect(state.storage.sql.exec("SELECT name FROM pragma_table_info('holds') WHERE name = 'also_half_done'").toArray()).toEqual([]);
    });
  });
});
