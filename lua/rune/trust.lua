--- Project trust: files from the working tree (a project's `.mcp.json`, …) are
--- used only once the user trusted their exact content with Neovim's own
--- `:trust` (|vim.secure|). This reads the same trust database without ever
--- prompting — the host asks from an RPC call and must not wait on a modal
--- `confirm()` — and hands back the very bytes it hashed, so what is used is
--- what was trusted.
local M = {}

--- The trust database `:trust` writes (`$XDG_STATE_HOME/nvim/trust`).
---@return string
function M.db()
  return vim.fn.stdpath('state') .. '/trust'
end

---@return table<string, string> hash (or `!` for denied) by full path
local function entries()
  local out = {}
  local f = io.open(M.db(), 'r')
  if not f then
    return out
  end
  for line in f:lines() do
    local hash, file = line:match('^(%S+) (.+)$')
    if hash and file then
      out[file] = hash
    end
  end
  f:close()
  return out
end

---@class rune.TrustRead
---@field state 'trusted'|'untrusted'|'denied'|'missing'
---@field path string the full path the database knows it by
---@field text string|nil the content, when trusted

--- The trust state of `path` and, when trusted, its content. A directory is
--- trusted by name, as Neovim 0.11+ records it (`:trust` on the directory).
---@param path string
---@return rune.TrustRead
function M.read(path)
  local full = vim.uv.fs_realpath(vim.fs.normalize(path))
  if not full then
    return { state = 'missing', path = path }
  end
  local known = entries()[full]
  if known == '!' then
    return { state = 'denied', path = full }
  end
  if vim.fn.isdirectory(full) == 1 then
    return { state = known == 'directory' and 'trusted' or 'untrusted', path = full }
  end
  local f = io.open(full, 'rb')
  if not f then
    return { state = 'missing', path = full }
  end
  local text = f:read('*a')
  f:close()
  if not text or known ~= vim.fn.sha256(text) then
    return { state = 'untrusted', path = full }
  end
  return { state = 'trusted', path = full, text = text }
end

return M
