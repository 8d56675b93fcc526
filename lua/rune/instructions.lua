--- Project instructions: `AGENTS.md`, `CLAUDE.md` or `.rune/instructions.md` at the
--- project root join the system prompt of the chat and :RuneEdit, once the user
--- trusted that file with `:trust` — the same project trust as every other file
--- read from the working tree (lua/rune/trust.lua: never a prompt inside the
--- host's request, the very bytes that were trusted). The host asks for them
--- with `read(root)`; nothing else of the project is read here.
local M, H = {}, {}

--- The files looked for, in order; the first one the user trusts is used.
M.FILES = { 'AGENTS.md', 'CLAUDE.md', '.rune/instructions.md' }

---@type table<string, boolean> untrusted files the user was told about this session
H.told = {}

--- Says once per session that `path` was skipped and how to use it.
---@param path string
function H.tell(path)
  if H.told[path] then
    return
  end
  H.told[path] = true
  vim.schedule(function()
    vim.notify(
      ('(rune) %s is not trusted, so the chat does not send it. To use it: :edit %s, then :trust'):format(
        vim.fn.fnamemodify(path, ':~:.'),
        vim.fn.fnameescape(path)
      ),
      vim.log.levels.WARN
    )
  end)
end

--- The project's instructions: `{ name, text }` of the first trusted file, or nil.
---@param root string
---@return { name: string, text: string }|nil
function M.read(root)
  for _, name in ipairs(M.FILES) do
    local path = root .. '/' .. name
    if vim.fn.filereadable(path) == 1 then
      local got = require('rune.trust').read(path)
      if got.state == 'trusted' and got.text then
        return { name = name, text = got.text }
      end
      if got.state == 'untrusted' then
        H.tell(path)
      end
    end
  end
  return nil
end

return M
