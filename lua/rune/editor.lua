--- The Lua side of the host's Editor port (src/nvim/editor.ts): fixed accessors
--- the editor tools (src/tools/editor/) call by name. Arguments arrive as values
--- and are only ever passed to API functions: nothing here builds a command from them.
local M = {}
local util = require('rune.util')

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

--- Lines `s`..`e` (0-based, end exclusive) as pieces of text that the host joins with
--- newlines, each piece the lines of one slice of 512. Not one string: LuaJIT gives every
--- string over 128 KiB its own mmap (page faults on each write of it, an munmap when
--- collected), and asking for all lines at once keeps every line string alive until the
--- last is joined, which made the collector's work grow with the read: both made a
--- 10,000-line read cost Neovim about three times a plain nvim_buf_get_lines.
function M.text(b, s, e)
  local n = vim.api.nvim_buf_line_count(b)
  s = s < 0 and n + s + 1 or s
  e = math.min(e < 0 and n + e + 1 or e, n)
  local out = {}
  for i = s, e - 1, 512 do
    out[#out + 1] =
      table.concat(vim.api.nvim_buf_get_lines(b, i, math.min(i + 512, e), false), '\n')
  end
  return out
end

--- Several accessors in one request (the host batches the calls a tool makes at once).
--- Each answer is `{ true, value }` or `{ false, message }`: one failing call spoils no other.
---@param calls { [1]: string, [2]: any[] }[] accessor names and their arguments
function M.batch(calls)
  local out = {}
  for i, c in ipairs(calls) do
    local fn = c[1] ~= 'batch' and M[c[1]] or nil
    if not fn then
      out[i] = { false, 'no editor function ' .. tostring(c[1]) }
    else
      local ok, v = pcall(fn, unpack(c[2], 1, table.maxn(c[2])))
      if not ok then
        v = tostring(v)
      end
      out[i] = { ok, v }
    end
  end
  return out
end

function M.roots()
  local roots, seen = {}, {}
  local function add(p)
    if p and p ~= '' and not seen[p] then
      seen[p] = true
      roots[#roots + 1] = p
    end
  end
  add(vim.fn.getcwd())
  -- No LSP client runs before vim.lsp is loaded; asking would load it, which costs the
  -- host's start (this runs in its handshake) several milliseconds.
  if not package.loaded['vim.lsp'] then
    return roots
  end
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  for _, c in ipairs(get()) do
    for _, f in ipairs(c.workspace_folders or {}) do
      add(vim.uri_to_fname(f.uri))
    end
  end
  return roots
end

function M.buffers()
  local out = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.bo[b].buflisted then
      out[#out + 1] = info(b)
    end
  end
  return out
end

function M.buffer(id)
  return info(id) or vim.NIL
end

---@param path string absolute path, already checked by the host
---@param create boolean
---@param listed boolean|nil false: a created buffer stays out of the buffer list
function M.buffer_for_path(path, create, listed)
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
function M.release(b)
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
function M.set_lines(b, edits, tick)
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

function M.save(b)
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

function M.cursor()
  local b = vim.api.nvim_get_current_buf()
  local pos = vim.fn.getcursorcharpos()
  return {
    bufferId = b,
    path = info(b).path,
    position = { line = pos[2] - 1, character = pos[3] - 1 },
    mode = vim.api.nvim_get_mode().mode,
  }
end

function M.selection()
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

function M.diagnostics(b)
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

function M.open(path, line)
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

function M.symbols(b)
  -- Read here, not when this module loads: the host's handshake loads it, and vim.lsp
  -- takes several milliseconds to load.
  local SYMBOL_KIND = vim.lsp.protocol.SymbolKind
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

function M.definition(b, line, character)
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
