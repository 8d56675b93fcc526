// Writes the files generated from the config schema (src/nvim/config-schema.ts,
// built to dist/): lua/rune/config_schema.lua and doc/rune-options.txt.
// Run by `npm run build` after tsc, and alone as `npm run gen-config`.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { renderLuaSchema, renderOptionsDoc, handWrittenTags } = await import(
  join(root, 'dist', 'nvim', 'config-schema.js')
);

const doc = join(root, 'doc');
const texts = readdirSync(doc)
  .filter((f) => f.endsWith('.txt') && f !== 'rune-options.txt')
  .map((f) => readFileSync(join(doc, f), 'utf8'));

const write = (file, text) => {
  const path = join(root, file);
  let old;
  try {
    old = readFileSync(path, 'utf8');
  } catch {
    old = undefined;
  }
  if (old !== text) writeFileSync(path, text);
};
write('lua/rune/config_schema.lua', renderLuaSchema());
write('doc/rune-options.txt', renderOptionsDoc(handWrittenTags(texts)));
