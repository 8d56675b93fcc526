--- Rune's MCP server, the Lua side: `:RuneMcp`, waking the host for `rune mcp`,
--- forwarding editor changes to the host, and the fixed editor accessors the
--- host's Editor port calls (`M.api`). Arguments arrive as values and are only
--- ever passed to API functions: nothing here builds a command from them.
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

-- ---------------------------------------------------------------------------
-- Editor accessors for the host's Editor port (src/nvim/editor.ts)
-- ---------------------------------------------------------------------------

local api = {}
M.api = api

local function info(b)
  if not vim.api.nvim_buf_is_valid(b) then
    return nil
  end
  local name = vim.api.nvim_buf_get_name(b)
  local loaded = vim.api.nvim_buf_is_loaded(b)
  return {
    id = b,
    path = (name ~= '' and vim.bo[b].buftype == '') and name or '',
    name = name,
    filetype = vim.bo[b].filetype,
    modified = vim.bo[b].modified,
    loaded = loaded,
    lineCount = loaded and vim.api.nvim_buf_line_count(b) or 0,
    changedtick = vim.api.nvim_buf_get_changedtick(b),
  }
end

function api.roots()
  local roots, seen = {}, {}
  local function add(p)
    if p and p ~= '' and not seen[p] then
      seen[p] = true
      roots[#roots + 1] = p
    end
  end
  add(vim.fn.getcwd())
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  for _, c in ipairs(get()) do
    for _, f in ipairs(c.workspace_folders or {}) do
      add(vim.uri_to_fname(f.uri))
    end
  end
  return roots
end

function api.buffers()
  local out = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.bo[b].buflisted then
      out[#out + 1] = info(b)
    end
  end
  return out
end

function api.buffer(id)
  return info(id) or vim.NIL
end

---@param path string absolute path, already checked by the host
---@param create boolean
---@param listed boolean|nil false: a created buffer stays out of the buffer list
function api.buffer_for_path(path, create, listed)
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(b) == path then
      if not vim.api.nvim_buf_is_loaded(b) then
        vim.fn.bufload(b)
      end
      return info(b)
    end
  end
  if not create then
    return vim.NIL
  end
  local known = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    known[b] = true
  end
  -- bufadd() takes the name literally: no wildcard, `%` or `|` is interpreted.
  local b = vim.fn.bufadd(path)
  -- The same file under another name (a link) is the user's buffer: left as it is.
  if not known[b] then
    vim.bo[b].buflisted = listed ~= false
  end
  vim.fn.bufload(b)
  return info(b)
end

--- Wipes a buffer `buffer_for_path` made unlisted for one read, unless the
--- user listed, changed or showed it meanwhile.
---@param b integer
function api.release(b)
  if
    vim.api.nvim_buf_is_valid(b)
    and not vim.bo[b].buflisted
    and not vim.bo[b].modified
    and #vim.fn.win_findbuf(b) == 0
  then
    pcall(vim.api.nvim_buf_delete, b, { force = true })
  end
  return vim.NIL
end

---@param b integer
---@param edits { start: integer, ['end']: integer, lines: string[] }[]
---@param tick integer
function api.set_lines(b, edits, tick)
  if not vim.api.nvim_buf_is_valid(b) then
    return ('buffer %d no longer exists; nothing was changed'):format(b)
  end
  if vim.api.nvim_buf_get_changedtick(b) ~= tick then
    return ('buffer %d changed while the edit was under review; nothing was changed, read it again and retry'):format(
      b
    )
  end
  table.sort(edits, function(x, y)
    return x.start > y.start
  end)
  for _, e in ipairs(edits) do
    vim.api.nvim_buf_set_lines(b, e.start, e['end'], false, e.lines)
  end
  return vim.NIL
end

function api.save(b)
  if not vim.api.nvim_buf_is_valid(b) then
    return ('buffer %d no longer exists'):format(b)
  end
  local ok, err = pcall(vim.api.nvim_buf_call, b, function()
    vim.cmd('silent keepalt update')
  end)
  if not ok then
    return tostring(err)
  end
  return vim.NIL
end

function api.cursor()
  local b = vim.api.nvim_get_current_buf()
  local pos = vim.fn.getcursorcharpos()
  return {
    bufferId = b,
    path = info(b).path,
    position = { line = pos[2] - 1, character = pos[3] - 1 },
    mode = vim.api.nvim_get_mode().mode,
  }
end

function api.selection()
  local mode = vim.fn.mode()
  local p1, p2, kind
  if mode == 'v' or mode == 'V' or mode == '\22' then
    p1, p2, kind = vim.fn.getcharpos('v'), vim.fn.getcharpos('.'), mode
  else
    p1, p2, kind = vim.fn.getcharpos("'<"), vim.fn.getcharpos("'>"), vim.fn.visualmode()
  end
  if p1[2] == 0 or p2[2] == 0 or kind == '' then
    return vim.NIL
  end
  if p1[2] > p2[2] or (p1[2] == p2[2] and p1[3] > p2[3]) then
    p1, p2 = p2, p1
  end
  local b = vim.api.nvim_get_current_buf()
  local text = vim.fn.getregion(
    { 0, p1[2], vim.fn.byteidx(vim.fn.getline(p1[2]), p1[3] - 1) + 1, 0 },
    { 0, p2[2], vim.fn.byteidx(vim.fn.getline(p2[2]), p2[3] - 1) + 1, 0 },
    { type = kind }
  )
  return {
    bufferId = b,
    path = info(b).path,
    kind = kind,
    range = {
      start = { line = p1[2] - 1, character = p1[3] - 1 },
      ['end'] = { line = p2[2] - 1, character = p2[3] },
    },
    text = table.concat(text, '\n'),
  }
end

local SEVERITY = { 'error', 'warning', 'info', 'hint' }

function api.diagnostics(b)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(util.val(b))) do
    out[#out + 1] = {
      bufferId = d.bufnr,
      path = vim.api.nvim_buf_get_name(d.bufnr),
      range = {
        start = { line = d.lnum, character = d.col },
        ['end'] = { line = d.end_lnum or d.lnum, character = d.end_col or d.col },
      },
      severity = SEVERITY[d.severity] or 'info',
      message = d.message,
      source = d.source,
      code = d.code and tostring(d.code) or nil,
    }
  end
  return out
end

function api.open(path, line)
  local b = vim.fn.bufadd(path)
  vim.bo[b].buflisted = true
  local ok, err = pcall(vim.api.nvim_win_set_buf, 0, b)
  if not ok then
    return tostring(err)
  end
  line = util.val(line)
  if line then
    pcall(vim.api.nvim_win_set_cursor, 0, { math.min(line, vim.api.nvim_buf_line_count(b)), 0 })
  end
  return info(b)
end

local function lsp_request(b, method, params)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  if #get({ bufnr = b }) == 0 then
    return {}
  end
  local res = vim.lsp.buf_request_sync(b, method, params, 3000) or {}
  local out = {}
  for _, r in pairs(res) do
    if r.result then
      out[#out + 1] = r.result
    end
  end
  return out
end

local SYMBOL_KIND = vim.lsp.protocol.SymbolKind

function api.symbols(b)
  local out = {}
  local function walk(list, container)
    for _, s in ipairs(list) do
      local loc = s.location
      out[#out + 1] = {
        name = s.name,
        kind = SYMBOL_KIND[s.kind] or tostring(s.kind),
        path = loc and vim.uri_to_fname(loc.uri) or vim.api.nvim_buf_get_name(b),
        range = loc and loc.range or s.range,
        container = container or s.containerName,
      }
      if s.children then
        walk(s.children, s.name)
      end
    end
  end
  local params = { textDocument = vim.lsp.util.make_text_document_params(b) }
  for _, result in ipairs(lsp_request(b, 'textDocument/documentSymbol', params)) do
    walk(result, nil)
  end
  return out
end

function api.definition(b, line, character)
  local params = {
    textDocument = vim.lsp.util.make_text_document_params(b),
    position = { line = line, character = character },
  }
  local out = {}
  for _, result in ipairs(lsp_request(b, 'textDocument/definition', params)) do
    local list = result.uri and { result } or result
    for _, l in ipairs(list) do
      local uri = l.uri or l.targetUri
      out[#out + 1] = {
        path = vim.uri_to_fname(uri),
        range = l.range or l.targetSelectionRange,
      }
    end
  end
  return out
end

return M
