--- :RunePlugins, the Lua side: ask the host for lines and show them.
--- The host runs the plugins (src/nvim/plugins.ts, src/plugins/); Lua only draws.
local M, H = {}, {}
local util = require('rune.util')

---@param lines string[]
function H.echo(lines)
  vim.api.nvim_echo({ { table.concat(lines, '\n') } }, true, {})
end

--- :RunePlugins [reload [id] | <id> <command> [args…]]
---@param o { args: string }|nil
function M.run(o)
  util.guard(function()
    local host = require('rune.host')
    local words = vim.split(vim.trim(o and o.args or ''), '%s+', { trimempty = true })
    if #words == 0 then
      H.echo(host.request('rune.plugins.lines'))
    elseif words[1] == 'reload' then
      H.echo(host.request('rune.plugins.reload', words[2] or ''))
    elseif #words == 1 then
      error('(rune) :RunePlugins ' .. words[1] .. ' needs a command name (see :RunePlugins)', 0)
    else
      local lines = host.request('rune.plugins.run', words[1], words[2], { unpack(words, 3) })
      if #lines > 0 then
        H.echo(lines)
      end
    end
  end)
end

--- Completion for :RunePlugins.
---@param arglead string
---@param cmdline string
---@return string[]
function M.complete(arglead, cmdline)
  local before = cmdline:sub(1, #cmdline - #arglead)
  local ok, items = pcall(require('rune.host').request, 'rune.plugins.complete', before)
  if not ok then
    return {}
  end
  return vim.tbl_filter(function(s)
    return vim.startswith(s, arglead)
  end, items)
end

return M
