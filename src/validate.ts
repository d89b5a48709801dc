import type { Context } from 'hono';
import type { z } from 'zod';
import { badRequest } from './errors';

/**
 * Reads and validates a JSON body. Malformed JSON and schema violations become 400s whose
 * message names the field and whose `param` holds it, the way OpenAI reports them.
 * (The body-size limit has been enforced by bodyLimit before this reads anything.)
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let json: unknown;
  try {
    json = JSON.parse(await c.req.text());
  } catch {
    throw badRequest('We could not parse the JSON body of your request. Send a valid JSON object.', null, 'invalid_json');
  }
  return parse(schema, json);
}

export function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param = issue ? fieldName(issue.path) : null;
  const message = issue ? issue.message : 'Invalid request.';
  throw badRequest(param ? `Invalid '${param}': ${message}.` : `Invalid request: ${message}.`, param, 'invalid_value');
}

/** ['messages', 0, 'role'] → "messages[0].role" */
function fieldName(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}
