--- Implementations of the :Rune* commands.
---
--- Every command is one row of lua/rune/commands.json (name, implementation here, nargs,
--- range, bang, completion, description), which both plugin/rune.lua and the remote-plugin
--- entry (rplugin/node/rune/index.js) read. To add a command, add its row there and its
--- function here; `complete` is a list of words or a `module.function` returning matches.
local M = {}
local util = require('rune.util')

--- The command table (lua/rune/commands.json).
---@return { name: string, impl: string, complete?: string|string[] }[]
function M.table()
  local file = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h') .. '/commands.json'
  local f = assert(io.open(file, 'r'))
  local rows = vim.json.decode(f:read('*a'))
  f:close()
  return rows
end

--- Completion functions by command name, for `-complete=customlist,` (both entries use
--- the `customlist` string from M.complete_arg).
---@type table<string, fun(arglead: string, cmdline: string, pos: integer): string[]>
M.completers = {}
for _, c in ipairs(M.table()) do
  local spec = c.complete
  if type(spec) == 'table' then
    M.completers[c.name] = function()
      return spec
    end
  elseif type(spec) == 'string' then
    local mod, fn = spec:match('^(.*)%.([%w_]+)$')
    M.completers[c.name] = function(...)
      return require(mod)[fn](...)
    end
  end
end

local function guard(fn)
  return function(...)
    local ok, err = pcall(fn, ...)
    if not ok then
      vim.notify(tostring(err), vim.log.levels.ERROR)
    end
  end
end

--- Formats a status table as lines.
---@param s table
---@return string[]
function M.format_status(s)
  s = vim.tbl_map(util.val, s)
  local uptime = math.floor((s.uptime_ms or 0) / 1000)
  return {
    ('Rune %s — host %s'):format(s.version or '?', s.state or '?'),
    ('  pid      %s'):format(s.pid or '?'),
    ('  uptime   %dh %02dm %02ds'):format(
      math.floor(uptime / 3600),
      math.floor(uptime / 60) % 60,
      uptime % 60
    ),
    ('  node     %s'):format(s.node or '?'),
    ('  channel  %s'):format(s.channel or '?'),
    ('  log      %s'):format(s.log_file or require('rune.host').log_file()),
  }
end

--- Shows the status lines (also used by the rplugin entry).
---@param s table
function M.show_status(s)
  vim.api.nvim_echo({ { table.concat(M.format_status(s), '\n') } }, true, {})
end

M.status = guard(function()
  local s = require('rune.host').request('rune.status')
  M.show_status(s)
end)

M.log = guard(function()
  local file = require('rune.host').log_file()
  if vim.fn.filereadable(file) == 0 then
    util.notify('no log yet at ' .. file .. ' (the host writes it once started)')
    return
  end
  vim.cmd('split ' .. vim.fn.fnameescape(file))
  vim.bo.readonly = true
  vim.bo.autoread = true
  vim.cmd.normal({ 'G', bang = true })
end)

M.restart = guard(function()
  require('rune.host').restart()
  require('rune.host').wait()
  util.notify('host restarted')
end)

--- :RuneComplete [toggle|enable|disable] (lua/rune/completion.lua).
function M.complete(o)
  require('rune.completion').command(o)
end

--- :RuneChat[!] [question], :RuneStop, :RuneChatHistory, :RuneChatModel (lua/rune/chat.lua).
--- Their errors are shown, never thrown at the user.
M.chat = guard(function(o)
  require('rune.chat').open(o)
end)
M.chat_stop = guard(function()
  require('rune.chat').stop()
end)
M.chat_history = guard(function()
  require('rune.chat').history()
end)
M.chat_model = guard(function()
  require('rune.chat').select_model()
end)

--- :RuneEdit {instruction} (lua/rune/edit.lua).
M.edit = guard(function(o)
  require('rune.edit').command(o)
end)

--- :RuneAuth [provider] [login|logout|status] (lua/rune/auth.lua).
function M.auth(o)
  require('rune.auth').command(o)
end

function M.mcp(o)
  require('rune.mcp').command(o)
end

function M.stats(o)
  require('rune.stats').stats(o)
end

function M.plugins(o)
  require('rune.plugins').run(o)
end

--- :RuneSetup (lua/rune/setup.lua): pick the model provider when none is configured.
M.setup = guard(function()
  require('rune.setup').open()
end)

--- :RunePull[!] {model} (lua/rune/progress.lua): pull an Ollama model with progress.
function M.pull(o)
  require('rune.progress').pull(o)
end

--- :RuneCopilotInstall[!] [version] (lua/rune/progress.lua): install the Copilot language
--- server with progress.
function M.copilot_install(o)
  require('rune.progress').copilot_install(o)
end

--- Tells what :RuneInstallCli did (or would leave alone) and whether the folder is on PATH.
---@param plan table the host's `rune.cli.plan` / `rune.cli.install` answer
---@return string[]
function M.format_cli_plan(plan)
  local words = {
    missing = 'not linked yet',
    linked = 'linked',
    foreign = "left alone: another file is there (remove it to link Rune's)",
  }
  local lines = {}
  for _, l in ipairs(plan.links) do
    lines[#lines + 1] = ('%s -> %s  %s'):format(l.link, l.target, words[l.state] or l.state)
  end
  if not plan.onPath then
    lines[#lines + 1] = plan.dir
      .. ' is not on your PATH: add `export PATH="$HOME/.local/bin:$PATH"` to your shell profile'
  end
  return lines
end

--- :RuneInstallCli: asks, then links the plugin's `rune` (and `rune-mcp`) into ~/.local/bin.
M.install_cli = guard(function()
  local host = require('rune.host')
  local plan = host.request('rune.cli.plan')
  local todo = vim.tbl_filter(function(l)
    return l.state == 'missing'
  end, plan.links)
  if #todo == 0 then
    util.notify(table.concat(M.format_cli_plan(plan), '\n'))
    return
  end
  local names = table.concat(
    vim.tbl_map(function(l)
      return l.name
    end, todo),
    ', '
  )
  vim.ui.select(
    { 'Link', 'Cancel' },
    { prompt = ('Link %s into %s?'):format(names, plan.dir) },
    function(choice)
      if choice ~= 'Link' then
        util.notify('nothing linked')
        return
      end
      local ok, res = pcall(host.request, 'rune.cli.install')
      if not ok then
        util.notify(tostring(res), vim.log.levels.ERROR)
        return
      end
      util.notify(table.concat(M.format_cli_plan(res), '\n'))
    end
  )
end)

return M
