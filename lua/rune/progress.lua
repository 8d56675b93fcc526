--- Progress of long work the host runs (model pulls, a llama-server starting, MCP servers
--- starting, the Copilot language server's install), updated in place: Neovim's progress messages where the running version has
--- them (0.12: nvim_echo with kind='progress'), else one echo line that each update
--- overwrites (not kept in :messages until the end).
local M = {}

--- The last update per key, for scripts and tests.
---@type table<string, table>
M.last = {}

local has_progress = vim.fn.has('nvim-0.12') == 1
--- True while M.update echoes: its own final 'cancel' is not the user cancelling.
local echoing = false

--- Shows or updates the progress `key`.
---@param key string e.g. 'pull.llama3.2'
---@param p {title: string, text: string, percent?: integer, status: 'running'|'success'|'failed'|'cancel'}
function M.update(key, p)
  p = vim.tbl_map(require('rune.util').val, p)
  M.last[key] = p
  local final = p.status ~= 'running'
  local err = p.status == 'failed'
  if has_progress then
    echoing = true
    local ok, msg = pcall(vim.api.nvim_echo, { { p.text } }, final, {
      id = 'rune.' .. key,
      kind = 'progress',
      title = p.title,
      source = 'rune',
      status = p.status,
      percent = p.percent,
      data = { rune = key },
    })
    echoing = false
    if not ok then
      error(msg, 0)
    end
  else
    local line = ('(rune) %s: %s'):format(p.title, p.text)
    vim.api.nvim_echo({ { line, err and 'ErrorMsg' or nil } }, final, {})
  end
end

--- What cancelling the progress of a key does, by the key's first word.
---@type table<string, fun(rest: string, key: string)>
local cancellers = {
  pull = function(model)
    require('rune.host').notify('rune.ollama.pull_cancel', model)
  end,
  serve = function(_, key)
    require('rune.host').notify('rune.progress.cancel', key)
  end,
  copilot = function()
    require('rune.host').notify('rune.copilot.install_cancel')
  end,
  hub = function()
    -- Scheduled: the event may fire inside the host's own update of this progress.
    vim.schedule(function()
      require('rune.hub').cancel({ quiet = true })
    end)
  end,
}

--- Cancels the work behind progress `key`: a pull (`pull.<model>`), the start of a
--- llama-server Rune runs (`serve.<provider>`), MCP servers starting (`hub.start`), or the
--- Copilot language server's install (`copilot.install`).
--- Works on every Neovim version.
---@param key string
function M.cancel(key)
  local word, rest = key:match('^([^.]+)%.?(.*)$')
  local fn = word and cancellers[word]
  if fn then
    fn(rest, key)
  end
end

--- Cancels the work when the user cancels its progress message (0.12's Progress event).
if has_progress then
  vim.api.nvim_create_autocmd('Progress', {
    group = vim.api.nvim_create_augroup('rune.progress', { clear = true }),
    pattern = 'rune',
    callback = function(ev)
      local data = ev.data or {}
      local key = type(data.data) == 'table' and data.data.rune or nil
      if not echoing and data.status == 'cancel' and type(key) == 'string' then
        M.cancel(key)
      end
    end,
  })
end

--- The host found that a chat or completion model is not pulled: asks whether to pull it,
--- without blocking the host's call (scheduled); yes starts the pull, with progress.
---@param o {model: string, provider: string|nil, server: string}
function M.offer_pull(o)
  o = vim.tbl_map(require('rune.util').val, o)
  vim.schedule(function()
    vim.ui.select({ 'Yes', 'No' }, {
      prompt = ('Ollama at %s has no model "%s". Pull it now?'):format(o.server, o.model),
    }, function(choice)
      if choice == 'Yes' then
        require('rune.host').notify('rune.ollama.pull', o.model, o.provider or vim.NIL)
      elseif choice == 'No' then
        require('rune.util').notify(
          ('not pulled; :RunePull %s pulls it later, :RuneChatModel picks another'):format(o.model)
        )
      end
    end)
  end)
end

--- :RunePull[!] {model}: pull an Ollama model with progress; with ! cancel the pull.
---@param o {args: string, bang: boolean}
function M.pull(o)
  local model = vim.trim(o.args)
  if o.bang then
    require('rune.host').notify('rune.ollama.pull_cancel', model ~= '' and model or vim.NIL)
    return
  end
  require('rune.host').notify('rune.ollama.pull', model)
end

--- :RuneCopilotInstall[!] [version]: install the Copilot language server with progress;
--- with ! cancel the install.
---@param o {args: string, bang: boolean}
function M.copilot_install(o)
  if o.bang then
    require('rune.host').notify('rune.copilot.install_cancel')
    return
  end
  local version = vim.trim(o.args)
  require('rune.host').notify('rune.copilot.install', version ~= '' and version or vim.NIL)
end

return M
