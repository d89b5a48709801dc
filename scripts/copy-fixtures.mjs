#!/usr/bin/env node
// Copies the recordings the tests and the benchmark replay from ../shared/fixtures into
// test/fixtures (same relative paths, bytes unchanged), with their provenance entries from
// SOURCES.md, so that a clone tests on its own. Run it after adding a fixture to FILES.
//   node scripts/copy-fixtures.mjs
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shared = join(root, '..', 'shared', 'fixtures');
const target = join(root, 'test', 'fixtures');
const files = readFileSync(join(target, 'FILES'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

const sources = readFileSync(join(shared, 'SOURCES.md'), 'utf8');
const head = sources.slice(0, sources.indexOf('## Files'));
const entries = [];
for (const file of files) {
  mkdirSync(dirname(join(target, file)), { recursive: true });
  copyFileSync(join(shared, file), join(target, file));
  const start = sources.indexOf(`- **\`${file}\`**`);
  if (start === -1) throw new Error(`no SOURCES.md entry for ${file}`);
  const next = sources.indexOf('\n- **`', start + 1);
  const nextHeading = sources.indexOf('\n#', start + 1);
  const end = Math.min(...[next, nextHeading, sources.length].filter((i) => i !== -1));
  const sha = createHash('sha256').update(readFileSync(join(target, file))).digest('hex');
  const entry = sources.slice(start, end).trimEnd();
  if (!entry.includes(sha)) throw new Error(`${file}: sha256 differs from its SOURCES.md entry`);
  entries.push(entry);
}
// No embeddings call was recorded; the fake upstream answers /embeddings with the example
// response of OpenAI's spec, extracted here (its "…1536 floats" elision line removed).
const spec = JSON.parse(readFileSync(join(shared, 'openai/openapi-spec/openai-openapi.json'), 'utf8'));
const example = spec.paths['/embeddings'].post['x-oaiMeta'].examples.response.replace(/\n\s*\.\.\.\.[^\n]*/, '').replace(/,(\s*\])/, '$1');
JSON.parse(example);
const embeddings = 'openai/embeddings-response.openapi-example.json';
writeFileSync(join(target, embeddings), example);
const specEntry = sources.slice(sources.indexOf('- **`openai/openapi-spec/openai-openapi.json`**'));
const specCommit = /commit: `([0-9a-f]{40})`/.exec(specEntry)?.[1];
entries.push(`- **\`${embeddings}\`**  
  source: \`openai/openai-openapi\`: \`openapi.json\`, \`paths./embeddings.post.x-oaiMeta.examples.response\` (the spec kept in the collection as \`openai/openapi-spec/openai-openapi.json\`)  
  commit: \`${specCommit}\`  
  licence: MIT. sha256 \`${createHash('sha256').update(example).digest('hex')}\`  
  method: JSON subtree extracted by scripts/copy-fixtures.mjs; its elision line \`.... (1536 floats total for ada-002)\` and the trailing comma before it removed, so it parses; nothing else changed  
  demonstrates: the documented shape of an embeddings response (object list, data[].embedding, usage.prompt_tokens / total_tokens).`);
writeFileSync(join(target, 'SOURCES.md'), `${head.trimEnd()}

## Files

This is the subset of the shared fixture collection that the tests and the benchmark replay,
copied byte for byte by \`scripts/copy-fixtures.mjs\` (the list is \`FILES\`); each entry is
the collection's own, its sha256 checked at copy time.

${entries.join('\n')}
`);
console.log(`copied ${files.length + 1} fixtures into test/fixtures`);
