import { now } from './ids';

/** Named operators of the console (src/admin/operators.ts; schema: operators). */
export interface OperatorRow {
  id: string;
  email: string;
  created_at: string;
  created_by: string;
}

export interface OperatorView extends OperatorRow {
  two_factor: boolean;
}

export async function countOperators(db: D1Database): Promise<number> {
  return (await db.prepare('SELECT COUNT(*) AS n FROM operators').first<{ n: number }>())!.n;
}

export function operatorById(db: D1Database, id: string): Promise<OperatorRow | null> {
  return db.prepare('SELECT id, email, created_at, created_by FROM operators WHERE id = ?').bind(id).first();
}

/** For sign-in: the operator with this e-mail and the password's hash. */
export function operatorCredentials(db: D1Database, email: string): Promise<{ id: string; password_hash: string } | null> {
  return db.prepare('SELECT id, password_hash FROM operators WHERE email = ?').bind(email).first();
}

export async function listOperators(db: D1Database): Promise<OperatorView[]> {
  const { results } = await db
    .prepare(
      `SELECT o.id, o.email, o.created_at, o.created_by, f.enabled_at IS NOT NULL AS two_factor
       FROM operators o LEFT JOIN second_factors f ON f.owner = o.id ORDER BY o.created_at`,
    )
    .all<OperatorRow & { two_factor: number }>();
  return results.map((r) => ({ ...r, two_factor: r.two_factor === 1 }));
}

/** Adds an operator; false when the e-mail has one. Sessions the admin token opened end:
 *  once there is a named operator, the admin token opens no console. */
export async function insertOperator(db: D1Database, o: { id: string; email: string; passwordHash: string; createdBy: string }): Promise<boolean> {
  const [inserted] = await db.batch([
    db.prepare('INSERT INTO operators (id, email, password_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING')
      .bind(o.id, o.email, o.passwordHash, now(), o.createdBy),
    db.prepare('DELETE FROM sessions WHERE account_id IS NULL AND operator_id IS NULL'),
  ]);
  return (inserted?.meta.changes ?? 0) > 0;
}

/** Removes an operator with their sessions, second factor and recovery codes. */
export async function deleteOperator(db: D1Database, id: string): Promise<boolean> {
  const results = await db.batch([
    db.prepare('DELETE FROM sessions WHERE operator_id = ?').bind(id),
    db.prepare('DELETE FROM login_challenges WHERE owner = ?').bind(id),
    db.prepare('DELETE FROM second_factors WHERE owner = ?').bind(id),
    db.prepare('DELETE FROM recovery_codes WHERE owner = ?').bind(id),
    db.prepare('DELETE FROM operators WHERE id = ?').bind(id),
  ]);
  return (results.at(-1)?.meta.changes ?? 0) > 0;
}
