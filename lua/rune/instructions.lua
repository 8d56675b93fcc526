--- Project instructions: `AGENTS.md`, `CLAUDE.md` or `.rune/instructions.md` at the
--- project root join the system prompt of the chat and :RuneEdit, once the user
--- trusted that file (Neovim's |vim.secure|, the `:trust` list). The host asks for
--- them with `read(root)`; nothing else of the project is read here.
local M, H = {}, {}

--- The files looked for, in order; the first one the user trusts is used.
M.FILES = { 'AGENTS.md', 'CLAUDE.md', '.rune/instructions.md' }

---@type table<string, boolean> files the user was asked about this session and did not trust
H.asked = {}

--- True when the trust database (what `:trust` writes) holds `path` with its current content.
---@param path string
---@return boolean
function H.in_trust_db(path)
  local real = vim.uv.fs_realpath(path)
  local f = real and io.open(vim.fn.stdpath('state') .. '/trust', 'r')
  local g = real and io.open(real, 'rb')
  if not f or not g then
    return false
  end
  local db, content = f:read('*a') or '', g:read('*a') or ''
  f:close()
  g:close()
  local hash = vim.fn.sha256(content)
  for line in vim.gsplit(db, '\n', { plain = true }) do
    local h, file = line:match('^(%S+) (.+)$')
    if file == real and h == hash then
      return true
    end
  end
  return false
end

--- The file's text when the user trusts it, else nil. |vim.secure.read()| asks about a
--- new or changed file; a file the user did not trust is not asked about again this
--- session, until `:trust` adds it.
---@param path string
---@return string|nil
function H.trusted_read(path)
  if H.asked[path] and not H.in_trust_db(path) then
    return nil
  end
  local ok, text = pcall(vim.secure.read, path)
  if ok and type(text) == 'string' then
    return text
  end
  H.asked[path] = true
  return nil
end

--- The project's instructions: `{ name, text }` of the first trusted file, or nil.
---@param root string
---@return { name: string, text: string }|nil
function M.read(root)
  for _, name in ipairs(M.FILES) do
    local path = root .. '/' .. name
    if vim.fn.filereadable(path) == 1 then
      local text = H.trusted_read(path)
      if text then
        return { name = name, text = text }
      end
    end
  end
  return nil
end

return M
