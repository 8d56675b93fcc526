import type { TestNvim } from './nvim.js';

/** One progress update the host sent (lua/rune/progress.lua's `update`), with its key. */
export interface ProgressSeen {
  key: string;
  status: string;
  title?: string;
  text: string;
  percent?: number;
}

/**
 * Records every progress update the host sends and, on Neovim 0.12, every `Progress`
 * event Neovim emits for Rune. Resolves whether Neovim has those events (0.12).
 */
export async function recordProgress(t: TestNvim): Promise<boolean> {
  await t.lua(`
    local p = require('rune.progress')
    local orig = p.update
    _G.seen, _G.events = {}, {}
    p.update = function(k, x) table.insert(_G.seen, vim.tbl_extend('force', { key = k }, x)); orig(k, x) end
    if vim.fn.has('nvim-0.12') == 1 then
      vim.api.nvim_create_autocmd('Progress', { pattern = 'rune', callback = function(ev)
        table.insert(_G.events, { id = ev.data.id, status = ev.data.status })
      end })
    end
  `);
  return t.lua<boolean>("return vim.fn.has('nvim-0.12') == 1");
}

/** The updates recorded so far, oldest first. */
export const progressSeen = (t: TestNvim): Promise<ProgressSeen[]> =>
  t.lua<ProgressSeen[]>('return _G.seen');
