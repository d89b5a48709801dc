import { now } from './ids';

/** The operator's changes, newest last in, as the overview lists them (schema: audit_log). */
export interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: string | null;
}

export async function recordAudit(db: D1Database, e: { actor: string; action: string; target: string; detail?: Record<string, unknown> }): Promise<void> {
  await db
    .prepare('INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)')
    .bind(now(), e.actor, e.action, e.target, e.detail === undefined ? null : JSON.stringify(e.detail))
    .run();
}

/** Newest first. */
export async function listAudit(db: D1Database, limit: number): Promise<AuditRow[]> {
  const { results } = await db.prepare('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').bind(limit).all<AuditRow>();
  return results;
}
