/**
 * The config schema is the one definition of every option: the files made
 * from it (lua/rune/config_schema.lua, doc/rune-options.txt) must match it, and
 * the reference must list every option with its default.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  configOptions,
  configSchema,
  handWrittenTags,
  renderLuaSchema,
  renderOptionsDoc,
} from '../../../src/nvim/config-schema.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const handWritten = () =>
  fs
    .readdirSync(path.join(ROOT, 'doc'))
    .filter((f) => f.endsWith('.txt') && f !== 'rune-options.txt')
    .map((f) => read(path.join('doc', f)));

/** The leaves of the defaults, as dotted paths (maps such as completion.filetypes are one leaf). */
function defaultLeaves(): Map<string, unknown> {
  const sections = new Set(
    configOptions()
      .filter((o) => o.section)
      .map((o) => o.path),
  );
  const out = new Map<string, unknown>();
  const walk = (v: Record<string, unknown>, prefix: string) => {
    for (const [k, x] of Object.entries(v)) {
      const p = prefix ? `${prefix}.${k}` : k;
      if (sections.has(p)) walk(x as Record<string, unknown>, p);
      else out.set(p, x);
    }
  };
  walk(configSchema.parse({}) as Record<string, unknown>, '');
  return out;
}

/** A value as written in Lua, as the reference shows defaults. */
function asLua(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  const items = Array.isArray(v)
    ? v.map(asLua)
    : v && typeof v === 'object'
      ? Object.entries(v).map(([k, x]) => `${/^\w+$/.test(k) ? k : `['${k}']`} = ${asLua(x)}`)
      : undefined;
  if (!items) return String(v);
  return items.length ? `{ ${items.join(', ')} }` : '{}';
}

describe('files generated from the config schema', () => {
  it('are up to date (run `npm run gen-config` when this fails)', () => {
    expect(read('lua/rune/config_schema.lua'), 'run `npm run gen-config`').toBe(renderLuaSchema());
    expect(read('doc/rune-options.txt'), 'run `npm run gen-config`').toBe(
      renderOptionsDoc(handWrittenTags(handWritten())),
    );
  });

  it('fail the check when the schema changes and the files do not', () => {
    const host = configSchema.shape.host.unwrap().extend({
      node: z.string().default('nodejs').describe('Node.js executable'),
    });
    const changed = configSchema.extend({ host: host.prefault({}).describe('The host') });
    expect(renderLuaSchema(changed)).not.toBe(read('lua/rune/config_schema.lua'));
    expect(renderOptionsDoc(new Set(), changed)).toContain("Default: `'nodejs'`.");
  });

  it('list every option of the reference with its default', () => {
    const doc = read('doc/rune-options.txt');
    const leaves = defaultLeaves();
    expect(leaves.size).toBeGreaterThan(100);
    for (const [key, value] of leaves) {
      const at = doc.indexOf(`*rune-option-${key}*`);
      expect(at, key).toBeGreaterThan(0);
      const entry = doc.slice(at, doc.indexOf('\n\n', at));
      expect(entry.replace(/\s+/g, ' '), key).toContain(`Default: \`${asLua(value)}\`.`);
    }
  });

  it('declare every option as a LuaCATS field for lua-language-server', () => {
    const lua = read('lua/rune/config_schema.lua');
    expect(lua).toContain('---@field debounce_ms? integer Quiet time after a keystroke');
    expect(lua).toContain("---@field log_level? 'debug'|'info'|'warn'|'error'");
    for (const o of configOptions()) {
      const name = o.path.split('.').pop()!;
      expect(lua, o.path).toMatch(new RegExp(`^---@field ${name}\\? `, 'm'));
    }
  });

  it('describe every option, and give the options without a default as "none"', () => {
    const doc = read('doc/rune-options.txt');
    for (const o of configOptions()) {
      expect(o.description, o.path).toBeTruthy();
      if (!o.section && o.default === undefined) {
        const at = doc.indexOf(`*rune-option-${o.path}*`);
        expect(doc.slice(at, doc.indexOf('\n\n', at)), o.path).toContain('Default: none.');
      }
    }
  });
});
