/**
 * The host runs Lua in Neovim only by calling named functions of Rune's Lua modules
 * (`require("rune.x").fn(...)`), so luacheck sees all of Rune's Lua and each snippet has one
 * home. This scans src/ for the code strings given to `nvim.lua(…)` and `execLua(…)`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/dist.js';

/** A call of a function of a Rune Lua module, its arguments `...` or a log level. */
const NAMED =
  /^(return )?require\("rune(\.[a-z_]+)*"\)(\.[A-Za-z_]+)+\((\.\.\.(, vim\.log\.levels\.[A-Z]+)?)?\)$/;

/** Code strings that cannot be a named call, each with its reason. */
const EXCEPTIONS = new Map<string, string>([
  // The CLI wakes any Neovim it finds, where Rune may not be installed: it must pcall require.
  [
    'local ok, m = pcall(require, "rune.mcp") if not ok then return { state = "missing", error = m } end return m.wake()',
    'src/mcp/discover.ts',
  ],
  // The level is chosen at run time.
  [
    "require(\"rune.util\").notify(..., vim.log.levels.${level === 'warn' ? 'WARN' : 'INFO'})",
    'src/nvim/providers.ts',
  ],
  ['require("rune.util").notify(..., vim.log.levels.${level})', 'src/nvim/hub/index.ts'],
  // The Editor port calls the functions of its Lua side (lua/rune/editor.lua) by name.
  ['return ${API}.${fn}(...)', 'src/nvim/editor.ts'],
  // Neovim's own version, for the Copilot sign-in's editor info.
  ['return tostring(vim.version())', 'src/nvim/auth.ts'],
]);

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

/** Every literal code string passed to nvim.lua() or execLua(), with its file. */
function luaStrings(): { file: string; code: string }[] {
  const out: { file: string; code: string }[] = [];
  const call = /(?:\.lua\(\s*|execLua(?:<[^>]*>)?\(\s*[\w.]+,\s*)(['"`])((?:\\.|(?!\1)[^\\])*)\1/g;
  for (const file of sources(path.join(ROOT, 'src'))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(call))
      out.push({ file: path.relative(ROOT, file), code: m[2]!.replace(/\s+/g, ' ').trim() });
  }
  return out;
}

describe('Lua called from the host', () => {
  it('finds the calls it checks', () => {
    expect(luaStrings().length).toBeGreaterThan(30);
  });

  it('calls named functions of lua/rune modules, apart from the listed exceptions', () => {
    const inline = luaStrings().filter(
      ({ file, code }) => !NAMED.test(code) && EXCEPTIONS.get(code) !== file,
    );
    expect(inline).toEqual([]);
  });

  it('names only functions that exist', () => {
    for (const { file, code } of luaStrings()) {
      const m = /require\("(rune[.a-z_]*)"\)\.([A-Za-z_]+)\(/.exec(code);
      if (!m) continue;
      const parts = m[1] === 'rune' ? ['rune', 'init'] : m[1]!.split('.');
      const lua = fs.readFileSync(path.join(ROOT, 'lua', ...parts) + '.lua', 'utf8');
      expect(
        new RegExp(`^(function M\\.${m[2]}\\(|M\\.${m[2]} = )`, 'm').test(lua),
        `${file}: ${code}`,
      ).toBe(true);
    }
  });
});
