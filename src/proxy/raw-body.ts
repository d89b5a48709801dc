/**
 * The client's own JSON text, sent on with only the top-level fields the gateway changes
 * (the model id, an output cap it adds) spliced in: for a native pass-through — Claude
 * Code's 100–300 KB bodies to an `anthropic` channel, Codex's to a channel with the
 * Responses API — this spares serialising the whole body again, which the profile showed as
 * the largest part of the gateway's own CPU on such requests (BENCHMARKS.md).
 *
 * The body was parsed (JSON.parse: the last of duplicate keys wins, as with the providers'
 * parsers) and validated by a schema that keeps it as it is (no defaults, no transforms: a
 * test holds the schemas to that); here one pass over the text finds the top-level keys.
 * Anything unusual gives undefined and the caller serialises as before: a body that is not
 * an object, a top-level key given twice (an upstream that took the first could see another
 * model or cap than the one held and charged for), a field removed.
 *
 * It is the text, not the bytes, that goes on: the runtime decodes a request body natively
 * far faster than TextDecoder does (BENCHMARKS.md), and what the upstream gets is then
 * exactly what was parsed, validated and measured.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** `outgoing` as text: the client's own, with the top-level fields that differ from `parsed` replaced or added. */
export function sentAsRaw(raw: string, parsed: Record<string, unknown>, outgoing: Record<string, unknown>): Blob | undefined {
  const changes: Record<string, unknown> = {};
  for (const key of Object.keys(parsed)) if (!(key in outgoing)) return undefined;
  for (const [key, value] of Object.entries(outgoing)) {
    if (value === parsed[key]) continue;
    if (value === undefined) return undefined;
    changes[key] = value;
  }
  return spliced(raw, changes) ?? undefined;
}

/** `raw` (a JSON object) with each key of `changes` given its value: replaced where it is,
 *  added at the end where it is not. Null where it cannot be done safely. A Blob of the
 *  text's slices: joined into one string, the 100–300 KB body would be copied again in the
 *  isolate's heap before the runtime encodes it. */
export function spliced(raw: string, changes: Record<string, unknown>): Blob | null {
  const edits = editsOf(raw, changes);
  if (!edits) return null;
  const parts: string[] = [];
  let at = 0;
  for (const [start, end, insert] of edits) {
    parts.push(raw.slice(at, start), insert);
    at = end;
  }
  parts.push(raw.slice(at));
  return new Blob(parts);
}

/** The edits (text start, end, what replaces it) that give `changes`, in order; null where unsafe. */
function editsOf(raw: string, changes: Record<string, unknown>): Array<[number, number, string]> | null {
  let i = skipSpace(raw, 0);
  if (raw.charCodeAt(i) !== 0x7b) return null; // {
  const keys = new Set<string>();
  const edits: Array<[number, number, string]> = [];
  i = skipSpace(raw, i + 1);
  let close = i;
  if (raw.charCodeAt(i) !== 0x7d) { // }
    for (;;) {
      if (raw.charCodeAt(i) !== QUOTE) return null;
      const keyEnd = stringEnd(raw, i);
      if (keyEnd < 0) return null;
      const key = JSON.parse(raw.slice(i, keyEnd)) as string;
      if (keys.has(key)) return null;
      keys.add(key);
      i = skipSpace(raw, keyEnd);
      if (raw.charCodeAt(i) !== 0x3a) return null; // :
      const start = skipSpace(raw, i + 1);
      const end = valueEnd(raw, start);
      if (end < 0) return null;
      if (Object.hasOwn(changes, key)) edits.push([start, end, JSON.stringify(changes[key])]);
      i = skipSpace(raw, end);
      const next = raw.charCodeAt(i);
      if (next === 0x7d) break;
      if (next !== 0x2c) return null; // ,
      i = skipSpace(raw, i + 1);
    }
    close = i;
  }
  const added = Object.keys(changes).filter((k) => !keys.has(k)).map((k) => `${JSON.stringify(k)}:${JSON.stringify(changes[k])}`);
  if (added.length > 0) edits.push([close, close, `${keys.size > 0 ? ',' : ''}${added.join(',')}`]);
  return edits;
}

function skipSpace(s: string, i: number): number {
  for (let c = s.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = s.charCodeAt(++i));
  return i;
}

/** The index just past the string starting at `i` (a quote), or -1. */
function stringEnd(s: string, i: number): number {
  let at = i + 1;
  for (;;) {
    const quote = s.indexOf('"', at);
    if (quote < 0) return -1;
    let slashes = 0;
    for (let j = quote - 1; s.charCodeAt(j) === BACKSLASH; j--) slashes++;
    if (slashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** The index just past the JSON value starting at `i` (already known to be valid JSON), or -1. */
function valueEnd(s: string, i: number): number {
  const first = s.charCodeAt(i);
  if (first === QUOTE) return stringEnd(s, i);
  if (first !== 0x7b && first !== 0x5b) {
    // A number, true, false or null: up to the next delimiter.
    let j = i;
    for (let c = s.charCodeAt(j); j < s.length && c !== 0x2c && c !== 0x7d && c !== 0x5d && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09; c = s.charCodeAt(++j));
    return j;
  }
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === QUOTE) {
      j = stringEnd(s, j) - 1;
      if (j < 0) return -1;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return -1;
}
