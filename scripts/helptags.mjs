// Generates doc/tags from the *tag* anchors in doc/*.txt, as :helptags does,
// so the build needs no Neovim. Fails on a duplicate tag.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const doc = join(dirname(fileURLToPath(import.meta.url)), '..', 'doc');
const tags = new Map();
for (const file of readdirSync(doc).filter((f) => f.endsWith('.txt'))) {
  const text = readFileSync(join(doc, file), 'utf8');
  for (const line of text.split('\n')) {
    for (const m of line.matchAll(/(?:^|\s)\*([^*\s|]+)\*(?=\s|$)/g)) {
      const tag = m[1];
      if (tags.has(tag)) {
        console.error(`helptags: duplicate tag *${tag}* in ${file} and ${tags.get(tag)}`);
        process.exit(1);
      }
      tags.set(tag, file);
    }
  }
}
const lines = [...tags]
  .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  .map(([tag, file]) => `${tag}\t${file}\t/*${tag.replace(/[\\/]/g, '\\$&')}*`);
writeFileSync(join(doc, 'tags'), lines.join('\n') + '\n');
