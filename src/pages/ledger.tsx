import type { LedgerRow } from '../db/ledger';
import { when } from './format';

/** The body rows of a ledger table, in both consoles: time, kind, change, balance after,
 *  and the reason (a settlement's is how many requests it charges). `money` formats the
 *  amounts, which the customer's page has in µ$ and the operator's in dollars. */
export function LedgerRows(props: { rows: Array<Pick<LedgerRow, 'created_at' | 'kind' | 'amount' | 'balance_after' | 'requests' | 'reason'>>; money: (amount: number) => string }) {
  return (
    <>
      {props.rows.map((r) => (
        <tr><td>{when(r.created_at)}</td><td>{r.kind}</td><td class="num">{props.money(r.amount)}</td><td class="num">{props.money(r.balance_after)}</td>
          <td class="muted">{r.requests ? `${r.requests} requests` : r.reason ?? ''}</td></tr>
      ))}
    </>
  );
}
