--- :RuneAuth [provider] [login|logout|status|cancel]: sign in to providers.
---
--- Lua only asks and shows: the host chooses the secret store, runs the
--- GitHub device flow and OAuth sign-ins, and keeps the secrets. API keys
--- are read with `inputsecret()`: never echoed, never in history, never logged.
local M, H = {}, {}

H.actions = { 'login', 'logout', 'status', 'cancel' }

---@return table
function H.host()
  return require('rune.host')
end

---@param msg string
---@param level integer|nil
function H.notify(msg, level)
  require('rune.util').notify(msg, level)
end

--- Provider names for completion, from the configuration (never starts the host).
---@return string[]
function H.providers()
  local ok, cfg = pcall(require('rune').config)
  local names = { copilot = true }
  if ok then
    for name in pairs(cfg.providers) do
      names[name] = true
    end
    for name in pairs(cfg.auth.oauth) do
      names[name] = true
    end
  end
  local out = vim.tbl_keys(names)
  table.sort(out)
  return out
end

--- Completes `:RuneAuth` arguments: a provider, then an action.
---@param arglead string
---@param cmdline string
---@return string[]
function M.complete(arglead, cmdline)
  local words = vim.split(cmdline, '%s+', { trimempty = true })
  local n = #words - (arglead == '' and 0 or 1)
  local pool = n <= 1 and vim.list_extend(H.providers(), { 'status' }) or H.actions
  return vim.tbl_filter(function(c)
    return vim.startswith(c, arglead)
  end, pool)
end

---@param s table
function H.show_status(s)
  local lines = { ('Secrets: %s'):format(s.description) }
  if s.store == 'file' then
    lines[#lines + 1] = '  (' .. s.reason .. ')'
  end
  for _, e in ipairs(s.entries or {}) do
    lines[#lines + 1] = ('  %-16s %-8s %s'):format(
      e.provider,
      e.signed_in and 'yes' or 'no',
      e.detail
    )
  end
  vim.api.nvim_echo({ { table.concat(lines, '\n') } }, true, {})
end

---@param code string
function H.copy(code)
  for _, reg in ipairs({ '+', '"' }) do
    pcall(vim.fn.setreg, reg, code)
  end
end

---@param provider string
function H.login(provider)
  local host = H.host()
  local res = host.request('rune.auth.login', provider)
  if res.kind == 'need_secret' then
    local ok, secret = pcall(vim.fn.inputsecret, res.prompt)
    vim.cmd('redraw')
    if not ok or secret == nil or secret == '' then
      H.notify('sign-in cancelled: no key was entered', vim.log.levels.WARN)
      return
    end
    host.request('rune.auth.login', provider, secret)
    H.notify(('API key for %s saved'):format(provider))
  elseif res.kind == 'device' then
    H.copy(res.user_code)
    local where = res.opened and 'in the browser that just opened'
      or ('at ' .. res.verification_uri)
    vim.api.nvim_echo({
      { '(rune) Enter the code ' },
      { res.user_code, 'Title' },
      { (' %s (copied to the + and " registers).\n'):format(where) },
      { '(rune) URL: ' .. res.verification_uri .. '\n' },
      {
        "(rune) Rune finishes the sign-in by itself once you're done; :RuneAuth copilot status checks.",
      },
    }, true, {})
  elseif res.kind == 'browser' then
    local msg = res.opened and 'Finish signing in in the browser; if nothing opened, visit:\n'
      or 'Open this URL to sign in:\n'
    vim.api.nvim_echo({ { '(rune) ' .. msg .. res.url } }, true, {})
  end
end

--- Runs `:RuneAuth`.
---@param opts {args?: string, fargs?: string[]}
function M.command(opts)
  local fargs = opts.fargs or vim.split(opts.args or '', '%s+', { trimempty = true })
  local provider, action = fargs[1], fargs[2]
  if provider and vim.tbl_contains(H.actions, provider) then
    provider, action = action, provider
  end
  action = action or (provider and 'login' or 'status')
  local ok, err = pcall(function()
    if action == 'status' then
      H.show_status(H.host().request('rune.auth.status', provider))
    elseif not provider then
      error(
        ('(rune) :RuneAuth %s needs a provider, e.g. :RuneAuth copilot %s'):format(action, action),
        0
      )
    elseif action == 'login' then
      H.login(provider)
    elseif action == 'cancel' then
      local res = H.host().request('rune.auth.cancel', provider)
      H.notify(
        res.cancelled and ('sign-in to %s cancelled'):format(provider)
          or ('no sign-in to %s is waiting'):format(provider)
      )
    elseif action == 'logout' then
      local res = H.host().request('rune.auth.logout', provider)
      H.notify(
        res.removed and ('signed out of %s%s'):format(provider, res.revoked and ' (revoked)' or '')
          or ('nothing was stored for %s'):format(provider)
      )
    else
      error(('(rune) unknown action %q: use login, logout, status or cancel'):format(action), 0)
    end
  end)
  if not ok then
    vim.notify(tostring(err), vim.log.levels.ERROR)
  end
end

--- Called by the host when a background sign-in ends.
---@param provider string
---@param ok boolean
---@param message string
function M._finished(provider, ok, message)
  H.notify(message, ok and vim.log.levels.INFO or vim.log.levels.ERROR)
  vim.api.nvim_exec_autocmds('User', {
    pattern = 'RuneAuthDone',
    data = { provider = provider, ok = ok, message = message },
  })
end

return M
