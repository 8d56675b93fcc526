import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { startNvim, waitFor, ROOT, type TestNvim } from '../helpers/nvim.js';

type Row = {
  name: string;
  nargs?: string;
  range?: boolean;
  bang?: boolean;
  complete?: unknown;
};
const TABLE = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'lua', 'rune', 'commands.json'), 'utf8'),
) as Row[];

/** What the table says each command takes, as nvim_get_commands() reports it. */
const fromTable = () =>
  Object.fromEntries(
    TABLE.map((c) => [
      c.name,
      {
        nargs: c.nargs ?? '0',
        range: c.range ? '.' : null,
        bang: c.bang ?? false,
        complete: c.complete ? `v:lua.require'rune.commands'.completers.${c.name}` : null,
      },
    ]),
  );

/** The :Rune* commands Neovim knows, with their arguments, range and bang. */
const declared = (t: TestNvim) =>
  t.lua<Record<string, { nargs: string; range: string | null; bang: boolean; complete: unknown }>>(
    `local out = {}
     for name, c in pairs(vim.api.nvim_get_commands({})) do
       if name:match('^Rune') then
         out[name] = { nargs = c.nargs, range = c.range or vim.NIL, bang = c.bang,
           complete = c.complete_arg or vim.NIL }
       end
     end
     return out`,
  );

describe('the command table', () => {
  it('defines every command of lua/rune/commands.json from plugin/rune.lua', async () => {
    const t = await startNvim();
    expect(await declared(t)).toEqual(fromTable());
    expect(await t.lua("return vim.fn.getcompletion('RuneComplete ', 'cmdline')")).toEqual([
      'toggle',
      'enable',
      'disable',
    ]);
  });
});

describe('classic remote plugin (:UpdateRemotePlugins)', () => {
  it('serves :RuneStatus through the node-client plugin host', async () => {
    const hostProg = path.join(ROOT, 'node_modules', '.bin', 'neovim-node-host');
    const pre = [`let g:node_host_prog = '${hostProg}'`, 'let g:rune_rplugin = 1'];
    const t = await startNvim({ preCmds: pre });
    const manifest = path.join(t.home, 'rplugin.vim');
    // Without the manifest, plugin/rune.lua leaves the commands to the rplugin.
    expect(await t.lua('return vim.fn.exists(":RuneStatus")')).toBe(0);
    // `--clean` skips loading the manifest; point it where a user's would be.
    await t.nvim.setVar('loaded_remote_plugins', manifest);
    await t.nvim.command('UpdateRemotePlugins');
    const text = fs.readFileSync(manifest, 'utf8');
    expect(text).toContain(path.join(ROOT, 'rplugin', 'node', 'rune'));
    expect(text).toContain("'name': 'RuneStatus'");
    await t.nvim.command(`source ${manifest}`);
    expect(await t.lua('return vim.fn.exists(":RuneStatus")')).toBe(2);
    // Every command of the one table, with its arguments, range, bang and completion.
    expect(await declared(t)).toEqual(fromTable());
    expect(await t.lua("return vim.fn.getcompletion('RuneStats ', 'cmdline')")).toEqual(['reset']);

    // The command runs in the plugin host, and the core answers through RuneRequest.
    await t.nvim.command('RuneStatus');
    const status = await waitFor(async () => {
      const out = (await t.nvim.commandOutput('messages')) as string;
      return /host ready/.test(out) ? out : '';
    });
    const pid = Number(/pid +(\d+)/.exec(status)?.[1]);
    const hostChan = await t.lua<number>(
      `for _, c in ipairs(vim.api.nvim_list_chans()) do
         if c.argv and vim.tbl_contains(c.argv, ...) then return c.id end
       end
       return -1`,
      [hostProg],
    );
    expect(hostChan).toBeGreaterThan(0);
    const jobPid = await t.lua<number>(`return vim.fn.jobpid(${hostChan})`);
    expect(pid).toBe(jobPid);
    // A request from Lua goes through the same core.
    expect(await t.lua('return require("rune.host").request("rune.ping")')).toBe('pong');
  });
});
