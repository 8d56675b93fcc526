/**
 * zeke.nvim and Rune side by side in one headless Neovim: zeke.nvim's own Lua (vendored in
 * test/fixtures/zeke.nvim) is set up first, as in a user's config, then Rune starts its
 * host, MCP server and inline completion. zeke.nvim's commands, keys and lock file must
 * come out unchanged.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';

const ZEKE_NVIM = path.join(ROOT, 'test', 'fixtures', 'zeke.nvim');

let t: TestNvim | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

interface Snapshot {
  commands: Record<string, string>;
  keys: Record<string, string>;
}

/** zeke.nvim's commands (name → definition) and its mappings (mode+lhs → rhs or callback). */
const SNAPSHOT = `
  local out = { commands = {}, keys = {} }
  for name, c in pairs(vim.api.nvim_get_commands({})) do
    if name:match('^Zeke') then out.commands[name] = c.definition or '' end
  end
  for _, mode in ipairs({ 'n', 'v', 'x', 'i' }) do
    for _, m in ipairs(vim.api.nvim_get_keymap(mode)) do
      local desc = m.desc or ''
      if not desc:match('^rune') and (desc:lower():match('zeke') or m.callback or (m.rhs or ''):match('[Zz]eke')) then
        out.keys[mode .. ' ' .. m.lhs] = (m.rhs or '') .. '|' .. tostring(m.callback) .. '|' .. desc
      end
    end
  end
  return out
`;

describe('zeke.nvim next to Rune', () => {
  it("keeps zeke.nvim's commands, keys and lock file, and Rune's own work too", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-zeke-nvim-'));
    t = await startNvim({
      home,
      env: { HOME: home },
      preCmds: [`set rtp^=${ZEKE_NVIM}`],
    });
    // zeke.nvim writes its lock file with vim.json.encode's options, new in Neovim 0.11.
    const lockable = await t.lua<boolean>('return vim.fn.has("nvim-0.11") == 1');
    await t.lua(`require('zeke').setup({ create_lockfile = ${String(lockable)} })`);
    const zekeLock = path.join(home, '.zeke', 'ide', '0.lock');
    const lockBefore = lockable ? fs.readFileSync(zekeLock, 'utf8') : undefined;
    const before = await t.lua<Snapshot>(SNAPSHOT);
    expect(Object.keys(before.commands)).toEqual(expect.arrayContaining(['ZekeChat', 'ZekeCode']));
    expect(Object.keys(before.keys)).toContain('i <Tab>');

    // Rune as the same config would add it, with every part started.
    await t.lua(`require('rune').setup({ mcp = { zeke = { enabled = true } } })`);
    const status = await t.lua<{ state: string }>(
      'return require("rune.host").request("rune.status")',
    );
    expect(status.state).toBe('ready');
    await t.nvim.input('i');
    await waitFor(
      () => t!.lua<boolean>('return next(require("rune.ghost").conflicts or {}) ~= nil'),
      15000,
      "Rune's completion keys",
    );
    await t.nvim.input('<Esc>');

    // zeke.nvim's commands and keys are as zeke.nvim left them.
    expect(await t.lua<Snapshot>(SNAPSHOT)).toEqual(before);
    const runeCommands = await t.lua<string[]>(
      'local n = {} for k in pairs(vim.api.nvim_get_commands({})) do if k:match("^Rune") then n[#n + 1] = k end end return n',
    );
    expect(runeCommands).toEqual(expect.arrayContaining(['RuneChat', 'RuneMcp', 'RuneStatus']));
    // Rune left the insert keys zeke.nvim maps to it and says which (:checkhealth too).
    expect(await t.lua<Record<string, string>>('return require("rune.ghost").conflicts')).toEqual({
      accept: '<Tab>',
      next: '<M-]>',
      prev: '<M-[>',
      dismiss: '<C-]>',
    });

    // zeke.nvim's lock file is untouched and alone; Rune's lives in Neovim's state folder.
    if (lockable) {
      expect(fs.readFileSync(zekeLock, 'utf8')).toBe(lockBefore);
      expect(fs.readdirSync(path.dirname(zekeLock))).toEqual(['0.lock']);
    } else {
      expect(fs.existsSync(path.join(home, '.zeke'))).toBe(false);
    }
    const runeLocks = path.join(home, 'state', 'nvim', 'rune', 'mcp');
    await waitFor(() => fs.existsSync(runeLocks) && fs.readdirSync(runeLocks).length > 0);
  });
});
