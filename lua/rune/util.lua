local M = {}

--- Notifies with a `(rune)` prefix; safe to call from callbacks.
---@param msg string
---@param level integer|nil
M.notify = vim.schedule_wrap(function(msg, level)
  vim.notify('(rune) ' .. msg, level or vim.log.levels.INFO)
end)

--- Runs `fn`, showing a failure as an error message instead of a stack trace.
---@param fn fun()
function M.guard(fn)
  local ok, err = pcall(fn)
  if not ok then
    vim.notify(tostring(err), vim.log.levels.ERROR)
  end
end

--- The plugin's root folder (holding lua/, dist/, package.json).
---@return string
function M.root()
  local src = debug.getinfo(1, 'S').source:sub(2)
  return vim.fn.fnamemodify(src, ':p:h:h:h')
end

--- `nil` for `vim.NIL` (how msgpack's nil arrives inside tables), else `v`.
function M.val(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

return M
