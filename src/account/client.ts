import type { Env } from '../config';
import type { AccountState } from './object';

/** The account's object (object.ts); one per account, wherever the request arrives. */
export function accountState(env: Env, accountId: string): DurableObjectStub<AccountState> {
  return env.ACCOUNTS.get(env.ACCOUNTS.idFromName(accountId));
}

/**
 * Runs a D1 debit of the account (a refund, a negative adjustment) once its object has
 * given back every µ$ not promised to a request in flight, and keeps the object from
 * reserving again until the debit is done: the debit can then take all the credit that is
 * not spoken for (ledger.ts never takes what is reserved).
 */
export async function withReserveReleased<T>(env: Env, accountId: string, debit: () => Promise<T>): Promise<T> {
  const stub = accountState(env, accountId);
  const token = await stub.release(accountId);
  try {
    return await debit();
  } finally {
    await stub.resume(token);
  }
}
