import type { Context } from 'hono';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { boundaryOf, FormReader, type FilePart } from '../proxy/multipart';

/**
 * A customer's multipart upload (transcriptions, translations, image edits), opened as
 * proxy/multipart.ts reads it; a refused form answers 401 first where the key is bad, as a
 * refused JSON body does (auth/customer.ts readCustomerJson).
 */
export async function openUpload(c: Context<AppEnv>, maxFileBytes: number, ready: (fields: Array<[string, string]>) => boolean) {
  try {
    const boundary = boundaryOf(c.req.header('content-type') ?? null);
    if (!c.req.raw.body) throw new ApiError('invalid_request', 'The multipart/form-data body is empty.');
    const reader = new FormReader(c.req.raw.body, boundary, maxFileBytes);
    c.set('refusedUpload', () => reader.discardRest());
    const opened = await reader.open(ready);
    return { ...opened, contentType: `multipart/form-data; boundary=${boundary}` };
  } catch (err) {
    await c.var.auth.principal();
    throw err;
  }
}

/** The upload's size as its Content-Length says (an upper bound of its file's), else `max`. */
export function uploadSize(c: Context<AppEnv>, max: number): number {
  const length = Number(c.req.header('content-length'));
  return Number.isSafeInteger(length) && length > 0 ? Math.min(length, max) : max;
}

/** A file of one of `types` (by its name's extension, as OpenAI checks), or the 400 naming it. */
export function checkFile(file: FilePart | undefined, field: string, types: readonly string[]): FilePart {
  if (!file) throw new ApiError('invalid_value', `Invalid '${field}': a file is required.`, { param: field });
  const ext = file.filename.split('.').at(-1)?.toLowerCase() ?? '';
  if (!types.includes(ext)) {
    throw new ApiError('invalid_value', `Invalid '${file.name}': file type '${ext}' is not supported; use one of ${types.join(', ')}.`, { param: file.name });
  }
  return file;
}
