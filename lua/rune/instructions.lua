--- Project instructions: `AGENTS.md`, `CLAUDE.md` or `.rune/instructions.md` at the
--- project root join the system prompt of the chat and :RuneEdit, once the user
--- trusted that file (Neovim's |vim.secure|, the `:trust` list). The host asks for
--- them with `read(root)`; nothing else of the project is read here.
local M, H = {}, {}

--- The files looked for, in order; the first one the user trusts is used.
M.FILES = { 'AGENTS.md', 'CLAUDE.md', '.rune/instructions.md' }

--- The file's text when the user trusts it (asking once when it is new or changed,
--- as |vim.secure.read()| does), else nil.
---@param path string
---@return string|nil
function H.trusted_read(path)
  local ok, text = pcall(vim.secure.read, path)
  return ok and type(text) == 'string' and text or nil
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
