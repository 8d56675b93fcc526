--- :RuneSetup: pick the model provider in a float when none is configured in setup().
--- The host detects the options and saves the pick in Rune's state folder; this file only
--- draws them and maps one key per option.
local M, H = {}, {}
local util = require('rune.util')

--- Lines for the options; returns the lines and the option id per key.
---@param res table the answer of `rune.setup.options`
---@return string[], table<string, string>
function H.render(res)
  local lines, keys = {}, {}
  if res.configured then
    lines[1] = 'Providers are configured in setup(); change them there (:help rune-providers).'
    for _, o in ipairs(res.options) do
      lines[#lines + 1] = ('  %s (%s)'):format(o.id, o.kind)
    end
    lines[#lines + 1] = ''
    lines[#lines + 1] = 'q: close'
    return lines, keys
  end
  lines[1] =
    'Pick the model provider Rune uses (saved in its state folder, nothing else is written).'
  lines[2] = ''
  local n = 0
  for _, o in ipairs(res.options) do
    local found = util.val(o.found) or ''
    if o.usable then
      n = n + 1
      keys[tostring(n)] = o.id
      lines[#lines + 1] = ('[%d] %-10s %s%s'):format(
        n,
        o.id,
        found,
        o.current and '  (in use)' or ''
      )
    else
      lines[#lines + 1] = ('    %-10s needs: %s'):format(o.id, util.val(o.needs) or '?')
      if found ~= '' then
        lines[#lines + 1] = ('               (%s)'):format(found)
      end
    end
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = n > 0 and ('1-%d: pick · r: look again · q: close'):format(n)
    or 'Nothing usable yet: do one of the above, then r: look again · q: close'
  return lines, keys
end

--- Opens the float.
function M.open()
  local host = require('rune.host')
  local res = host.request('rune.setup.options')
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  local function draw(lines)
    vim.bo[buf].modifiable = true
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].modifiable = false
  end
  local lines, keys = H.render(res)
  draw(lines)
  local width = math.min(110, vim.o.columns - 4)
  local win = vim.api.nvim_open_win(buf, true, {
    relative = 'editor',
    row = 2,
    col = math.floor((vim.o.columns - width) / 2),
    width = width,
    height = math.min(24, math.max(5, vim.o.lines - 8)),
    border = 'rounded',
    title = ' rune: setup ',
    style = 'minimal',
  })
  local map = function(lhs, fn)
    vim.keymap.set('n', lhs, fn, { buffer = buf, nowait = true })
  end
  for i = 1, 9 do
    map(tostring(i), function()
      local id = keys[tostring(i)]
      if not id then
        return
      end
      local ok, picked = pcall(host.request, 'rune.setup.pick', id)
      if not ok then
        util.notify(tostring(picked), vim.log.levels.ERROR)
        return
      end
      keys = {}
      local out = {
        ('Rune now uses %s, and will next time (saved in its state folder).'):format(id),
        'To make it permanent, put this in your config:',
        '',
      }
      vim.list_extend(out, picked.snippet)
      vim.list_extend(out, { '', 'q: close' })
      draw(out)
    end)
  end
  map('r', function()
    local ok, again = pcall(host.request, 'rune.setup.options')
    if not ok then
      util.notify(tostring(again), vim.log.levels.ERROR)
      return
    end
    lines, keys = H.render(again)
    draw(lines)
  end)
  for _, lhs in ipairs({ 'q', '<Esc>' }) do
    map(lhs, function()
      pcall(vim.api.nvim_win_close, win, true)
    end)
  end
  return buf
end

return M
