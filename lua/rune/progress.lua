--- Progress of long work the host runs (model pulls, a llama-server starting), updated in
--- place: Neovim's progress messages where the running version has them (0.12: nvim_echo
--- with kind='progress'), else one echo line that each update overwrites (not kept in
--- :messages until the end).
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

--- Cancels the work behind progress `key`: a pull (`pull.<model>`), or the start of a
--- llama-server Rune runs (`serve.<provider>`). Works on every Neovim version.
---@param key string
function M.cancel(key)
  if key:match('^pull%.') then
    require('rune.host').notify('rune.ollama.pull_cancel', key:sub(6))
  else
    require('rune.host').notify('rune.progress.cancel', key)
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

return M
