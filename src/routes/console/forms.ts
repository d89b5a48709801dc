import type { Context } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../../context';
import { ApiError } from '../../errors';
import { parse } from '../../validate';

/**
 * A console form, read into the same zod schema the JSON API uses: fields arrive as
 * strings, so empty ones become absent and the numeric ones numbers. Errors are the API's
 * own ApiError (the page shows its message).
 */
export async function readForm<S extends z.ZodType>(
  c: Context<AppEnv>, schema: S, shape: { numbers?: string[]; lists?: string[] } = {},
): Promise<z.infer<S>> {
  const body = await c.req.parseBody();
  const fields: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) {
    if (typeof value !== 'string' || value.trim() === '') continue;
    if (shape.numbers?.includes(name)) fields[name] = Number(value);
    else if (shape.lists?.includes(name)) fields[name] = value.split(',').map((v) => v.trim()).filter(Boolean);
    else fields[name] = value;
  }
  return parse(schema, fields);
}

/** Runs a form's action; an ApiError becomes the message to show, anything else is a bug. */
export async function attempt<T>(action: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; message: string }> {
  try {
    return { ok: true, value: await action() };
  } catch (err) {
    if (err instanceof ApiError && err.status < 500) return { ok: false, message: err.message };
    throw err;
  }
}
