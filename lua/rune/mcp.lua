--- Rune's MCP server, the Lua side: `:RuneMcp`, waking the host for `rune mcp`,
--- and forwarding editor changes to the host. The editor accessors the MCP tools
--- use are lua/rune/editor.lua.
local M, H = {}, {}
local util = require('rune.util')

---@class rune.McpServerInfo
---@field url string
---@field port integer
---@field token string
---@field lock string|nil

---@type rune.McpServerInfo|nil
H.server = nil
H.pending = {} ---@type table<string, boolean>
H.timer = nil

-- ---------------------------------------------------------------------------
-- Host side hooks
-- ---------------------------------------------------------------------------

--- Called by the host once its server listens.
---@param info rune.McpServerInfo
function M._server(info)
  H.server = info
  H.attach()
end

--- Called by the host when its server stops.
function M._stopped()
  H.server = nil
  pcall(vim.api.nvim_del_augroup_by_name, 'rune.mcp')
  -- Nobody waits for these answers any more.
  if package.loaded['rune.approval'] then
    require('rune.approval').clear()
  end
end

--- The server's address once known (nil before), without starting anything.
---@return rune.McpServerInfo|nil
function M.address()
  return H.server
end

--- Starts the host if needed, for `rune mcp` arriving over Neovim's RPC socket.
--- Returns at once: `{ state = 'ready', server = … }`, `{ state = 'starting' }`,
--- or `{ state = 'failed', error = … }`; the caller polls.
---@return table
function M.wake()
  if H.server then
    return { state = 'ready', server = H.server }
  end
  local cfg = require('rune').config().mcp
  if cfg.enabled == false then
    return { state = 'failed', error = 'the MCP server is off (mcp.enabled = false)' }
  end
  local host = require('rune.host')
  if not host.is_running() then
    if not host.start() then
      return { state = 'failed', error = host.info().last_error or 'the host did not start' }
    end
  end
  local info = host.info()
  if info.state == 'failed' then
    return { state = 'failed', error = info.last_error }
  end
  return { state = 'starting' }
end

-- Editor changes the host turns into resource notifications, coalesced.
function H.changed(kind, buf)
  H.pending[kind .. ':' .. tostring(buf or '')] = true
  if H.timer then
    return
  end
  H.timer = vim.defer_fn(function()
    H.timer = nil
    local items = {}
    for key in pairs(H.pending) do
      local k, b = key:match('^(%w+):(.*)$')
      items[#items + 1] = { kind = k, buf = tonumber(b) }
    end
    H.pending = {}
    if H.server then
      require('rune.host').notify('rune.mcp.changed', items)
    end
  end, 50)
end

function H.attach()
  local group = vim.api.nvim_create_augroup('rune.mcp', { clear = true })
  vim.api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI', 'BufWritePost' }, {
    group = group,
    callback = function(ev)
      H.changed('buffer', ev.buf)
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufAdd', 'BufDelete' }, {
    group = group,
    callback = function()
      H.changed('list', nil)
    end,
  })
  vim.api.nvim_create_autocmd('DiagnosticChanged', {
    group = group,
    callback = function()
      H.changed('diagnostics', nil)
    end,
  })
end

-- ---------------------------------------------------------------------------
-- :RuneMcp
-- ---------------------------------------------------------------------------

