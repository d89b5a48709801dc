import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

/**
 * The providers' published API specifications (test/specs, with their provenance in
 * test/specs/SOURCES.md) as JSON Schema 2020-12 validators, read as OpenAPI means them:
 * - `nullable: true` (OpenAPI 3.0, still in parts of both documents) lets null through;
 * - a `discriminator` on a oneOf/anyOf picks the one member its property names (mapping,
 *   else each member's `const`/single `enum` on that property), so an object is checked
 *   against that member alone, and an unknown tag is an error of its own;
 * - vendor keywords (x-*), `example`, `deprecated` and unknown formats are annotations (ajv's
 *   non-strict mode), checked by nothing.
 */
type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export const SPECS = resolve(import.meta.dirname, '../specs');

export interface Spec {
  /** The spec's name for errors: 'openai' or 'anthropic'. */
  readonly name: string;
  /** Human-readable violations of `value` against components.schemas[schema] (none: it conforms). */
  check(schema: string, value: unknown): string[];
  /** The member schema of a union (`anyOf`/`oneOf` of $refs) whose `type` property is `tag`. */
  member(union: string, tag: string): string | null;
}

export function openaiSpec(): Spec {
  return load('openai', parse(readFileSync(resolve(SPECS, 'openai-openapi.yaml'), 'utf8'), { maxAliasCount: -1 }) as Json);
}

export function anthropicSpec(): Spec {
  return load('anthropic', JSON.parse(readFileSync(resolve(SPECS, 'anthropic-openapi.json'), 'utf8')) as Json);
}

function load(name: string, doc: Json): Spec {
  const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
  const converted = { $id: name, components: { schemas: Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, convert(v, schemas)])) } };
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true, logger: false });
  addFormats.default(ajv);
  for (const format of ['unixtime', 'binary', 'byte', 'int32', 'int64', 'float', 'double', 'password']) ajv.addFormat(format, true);
  ajv.addSchema(converted);
  const compiled = new Map<string, ValidateFunction>();
  return {
    name,
    check(schema, value) {
      if (!(schema in schemas)) throw new Error(`${name} has no schema ${schema}`);
      let validate = compiled.get(schema);
      if (!validate) compiled.set(schema, (validate = ajv.getSchema(`${name}#/components/schemas/${schema}`)!));
      return validate(value) ? [] : describe(validate.errors ?? []);
    },
    member(union, tag) {
      for (const ref of membersOf(schemas[union])) {
        const target = schemas[refName(ref)];
        if (tagsOf(target, 'type', schemas).includes(tag)) return refName(ref);
      }
      return null;
    },
  };
}

const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);

function membersOf(schema: unknown): string[] {
  if (!isObject(schema)) return [];
  const list = (schema.oneOf ?? schema.anyOf ?? []) as unknown[];
  return list.flatMap((m) => (isObject(m) && typeof m.$ref === 'string' ? [m.$ref] : []));
}

/** The values a schema allows for `property`: its const, or its enum (through $ref and allOf). */
function tagsOf(schema: unknown, property: string, schemas: Record<string, unknown>, depth = 0): string[] {
  if (!isObject(schema) || depth > 8) return [];
  if (typeof schema.$ref === 'string') return tagsOf(schemas[refName(schema.$ref)], property, schemas, depth + 1);
  const prop = isObject(schema.properties) ? schema.properties[property] : undefined;
  if (isObject(prop)) {
    if (typeof prop.const === 'string') return [prop.const];
    if (Array.isArray(prop.enum)) return prop.enum.filter((v): v is string => typeof v === 'string');
  }
  return ((schema.allOf ?? []) as unknown[]).flatMap((part) => tagsOf(part, property, schemas, depth + 1));
}

/** One OpenAPI schema as JSON Schema 2020-12 (see the header). */
function convert(node: unknown, schemas: Record<string, unknown>): unknown {
  if (Array.isArray(node)) return node.map((n) => convert(n, schemas));
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties' && isObject(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, convert(s, schemas)]));
    else if (k.startsWith('x-') || k === 'nullable' || k === 'discriminator') continue;
    else if (k === 'type' && v === null) continue; // Anthropic's Model schema says "type": null for "any of these".
    else out[k] = convert(v, schemas);
  }
  const discriminated = discriminate(node, out, schemas);
  return node.nullable === true ? nullable(discriminated) : discriminated;
}

function nullable(schema: Json): Json {
  if (typeof schema.type === 'string') {
    const out: Json = { ...schema, type: [schema.type, 'null'] };
    if (Array.isArray(schema.enum) && !schema.enum.includes(null)) out.enum = [...schema.enum, null];
    return out;
  }
  return { anyOf: [schema, { type: 'null' }] };
}

/** A discriminated union checked member by member: `if` the tag is X, `then` X's schema. */
function discriminate(node: Json, out: Json, schemas: Record<string, unknown>): Json {
  const d = node.discriminator;
  const union = (node.oneOf ?? node.anyOf) as unknown[] | undefined;
  if (!isObject(d) || typeof d.propertyName !== 'string' || !Array.isArray(union)) return out;
  const property = d.propertyName;
  const mapping = isObject(d.mapping) ? (d.mapping as Record<string, string>) : {};
  const cases: Array<{ tags: string[]; schema: unknown }> = union.map((member, i) => {
    const ref = isObject(member) && typeof member.$ref === 'string' ? member.$ref : null;
    const mapped = ref ? Object.entries(mapping).filter(([, target]) => target === ref).map(([tag]) => tag) : [];
    return { tags: mapped.length > 0 ? mapped : tagsOf(member, property, schemas), schema: ((out.oneOf ?? out.anyOf) as unknown[])[i] };
  });
  if (cases.some((c) => c.tags.length === 0)) return out; // not every member names its tag: left a plain union
  const { oneOf: _o, anyOf: _a, ...rest } = out;
  return {
    ...rest,
    type: 'object',
    required: [...new Set([...((rest.required as string[] | undefined) ?? []), property])],
    properties: { ...(isObject(rest.properties) ? rest.properties : {}), [property]: { enum: cases.flatMap((c) => c.tags) } },
    allOf: [...((rest.allOf as unknown[] | undefined) ?? []), ...cases.map((c) => ({ if: { properties: { [property]: { enum: c.tags } } }, then: c.schema }))],
  };
}

/** Ajv's errors as one line each: where, what, and the allowed values where that helps. */
function describe(errors: ErrorObject[]): string[] {
  return errors
    .filter((e) => e.keyword !== 'if')
    .map((e) => `${e.instancePath || '(root)'} ${e.message}${e.keyword === 'enum' ? ` ${JSON.stringify(e.params.allowedValues)}` : ''}${e.keyword === 'additionalProperties' ? ` (${e.params.additionalProperty})` : ''}`);
}
