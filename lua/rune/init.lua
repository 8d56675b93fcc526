--- Rune: an AI companion for Neovim.
---
--- `require('rune').setup(opts)` validates the options and remembers them; the
--- host process starts on first use (or shortly after startup with
--- `host.autostart`).
local M, H = {}, {}

---@type rune.Config|nil
H.config = nil

--- Configures Rune. Raises an error naming the bad key on invalid options.
---@param opts rune.Config|nil The options of `:help rune-options.txt`.
function M.setup(opts)
  local config = require('rune.config').resolve(opts)
  H.config = config
  local host = require('rune.host')
  if host.is_running() then
    -- New options reach a running host through a restart.
    host.restart('configuration changed')
  end
  if config.host.autostart then
    local delay = type(config.host.autostart) == 'number' and config.host.autostart or 100
    vim.defer_fn(function()
      host.start()
    end, delay)
  end
end

--- The active configuration (defaults when `setup()` was not called).
---@return rune.Config
function M.config()
  if not H.config then
    H.config = require('rune.config').resolve({})
  end
  return H.config
end

--- Everything the host asks for in its handshake, in one call: the configuration and
--- the editor's facts (working directory, folders, version, environment, workspace
--- roots, and the trust state of the project files named in `opts.trust`, relative to
--- the working directory).
---@param opts { trust: string[]|nil }|nil
---@return { config: rune.Config, facts: table }
function M._handshake(opts)
  opts = opts ~= vim.NIL and opts or {}
  local facts = require('rune.context').editor({ environ = true, trust_db = true })
  facts.version = tostring(vim.version())
  facts.roots = require('rune.editor').roots()
  local trust = require('rune.trust')
  facts.trust = vim.empty_dict()
  for _, rel in ipairs(opts.trust ~= vim.NIL and opts.trust or {}) do
    facts.trust[rel] = trust.read(facts.cwd .. '/' .. rel)
  end
  return { config = M.config(), facts = facts }
end

--- A short status for statuslines, e.g. `rune: ready`, followed by the last
--- chat answer's tokens and time to first token once there is one. Never starts the host.
---@return string
function M.status()
  local s = require('rune.host').statusline()
  local chat = package.loaded['rune.chat'] and package.loaded['rune.chat'].statusline() or ''
  return chat ~= '' and (s .. ' · ' .. chat) or s
end

return M
