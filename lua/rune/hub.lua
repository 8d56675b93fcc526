--- The MCP hub in Neovim: the server list, resources and prompts. Its
--- questions (chat models' tool calls, servers' sampling and elicitation
--- requests) are asked by lua/rune/approval.lua, like every approval.
local M, H = {}, {}
local util = require('rune.util')

local function host()
  return require('rune.host')
end

-- Server list ---------------------------------------------------------------

H.icons = {
  connected = '●',
  connecting = '◌',
  authorizing = '◍',
  failed = '✗',
  disabled = '○',
  stopped = '·',
  cancelled = '⊘',
}

--- One line per server, with the state, transport and counts.
---@param s table a server of the host's `rune.hub.status` answer
---@return string
function M.server_line(s)
  return ('%s %s  %s  %s%s  %d tool(s), %d resource(s), %d prompt(s)'):format(
    H.icons[s.state] or '?',
    s.name,
    s.state,
    s.transport,
    s.sandboxed and ' (sandboxed)' or '',
    #s.tools,
    s.resources,
    s.prompts
  )
end

--- Detail lines under a server: the sign-in link while it waits, the last error.
---@param s table
---@return string[]
function M.server_details(s)
  local out = {}
  local url = util.val(s.auth_url)
  if url then
    out[#out + 1] = '    sign in: ' .. url
  end
  local err = util.val(s.last_error)
  if err then
    out[#out + 1] = '    last error: ' .. err:gsub('\n', ' ')
  end
  return out
end

--- The warning about stdio servers that go without the sandbox they asked for.
---@param status table the host's `rune.hub.status` answer
---@return string|nil
function M.sandbox_line(status)
  local warning = util.val(status.sandbox_warning)
  return warning and ('! ' .. warning) or nil
end

---@param status { files: string[], servers: table[], untrusted: { file: string, state: string }[]|nil, sandbox_warning: string|nil }
---@return string[] lines
---@return table<integer, string> server name per line
function H.render(status)
  local lines =
    { 'MCP servers  (e enable · d disable · r restart · R reload files · q close)', '' }
  local at = {}
  local warning = M.sandbox_line(status)
  if warning then
    lines[#lines + 1] = warning
  end
  for _, u in ipairs(status.untrusted or {}) do
    lines[#lines + 1] = u.state == 'denied'
        and ('! skipped %s: denied (:trust ++remove to forget)'):format(u.file)
      or ('! skipped %s: not trusted (read it, then :trust in its buffer)'):format(u.file)
  end
  if #status.servers == 0 then
    lines[#lines + 1] = 'No servers configured. Files read:'
    for _, f in ipairs(status.files) do
      lines[#lines + 1] = '  ' .. f
    end
    lines[#lines + 1] = 'or add them under mcp.servers in setup() (:help rune-hub).'
  end
  for _, s in ipairs(status.servers) do
    lines[#lines + 1] = M.server_line(s)
    at[#lines] = s.name
    if #s.tools > 0 then
      lines[#lines + 1] = '    tools: ' .. table.concat(s.tools, ', ')
      at[#lines] = s.name
    end
    for _, l in ipairs(M.server_details(s)) do
      lines[#lines + 1] = l
      at[#lines] = s.name
    end
    lines[#lines + 1] = '    from ' .. s.source
    at[#lines] = s.name
  end
  return lines, at
end

--- The server list: state, tools and last error of each server, with keys to
--- enable, disable and restart it. Returns the list's buffer.
---@return integer|nil buf
function M.servers()
  local ok, status = pcall(host().request, 'rune.hub.status')
  if not ok then
    local msg = tostring(status)
    if msg:find('Unknown Rune request', 1, true) then
      msg = 'the MCP hub is not running: it is off (mcp.hub.enabled) or its config is invalid;'
        .. ' see :checkhealth rune'
    end
    util.notify(msg, vim.log.levels.ERROR)
    return nil
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  local at = {}
  local function draw(st)
    if not vim.api.nvim_buf_is_valid(buf) then
      return
    end
    local lines
    lines, at = H.render(st)
    vim.bo[buf].modifiable = true
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].modifiable = false
  end
  draw(status)
  H.list = { buf = buf, draw = draw }
  local width = math.min(120, vim.o.columns - 4)
  local win = vim.api.nvim_open_win(buf, true, {
    relative = 'editor',
    row = 2,
    col = math.floor((vim.o.columns - width) / 2),
    width = width,
    height = math.min(30, math.max(5, vim.o.lines - 8)),
    border = 'rounded',
    title = ' rune: MCP hub ',
    style = 'minimal',
  })
  vim.wo[win].cursorline = true
  local function act(verb)
    return function()
      local name = verb ~= 'reload' and at[vim.api.nvim_win_get_cursor(0)[1]] or nil
      if verb ~= 'reload' and not name then
        return
      end
      local okv, st = pcall(host().request, 'rune.hub.' .. verb, name)
      if not okv then
        util.notify(tostring(st), vim.log.levels.ERROR)
        return
      end
      draw(st)
    end
  end
  local map = function(lhs, fn)
    vim.keymap.set('n', lhs, fn, { buffer = buf, nowait = true })
  end
  map('e', act('enable'))
  map('d', act('disable'))
  map('r', act('restart'))
  map('R', act('reload'))
  map('q', function()
    pcall(vim.api.nvim_win_close, win, true)
  end)
  return buf
end

--- Enables, disables or restarts a server by name; returns the new status (nil on error,
--- after telling the user why).
---@param verb 'enable'|'disable'|'restart'|'signout'
---@param name string
---@return { files: string[], servers: table[] }|nil
function M.act(verb, name)
  local ok, st = pcall(host().request, 'rune.hub.' .. verb, name)
  if not ok then
    util.notify(tostring(st), vim.log.levels.ERROR)
    return nil
  end
  return st
end

--- Stops the servers still starting; they show as cancelled until restarted.
---@param opts { quiet: boolean|nil }|nil quiet: say nothing when none was starting
---@return string[]|nil cancelled the servers stopped (nil on error, after telling why)
function M.cancel(opts)
  local ok, st = pcall(host().request, 'rune.hub.cancel')
  if not ok then
    util.notify(tostring(st), vim.log.levels.ERROR)
    return nil
  end
  if #st.cancelled > 0 then
    util.notify('cancelled the start of ' .. table.concat(st.cancelled, ', '))
  elseif not (opts and opts.quiet) then
    util.notify('no MCP server is starting')
  end
  M._changed(st)
  return st.cancelled
end

--- The hub's status without starting anything new (nil when the hub is not running).
---@return { files: string[], servers: table[] }|nil
function M.status()
  local ok, st = pcall(host().request, 'rune.hub.status')
  return ok and st or nil
end

--- The host reports a change of the servers: redraws an open server list.
---@param status { files: string[], servers: table[] }
function M._changed(status)
  if H.list and vim.api.nvim_buf_is_valid(H.list.buf) then
    H.list.draw(status)
  end
end

--- Picks a prompt of a connected server, asks its arguments, and starts a chat with it.
function M.prompts()
  local ok, list = pcall(host().request, 'rune.hub.prompts')
  if not ok then
    return util.notify(tostring(list), vim.log.levels.ERROR)
  end
  local items = {}
  for _, s in ipairs(list) do
    for _, p in ipairs(s.prompts) do
      items[#items + 1] = { server = s.server, prompt = p }
    end
  end
  if #items == 0 then
    return util.notify('no MCP server offers prompts (see require("rune.hub").servers())')
  end
  vim.ui.select(items, {
    prompt = 'MCP prompt',
    format_item = function(it)
      local d = it.prompt.description ~= '' and (' – ' .. it.prompt.description) or ''
      return ('%s: %s%s'):format(it.server, it.prompt.name, d)
    end,
  }, function(it)
    if not it then
      return
    end
    local args = {}
    local function ask(i)
      local a = it.prompt.arguments[i]
      if not a then
        local okp, text =
          pcall(host().request, 'rune.hub.get_prompt', it.server, it.prompt.name, args)
        if not okp then
          return util.notify(tostring(text), vim.log.levels.ERROR)
        end
        return require('rune.chat').open({ args = text })
      end
      vim.ui.input({ prompt = a.name .. (a.required and ' (required): ' or ': ') }, function(v)
        if v == nil then
          return
        end
        if v ~= '' then
          args[a.name] = v
        end
        vim.schedule(function()
          ask(i + 1)
        end)
      end)
    end
    ask(1)
  end)
end

return M
