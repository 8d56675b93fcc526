import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { startNvim, waitFor, ROOT } from '../helpers/nvim.js';

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
