import { Hono, type Context } from 'hono';
import { addOperator, NewOperatorSchema, operatorsList, removeOperator } from '../../admin/operators';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../auth/password';
import type { AppEnv } from '../../context';
import { when } from '../../pages/format';
import { Layout, Notice, pageOf } from '../../pages/layout';
import { ApiError } from '../../errors';
import { attempt, formFields, readForm } from '../forms';

/** /operator/operators: the named operators; add one (they set up TOTP at their first
 *  sign-in), remove one. Adding the first ends the admin token's console sessions. */
export const operatorsPage = new Hono<AppEnv>();

async function render(c: Context<AppEnv>, notice?: { kind: 'ok' | 'error'; text: string }, status: 200 | 201 | 400 = 200) {
  const operators = await operatorsList(c.env);
  const self = c.var.operator!.id;
  return c.html(
    <Layout page={pageOf(c)} title="Operators" operator>
      <h1>Operators</h1>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      {operators.length === 0 && (
        <Notice kind="error">
          You signed in with the admin token. Add yourself as the first operator: from then on the console takes an operator’s
          email, password and authentication code, the audit log names who did what, and the admin token is for the admin API alone.
        </Notice>
      )}
      <section class="card">
        <h2>Add an operator</h2>
        <form class="grid-form" method="post" action="/operator/operators">
          <label>Email<input type="email" name="email" required maxlength={254} autocomplete="off" /></label>
          <label>Password<input type="password" name="password" required minlength={PASSWORD_MIN} maxlength={PASSWORD_MAX} autocomplete="new-password" /></label>
          <button type="submit">Add operator</button>
        </form>
        <p class="muted">They sign in with this email and password, and set up an authenticator app at their first sign-in.</p>
      </section>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Email</th><th scope="col">Two-factor</th><th scope="col">Added</th><th scope="col">Added by</th><th scope="col"></th></tr></thead>
          <tbody>
            {operators.length === 0 && <tr><td colspan={5} class="muted">No operators yet.</td></tr>}
            {operators.map((o) => (
              <tr>
                <td>{o.email}{o.id === self && <span class="muted"> (you)</span>}</td>
                <td>{o.two_factor ? 'on' : 'at first sign-in'}</td>
                <td>{when(o.created_at)}</td>
                <td class="muted">{o.created_by}</td>
                <td>{o.id !== self && (
                  <form method="post" action="/operator/operators/remove"><input type="hidden" name="id" value={o.id} />
                    <button type="submit" class="danger" aria-label={`Remove ${o.email}`}>Remove</button></form>
                )}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>,
    status,
  );
}

operatorsPage.get('/', (c) => render(c));

operatorsPage.post('/', async (c) => {
  const first = c.var.operator!.id === null;
  const done = await attempt(async () => addOperator(c.env, c.var.operator!.actor, await readForm(c, NewOperatorSchema)));
  if (!done.ok) return render(c, { kind: 'error', text: done.message }, 400);
  // The admin token's session ended with the first operator: on to that operator's sign-in.
  if (first) return c.redirect('/operator/login', 303);
  return render(c, { kind: 'ok', text: `${done.value.email} can sign in now.` }, 201);
});

operatorsPage.post('/remove', async (c) => {
  const done = await attempt(async () => {
    const id = String((await formFields(c)).id ?? '');
    if (id === c.var.operator!.id) throw new ApiError('forbidden', 'You cannot remove yourself.');
    await removeOperator(c.env, c.var.operator!.actor, id);
    return id;
  });
  return render(c, done.ok ? { kind: 'ok', text: 'Removed, and signed out everywhere.' } : { kind: 'error', text: done.message }, done.ok ? 200 : 400);
});