--- Lines of the hub section of the `:RuneMcp` view, and the server named on each line.
---@param hub { files: string[], servers: table[] }|nil the host's `rune.hub.status` answer
---@return string[] lines
---@return table<integer, string> server name per line (1-based within `lines`)
function M.format_hub(hub)
  local lines, at = { '' }, {}
  if not hub then
    lines[#lines + 1] = 'MCP hub: not running (mcp.hub.enabled, or see :checkhealth rune)'
    return lines, at
  end
  lines[#lines + 1] = ('MCP hub servers (%d)  e enable · d disable · r restart · :RuneMcp servers'):format(
    #hub.servers
  )
  local hubui = require('rune.hub')
  local warning = hubui.sandbox_line(hub)
  if warning then
    lines[#lines + 1] = '  ' .. warning
  end
  if #hub.servers == 0 then
    lines[#lines + 1] = '  none configured (:help rune-hub)'
  end
  for _, s in ipairs(hub.servers) do
    lines[#lines + 1] = '  ' .. hubui.server_line(s)
    at[#lines] = s.name
    for _, l in ipairs(hubui.server_details(s)) do
      lines[#lines + 1] = '  ' .. l
      at[#lines] = s.name
    end
  end
  return lines, at
end

--- Lines of the `:RuneMcp` view.
---@param info table the host's `rune.mcp.info` answer
---@return string[]
function M.format_info(info)
  local lines = {
    'Rune MCP server',
    '',
    '  address  ' .. info.url,
    '  token    ' .. info.token,
    '  lock     ' .. (util.val(info.lock) or '-'),
    '  audit    ' .. (util.val(info.audit_log) or '-'),
    '',
    ('Clients (%d)'):format(#info.clients),
  }
  for _, c in ipairs(info.clients) do
    lines[#lines + 1] = ('  %-30s %-6s since %s  in flight %d'):format(
      c.client,
      c.transport or 'http',
      c.since,
      c.inFlight
    )
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = ('Recent calls (%d)'):format(#info.recent)
  for i = #info.recent, math.max(1, #info.recent - 19), -1 do
    local r = info.recent[i]
    lines[#lines + 1] = ('  %s  %-20s %-8s %5d ms  %s'):format(
      r.t:sub(12, 19),
      r.tool,
      r.result,
      r.ms,
      r.client
    )
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = 'Setup (yank what you need)'
  for _, s in ipairs(info.snippets) do
    lines[#lines + 1] = ''
    lines[#lines + 1] = '  ' .. s.title
    for _, l in ipairs(vim.split(s.text, '\n')) do
      lines[#lines + 1] = '    ' .. l
    end
  end
  if #info.pending > 0 then
    lines[#lines + 1] = ''
    lines[#lines + 1] = ('%d approval(s) waiting: :RuneMcp approve'):format(#info.pending)
  end
  return lines
end

H.verbs = { enable = true, disable = true, restart = true, signout = true }

--- Completion of `:RuneMcp`: subcommands, then server names after enable/disable/restart
--- (only when the host already runs: completing never starts it).
---@param lead string
---@param line string
---@return string[]
function M.complete(lead, line)
  local words = vim.split(vim.trim(line), '%s+')
  local verb = words[2]
  if verb and H.verbs[verb] and (#words > 2 or line:match('%s$')) then
    if not require('rune.host').is_running() then
      return {}
    end
    local st = require('rune.hub').status()
    local names = {}
    for _, s in ipairs(st and st.servers or {}) do
      if vim.startswith(s.name, lead) then
        names[#names + 1] = s.name
      end
    end
    return names
  end
  return vim.tbl_filter(function(c)
    return vim.startswith(c, lead)
  end, { 'approve', 'reset', 'servers', 'cancel', 'enable', 'disable', 'restart', 'signout' })
end

--- `:RuneMcp [approve|reset|servers|cancel|enable|disable|restart|signout {name}]`.
---@param opts { args: string }
function M.command(opts)
  local arg = vim.trim(opts.args or '')
  local verb, server = arg:match('^(%a+)%s+(%S+)$')
  if verb and H.verbs[verb] then
    if require('rune.hub').act(verb, server) then
      util.notify(('MCP server %s: %s requested'):format(server, verb))
    end
    return
  end
  if H.verbs[arg] then
    util.notify(('usage: :RuneMcp %s {server}'):format(arg), vim.log.levels.WARN)
    return
  end
  if arg == 'servers' then
    require('rune.hub').servers()
    return
  end
  if arg == 'cancel' then
    require('rune.hub').cancel()
    return
  end
  if arg == 'approve' then
    if not require('rune.approval').focus() then
      util.notify('no approval is waiting')
    end
    return
  end
  local ok, res = pcall(function()
    if arg == 'reset' then
      return require('rune.host').request('rune.mcp.reset_approvals')
    end
    return require('rune.host').request('rune.mcp.info')
  end)
  if not ok then
    vim.notify(tostring(res), vim.log.levels.ERROR)
    return
  end
  if arg == 'reset' then
    util.notify('approvals for this project forgotten')
    return
  end
  local buf = vim.api.nvim_create_buf(false, true)
  local at = {}
  local function draw(hub)
    local lines = M.format_info(res)
    local hub_lines, hub_at = M.format_hub(hub)
    at = {}
    for i, l in ipairs(hub_lines) do
      lines[#lines + 1] = l
      at[#lines] = hub_at[i]
    end
    vim.bo[buf].modifiable = true
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].modifiable = false
  end
  draw(require('rune.hub').status())
  vim.bo[buf].bufhidden = 'wipe'
  pcall(vim.api.nvim_buf_set_name, buf, 'rune://mcp')
  vim.cmd.split()
  vim.api.nvim_win_set_buf(0, buf)
  vim.keymap.set('n', 'q', '<cmd>close<cr>', { buffer = buf, nowait = true })
  for key, v in pairs({ e = 'enable', d = 'disable', r = 'restart' }) do
    vim.keymap.set('n', key, function()
      local name = at[vim.api.nvim_win_get_cursor(0)[1]]
      if not name then
        return
      end
      local st = require('rune.hub').act(v, name)
      if st then
        draw(st)
      end
    end, { buffer = buf, nowait = true, desc = 'Rune: ' .. v .. ' the MCP server' })
  end
end

return M
