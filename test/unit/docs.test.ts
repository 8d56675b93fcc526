/** The help files: every link resolves, and every command has a tag. */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const DOC = path.join(ROOT, 'doc');
const files = fs.readdirSync(DOC).filter((f) => f.endsWith('.txt'));
const text = files.map((f) => fs.readFileSync(path.join(DOC, f), 'utf8')).join('\n');
const tags = new Set([...text.matchAll(/(?:^|\s)\*([^*\s|]+)\*(?=\s|$)/gm)].map((m) => m[1]!));

describe(':help rune', () => {
  it("resolves every link to one of Rune's tags", () => {
    const links = [...text.matchAll(/\|([^|\s]+)\|/g)].map((m) => m[1]!);
    const ours = links.filter((l) => /^(rune|:Rune|g:rune)/.test(l));
    const broken = [...new Set(ours.filter((l) => !tags.has(l)))];
    expect(broken).toEqual([]);
  });

  it('has a tag for every :Rune command of the command table', () => {
    const table = fs.readFileSync(path.join(ROOT, 'lua', 'rune', 'commands.json'), 'utf8');
    const commands = (JSON.parse(table) as { name: string }[]).map((c) => c.name);
    expect(commands.length).toBeGreaterThan(10);
    expect(commands.filter((c) => !tags.has(`:${c}`))).toEqual([]);
  });

  it('keeps doc/tags in step with the files', () => {
    const built = fs
      .readFileSync(path.join(DOC, 'tags'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('\t')[0]);
    expect(new Set(built)).toEqual(tags);
  });
});
