--- What the host reads from the editor for chat `#context` words, :RuneEdit and prompts.
--- Each function is called by name from the host (src/nvim/chat/context.ts,
--- src/nvim/chat/controller.ts, src/nvim/prompts.ts); msgpack nil arrives as vim.NIL.
local M, H = {}, {}

local SEVERITY = { 'ERROR', 'WARN', 'INFO', 'HINT' }

---@param v any
---@return any
function H.nil_of(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

--- The diagnostics of `buf` on lines `l1`..`l2` (1-based, all lines when nil).
---@param buf integer
---@param l1? integer
---@param l2? integer
---@return table[]
function H.diagnostics(buf, l1, l2)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if not l1 or (d.lnum + 1 >= l1 and d.lnum + 1 <= l2) then
      out[#out + 1] = {
        lnum = d.lnum + 1,
        col = d.col + 1,
        severity = SEVERITY[d.severity] or '?',
        message = d.message,
        source = d.source or '',
      }
    end
  end
  return out
end

--- #diagnostics: the source buffer's name and diagnostics, or nil when it is gone.
---@param buf? integer
---@return { name: string, items: table[] }?
function M.diagnostics(buf)
  buf = H.nil_of(buf)
  if not buf or not vim.api.nvim_buf_is_valid(buf) then
    return nil
  end
  return { name = vim.api.nvim_buf_get_name(buf), items = H.diagnostics(buf) }
end

--- #quickfix: the quickfix list's entries.
---@return table[]
function M.quickfix()
  local out = {}
  for _, it in ipairs(vim.fn.getqflist()) do
    local name = it.bufnr > 0 and vim.api.nvim_buf_get_name(it.bufnr) or ''
    out[#out + 1] = { name = name, lnum = it.lnum, col = it.col, text = it.text, type = it.type }
  end
  return out
end

--- #buffer / #file: a buffer's name, filetype and lines: the buffer named `name` when
--- given, else `buf`; nil when there is none.
---@param buf? integer
---@param name? string
---@return { name: string, filetype: string, lines: string[] }?
function M.buffer_text(buf, name)
  buf, name = H.nil_of(buf), H.nil_of(name)
  if name then
    buf = vim.fn.bufnr(name)
    if buf <= 0 then
      return nil
    end
  end
  if not buf or not vim.api.nvim_buf_is_valid(buf) then
    return nil
  end
  return {
    name = vim.api.nvim_buf_get_name(buf),
    filetype = vim.bo[buf].filetype,
    lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false),
  }
end

--- A prompt's facts: lines `l1`..`l2` of `buf` (all when nil), its name, filetype and the
--- diagnostics on those lines; nil when the buffer is gone.
---@param buf integer
---@param l1? integer
---@param l2? integer
---@return table?
function M.prompt_facts(buf, l1, l2)
  if not vim.api.nvim_buf_is_valid(buf) then
    return nil
  end
  l1, l2 = H.nil_of(l1), H.nil_of(l2)
  if not l1 then
    l1, l2 = 1, vim.api.nvim_buf_line_count(buf)
  end
  return {
    name = vim.api.nvim_buf_get_name(buf),
    filetype = vim.bo[buf].filetype,
    lines = vim.api.nvim_buf_get_lines(buf, l1 - 1, l2, false),
    diagnostics = H.diagnostics(buf, l1, l2),
  }
end

--- A chat buffer's chat id and project, or nil when the buffer is gone.
---@param buf integer
---@return { [1]: string?, [2]: string? }?
function M.chat_ids(buf)
  if not vim.api.nvim_buf_is_valid(buf) then
    return nil
  end
  return { vim.b[buf].rune_chat_id, vim.b[buf].rune_chat_project }
end

--- The editor's facts a host module needs at activation: working directory, state
--- directory, server address, process id and config folders; with `opts.environ` also
--- Neovim's environment, with `opts.trust_db` the trust database's path.
---@param opts? { environ?: boolean, trust_db?: boolean }
---@return table
function M.editor(opts)
  opts = H.nil_of(opts) or {}
  local home = vim.env.HOME
  return {
    cwd = vim.fn.getcwd(),
    state = vim.fn.stdpath('state'),
    server = vim.v.servername,
    pid = vim.fn.getpid(),
    xdg = vim.env.XDG_CONFIG_HOME,
    home = home,
    config_home = vim.env.XDG_CONFIG_HOME or (home and home .. '/.config'),
    env = opts.environ and vim.fn.environ() or nil,
    trust_db = opts.trust_db and require('rune.trust').db() or nil,
  }
end

--- Completion keys left alone because they already had insert-mode mappings (empty until
--- ghost text was first set up; does not load it).
---@return table<string, string>|table
function M.ghost_conflicts()
  local g = package.loaded['rune.ghost']
  return g and g.conflicts or {}
end

return M
