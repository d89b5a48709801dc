import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError } from './errors';

/** Deepest nesting of arrays and objects a body may have. OpenAI's own bodies need about
 *  ten levels (a JSON schema inside a tool inside the request nests deeper, rarely past
 *  thirty); the limit keeps every walk over client JSON (estimates, hold size, the
 *  serialising for the upstream) far from the runtime's stack limit. */
export const MAX_JSON_DEPTH = 64;

/**
 * Reads and validates a JSON body. Malformed JSON, nesting beyond MAX_JSON_DEPTH and schema
 * violations become 400s whose message names the field and whose `param` holds it, the way
 * OpenAI reports them. (The body-size limit has been enforced by bodyLimit before this
 * reads anything.)
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let json: unknown;
  try {
    json = JSON.parse(await bodyOf(c));
  } catch {
    throw new ApiError('invalid_json', 'We could not parse the JSON body of your request. Send a valid JSON object.');
  }
  const deep = pathBeyondDepth(json, MAX_JSON_DEPTH);
  if (deep) {
    throw new ApiError('invalid_value', `Invalid '${deep}': the body is nested more than ${MAX_JSON_DEPTH} levels deep.`, { param: deep });
  }
  return parse(schema, json);
}

/** The request's body as text, read once (Hono keeps it: the relays send the client's own
 *  text on, proxy/raw-body.ts). Decoded by the runtime: TextDecoder on the body's bytes
 *  cost four times as much in workerd (BENCHMARKS.md). */
export function bodyOf(c: Context): Promise<string> {
  return c.req.text();
}

/**
 * Reads the rest of a body that is refused unread (over the size limit by its
 * content-length), up to `maxBytes`, before the answer goes: an answer given while the
 * client still writes closes the connection under it, and its HTTP client reports a reset,
 * not the answer. (A body that declared no length is held by bodyLimit's own reader, which
 * stopped at the limit: it is not drained here.)
 */
export async function discardBody(request: Request, maxBytes: number): Promise<void> {
  if (!request.body || request.body.locked) return;
  const reader = request.body.getReader();
  try {
    for (let read = 0; read <= maxBytes;) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
  } catch {
    // The client went away: nothing is left to read.
  }
}

/** The path of the first value nested deeper than `limit`, or null; iterative, so no
 *  input can exhaust the stack here. Each entry links to its parent, so a path is only
 *  built for the one value that is too deep. */
function pathBeyondDepth(root: unknown, limit: number): string | null {
  interface Entry { value: unknown; depth: number; key: PropertyKey | null; parent: Entry | null }
  const stack: Entry[] = typeof root === 'object' && root !== null ? [{ value: root, depth: 0, key: null, parent: null }] : [];
  while (stack.length > 0) {
    const entry = stack.pop()!;
    if (entry.depth >= limit) {
      const path: PropertyKey[] = [];
      for (let e: Entry | null = entry; e?.key != null; e = e.parent) path.unshift(e.key);
      return fieldName(path) ?? '(body)';
    }
    const value = entry.value as Record<string, unknown> | unknown[];
    const keys: PropertyKey[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
    for (const key of keys) {
      const child = (value as Record<PropertyKey, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: entry.depth + 1, key, parent: entry });
    }
  }
  return null;
}

export function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0] ? mostSpecific(result.error.issues[0]) : undefined;
  const param = issue ? fieldName(issue.path) : null;
  const message = issue ? issue.message : 'Invalid request.';
  throw new ApiError('invalid_value', param ? `Invalid '${param}': ${message}.` : `Invalid request: ${message}.`, { param });
}

/**
 * For a value that matched none of a union's shapes, the issue of the shape it came
 * closest to, so the message names the exact field: shapes whose very type was wrong are
 * passed over, then the one with the fewest issues wins (the deepest on a tie). The
 * union's own message where every shape failed on the type.
 */
function mostSpecific(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue;
  let best: z.core.$ZodIssue[] | null = null;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (!first || (first.code === 'invalid_type' && first.path.length === 0)) continue;
    if (!best || branch.length < best.length || (branch.length === best.length && first.path.length > (best[0]?.path.length ?? 0))) best = branch;
  }
  const chosen = best?.[0];
  if (!chosen) return issue;
  const inner = mostSpecific(chosen);
  return { ...inner, path: [...issue.path, ...inner.path] };
}

/** ['messages', 0, 'role'] → "messages[0].role" */
function fieldName(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}
