--- :RuneStats, the Lua side: ask the host for lines and show them.
--- The host computes everything (metrics); Lua only draws.
local M, H = {}, {}
local util = require('rune.util')

H.stats_buf = nil ---@type integer|nil

--- Shows `lines` in a scratch buffer named `name`, reusing its window when open.
---@param name string
---@param lines string[]
---@return integer buf
function H.scratch(name, lines)
  local buf = H.stats_buf
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, name)
    vim.bo[buf].bufhidden = 'wipe'
    vim.bo[buf].filetype = 'runestats'
    vim.keymap.set('n', 'q', '<cmd>close<cr>', { buffer = buf, nowait = true, desc = 'close' })
    H.stats_buf = buf
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  local win = vim.fn.bufwinid(buf)
  if win == -1 then
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, buf)
    vim.api.nvim_win_set_height(0, math.min(#lines + 1, math.floor(vim.o.lines / 2)))
  else
    vim.api.nvim_set_current_win(win)
  end
  return buf
end

--- :RuneStats [reset]
---@param o { args: string }|nil
function M.stats(o)
  util.guard(function()
    local host = require('rune.host')
    if vim.trim(o and o.args or '') == 'reset' then
      host.request('rune.stats.reset')
      util.notify('stats reset')
      return
    end
    H.scratch('rune://stats', host.request('rune.stats.lines'))
  end)
end

--- Counts an accepted inline completion drawn by something other than Rune's own
--- ghost text (a plugin's, say). Rune's ghost text reports its acceptances itself
--- (rune.ghost → `rune.completion.accepted`), once per suggestion; do not call this
--- for those too.
---@param provider string
---@param kind 'all'|'word'|'line'
function M.accepted(provider, kind)
  require('rune.host').notify('rune.stats.accepted', provider, kind)
end

return M
