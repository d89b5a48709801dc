import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** schema.sql as a list of statements, for D1's batch (its exec() takes one line per query). */
export function schemaStatements(): string[] {
  const sql = readFileSync(resolve(import.meta.dirname, '../../schema.sql'), 'utf8')
    .replace(/--.*$/gm, ''); // schema.sql holds no '--' inside a string
  return sql
    .split(/;\s*\n/)
    .map((s) => s.trim().replace(/;$/, ''))
    .filter(Boolean);
}
