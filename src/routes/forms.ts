import type { Context } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { parse } from '../validate';

/** How a form's string fields become the JSON the API's schema reads. */
export interface FormShape {
  numbers?: string[];
  /** Comma-separated lists. */
  lists?: string[];
  /** Checkboxes: true when sent, false when not. */
  booleans?: string[];
  /** Lines of "key = value" (or "key" alone, for key = key), as an object. */
  maps?: string[];
}

/** A form's fields as JSON values: empty ones absent, the rest as `shape` says. */
export async function formFields(c: Context<AppEnv>, shape: FormShape = {}): Promise<Record<string, unknown>> {
  const body = await c.req.parseBody();
  const fields: Record<string, unknown> = {};
  for (const name of shape.booleans ?? []) fields[name] = typeof body[name] === 'string';
  for (const [name, value] of Object.entries(body)) {
    if (typeof value !== 'string' || value.trim() === '' || shape.booleans?.includes(name)) continue;
    if (shape.numbers?.includes(name)) fields[name] = Number(value);
    else if (shape.lists?.includes(name)) fields[name] = value.split(',').map((v) => v.trim()).filter(Boolean);
    else if (shape.maps?.includes(name)) fields[name] = mapOf(value);
    else fields[name] = value;
  }
  return fields;
}

function mapOf(text: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const [key = '', value] = line.split('=', 2).map((s) => s.trim());
    if (key) map[key] = value || key;
  }
  return map;
}

/**
 * A console form, read into the same zod schema the JSON API uses: fields arrive as
 * strings, so empty ones become absent and the numeric ones numbers. Errors are the API's
 * own ApiError (the page shows its message).
 */
export async function readForm<S extends z.ZodType>(c: Context<AppEnv>, schema: S, shape: FormShape = {}): Promise<z.infer<S>> {
  return parse(schema, await formFields(c, shape));
}

/** Runs a form's action; an ApiError becomes the message to show (an upstream that did not
 *  answer included: the operator is looking at it), anything else is a bug. */
export async function attempt<T>(action: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; message: string }> {
  try {
    return { ok: true, value: await action() };
  } catch (err) {
    if (err instanceof ApiError && err.code !== 'internal_error') return { ok: false, message: err.message };
    throw err;
  }
}
