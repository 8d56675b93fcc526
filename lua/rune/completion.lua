--- Inline completion, the Lua half: tells the host where the cursor is on every
--- insert-mode change (one notification; typing never waits), decides where
--- completion is on, reads the text the host asks for, and serves
--- :RuneComplete. The host (src/nvim/completion) debounces, asks the provider
--- and draws through rune.ghost. On a row where the host already has answers
--- (it says which when it draws), the notification carries the text around the
--- cursor, so an answer is drawn at once with no call back.
local M, H = {}, {}

H.booted = false
--- Per buffer: is inline completion on (decided on InsertEnter).
---@type table<integer, boolean>
H.on = {}
--- The last state sent, so CursorMovedI + TextChangedI for one key send once.
H.last = nil ---@type string|nil
H.start_tried = false
H.told_failed = false
H.asks = {} ---@type table<integer, fun(items: string[]|nil, err: string|nil)>
H.next_ask = 0
--- Where the host has answers already computed (set by `_show`): a change on one of
--- these rows of `buf` sends its context along, read with the host's limits `lim`.
---@type { buf: integer, rows: table<integer, true>, lim: table }|nil
H.hot = nil
--- Recent yanks, newest first (completion.context_buffers.yanks).
---@type { filename: string, lines: string[] }[]
H.yanks = {}
--- Chunks around recently edited lines, newest first (completion.context_buffers.edits).
---@type { buf: integer, start: integer, filename: string, lines: string[] }[]
H.edits = {}
--- Per buffer, the changedtick of its last remembered edit.
---@type table<integer, integer>
H.edit_tick = {}

local function cfg()
  return require('rune').config().completion
end

--- Is inline completion on for `buf`? `b:rune_completion` (set by
--- :RuneComplete enable/disable/toggle) wins over the configuration.
---@param buf integer
---@return boolean on
---@return string why
function M.enabled_for(buf)
  local explicit = vim.b[buf].rune_completion
  if explicit ~= nil then
    return explicit == true, 'set for this buffer with :RuneComplete'
  end
  local c = cfg()
  if not c.enabled then
    return false, 'completion.enabled is false'
  end
  local bt = vim.bo[buf].buftype
  if bt ~= '' then
    return false, ("off in buffers with buftype '%s'"):format(bt)
  end
  local ft = vim.bo[buf].filetype
  local rule = c.filetypes[ft]
  if rule == nil then
    rule = c.filetypes['*']
  end
  if rule == false then
    return false, ("off for filetype '%s' (completion.filetypes)"):format(ft)
  end
  local size = vim.api.nvim_buf_get_offset(buf, vim.api.nvim_buf_line_count(buf))
  if size > c.max_file_bytes then
    return false,
      ('off for files over completion.max_file_bytes (%d bytes; this one has %d)'):format(
        c.max_file_bytes,
        size
      )
  end
  return true, 'on'
end

-- Typing starts the host once; after that, a host that failed is restarted only by
-- :RuneRestart (each key would otherwise try to spawn it again).
local function notify_host(method, ...)
  local host = require('rune.host')
  if host.is_running() or not H.start_tried then
    H.start_tried = true
    host.notify(method, ...)
  end
end

function H.on_change()
  local buf = vim.api.nvim_get_current_buf()
  if not H.on[buf] or vim.fn.pumvisible() == 1 then
    return
  end
  local tick = vim.api.nvim_buf_get_changedtick(buf)
  local cur = vim.api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  local key = buf .. ':' .. tick .. ':' .. row .. ':' .. col
  if key == H.last then
    return
  end
  H.last = key
  if require('rune.ghost').on_change(buf, tick, row, col) then
    return
  end
  local hot = H.hot
  if hot and hot.buf == buf and hot.rows[row] then
    notify_host('rune.completion.changed', buf, tick, row, col, H.context(buf, row, col, hot.lim))
  else
    notify_host('rune.completion.changed', buf, tick, row, col)
  end
end

function H.on_insert_enter(ev)
  H.on[ev.buf] = M.enabled_for(ev.buf)
  H.last = nil
  if H.on[ev.buf] and H.start_tried and not H.told_failed then
    local info = require('rune.host').info()
    if info.state == 'failed' then
      H.told_failed = true
      require('rune.util').notify(
        ('inline completion is off: the host is not running (%s). Run :RuneRestart once fixed.'):format(
          info.last_error or 'unknown error'
        ),
        vim.log.levels.WARN
      )
    end
  end
  H.on_change()
end

function H.on_leave()
  require('rune.ghost').clear()
  H.last = nil
  if require('rune.host').is_running() then
    notify_host('rune.completion.cancel')
  end
end

--- Remembers a yank as context for inline completion (TextYankPost), when
--- `completion.context_buffers` is enabled with `yanks` > 0.
function M.on_yank()
  local cb = cfg().context_buffers
  if not (cb.enabled and cb.yanks > 0) then
    return
  end
  local ev = vim.v.event
  local lines = ev.regcontents
  if ev.operator ~= 'y' or type(lines) ~= 'table' or #lines == 0 then
    return
  end
  local chunk = {
    filename = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ':~:.'),
    lines = vim.list_slice(lines, 1, cb.lines),
  }
  for i = #H.yanks, 1, -1 do
    if vim.deep_equal(H.yanks[i].lines, chunk.lines) then
      table.remove(H.yanks, i)
    end
  end
  table.insert(H.yanks, 1, chunk)
  while #H.yanks > cb.yanks do
    table.remove(H.yanks)
  end
end

--- Remembers the lines around the cursor as a recent edit (TextChanged, InsertLeave),
--- when `completion.context_buffers` is enabled with `edits` > 0: a newer edit of the
--- same region replaces the older one, and at most `edits` are kept.
---@param buf integer
function M.on_edit(buf)
  local cb = cfg().context_buffers
  if not (cb and cb.enabled and (cb.edits or 0) > 0) then
    return
  end
  if buf ~= vim.api.nvim_get_current_buf() or vim.bo[buf].buftype ~= '' then
    return
  end
  local tick = vim.api.nvim_buf_get_changedtick(buf)
  if H.edit_tick[buf] == tick then
    return
  end
  H.edit_tick[buf] = tick
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  local start = math.max(0, row - math.floor(cb.lines / 2))
  local lines = vim.api.nvim_buf_get_lines(buf, start, start + cb.lines, false)
  for i = #H.edits, 1, -1 do
    local e = H.edits[i]
    local overlaps = e.buf == buf and e.start < start + #lines and start < e.start + #e.lines
    if overlaps or vim.deep_equal(e.lines, lines) then
      table.remove(H.edits, i)
    end
  end
  table.insert(H.edits, 1, {
    buf = buf,
    start = start,
    filename = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(buf), ':~:.'),
    lines = lines,
  })
  while #H.edits > cb.edits do
    table.remove(H.edits)
  end
end

--- Installs the autocommands and keys. Runs once, on the first InsertEnter
--- after `setup()` (plugin/rune.lua) or the first :RuneComplete.
---@param ev table|nil the InsertEnter event that booted it
function M.boot(ev)
  if H.booted then
    return
  end
  H.booted = true
  pcall(vim.api.nvim_del_augroup_by_name, 'rune.completion.boot')
  local group = vim.api.nvim_create_augroup('rune.completion', { clear = true })
  local au = vim.api.nvim_create_autocmd
  au('InsertEnter', { group = group, callback = H.on_insert_enter })
  au({ 'TextChangedI', 'CursorMovedI' }, { group = group, callback = H.on_change })
  au({ 'InsertLeave', 'BufLeave' }, { group = group, callback = H.on_leave })
  au('CompleteChanged', {
    group = group,
    callback = function()
      require('rune.ghost').clear()
      H.last = nil
    end,
  })
  -- The menu closed: ask for the text it left (after the event, when it is gone).
  au('CompleteDone', {
    group = group,
    callback = function()
      vim.schedule(function()
        if vim.api.nvim_get_mode().mode:sub(1, 1) == 'i' then
          H.on_change()
        end
      end)
    end,
  })
  au('BufWipeout', {
    group = group,
    callback = function(args)
      H.on[args.buf] = nil
    end,
  })
  require('rune.ghost').setup_keys(cfg().keys)
  if ev and ev.event == 'InsertEnter' then
    H.on_insert_enter(ev)
  elseif vim.api.nvim_get_mode().mode:sub(1, 1) == 'i' then
    H.on_insert_enter({ buf = vim.api.nvim_get_current_buf() })
  end
end

--- The text around the cursor, read for the host in one call: a bounded number
--- of lines whatever the buffer size, plus snippets from other open buffers of
--- the same filetype when `completion.context_buffers.enabled`.
---@param buf integer
---@param row integer 0-based
---@param col integer 0-based byte column
---@param lim table prefix_lines, suffix_lines, before_bytes, after_bytes, context_buffers
---@return table|nil
function H.context(buf, row, col, lim)
  if not vim.api.nvim_buf_is_valid(buf) then
    return nil
  end
  local first = math.max(0, row - lim.prefix_lines)
  local lines = vim.api.nvim_buf_get_lines(buf, first, row + lim.suffix_lines + 1, false)
  local cur = lines[row - first + 1] or ''
  local above = {}
  for i = 1, row - first do
    above[i] = lines[i]
  end
  local below = {}
  for i = row - first + 2, #lines do
    below[#below + 1] = lines[i]
  end
  local ft = vim.bo[buf].filetype
  local ctx = {
    tick = vim.api.nvim_buf_get_changedtick(buf),
    above = above,
    before = cur:sub(math.max(1, col - lim.before_bytes + 1), col),
    after = cur:sub(col + 1, col + lim.after_bytes),
    below = below,
    filetype = ft,
    filename = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(buf), ':~:.'),
    commentstring = vim.bo[buf].commentstring,
    snippets = {},
  }
  local cb = lim.context_buffers
  if cb and cb.enabled then
    -- What you yanked last comes first.
    for i = 1, math.min(#H.yanks, cb.yanks or 0) do
      ctx.snippets[#ctx.snippets + 1] = H.yanks[i]
    end
  end
  if cb and cb.enabled then
    -- Then what you edited lately, unless the lines sent around the cursor hold it.
    local last = first + #lines
    for i = 1, math.min(#H.edits, cb.edits or 0) do
      local e = H.edits[i]
      local near = e.buf == buf and e.start < last and first < e.start + #e.lines
      if not near and vim.api.nvim_buf_is_valid(e.buf) then
        ctx.snippets[#ctx.snippets + 1] = { filename = e.filename, lines = e.lines }
      end
    end
  end
  local yanked = #ctx.snippets
  if cb and cb.enabled and ft ~= '' then
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if #ctx.snippets - yanked >= cb.max_buffers then
        break
      end
      if
        b ~= buf
        and vim.bo[b].buflisted
        and vim.api.nvim_buf_is_loaded(b)
        and vim.bo[b].filetype == ft
      then
        local mark = vim.api.nvim_buf_get_mark(b, '"')[1]
        local start = math.max(0, mark - 1 - math.floor(cb.lines / 2))
        ctx.snippets[#ctx.snippets + 1] = {
          filename = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(b), ':~:.'),
          lines = vim.api.nvim_buf_get_lines(b, start, start + cb.lines, false),
        }
      end
    end
  end
  return ctx
end

M._context = H.context

--- Called by the host to draw suggestions (see rune.ghost.show); `hot` lists the
--- rows of `buf` (0-based) where it has answers already computed, `lim` the limits
--- of the context it reads.
---@param hot integer[]
---@param lim table
---@return boolean shown
function M._show(buf, tick, row, col, items, ref, hot, lim)
  local rows = {}
  for _, r in ipairs(type(hot) == 'table' and hot or {}) do
    rows[r] = true
  end
  H.hot = { buf = buf, rows = rows, lim = lim }
  return require('rune.ghost').show(buf, tick, row, col, items, ref)
end

--- Inserts `text` at the cursor (after the character under it in Normal mode).
---@param text string
function H.insert_at_cursor(text)
  local cur = vim.api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  if vim.api.nvim_get_mode().mode:sub(1, 1) ~= 'i' then
    local line = vim.api.nvim_get_current_line()
    if #line > 0 then
      col = col + #vim.fn.matchstr(line:sub(col + 1), '^.')
    end
  end
  local lines = vim.split(text, '\n', { plain = true })
  vim.api.nvim_buf_set_text(0, row, col, row, col, lines)
  local erow = row + #lines - 1
  local ecol = #lines == 1 and col + #lines[1] or #lines[#lines]
  if vim.api.nvim_get_mode().mode:sub(1, 1) ~= 'i' then
    ecol = math.max(0, ecol - 1)
  end
  vim.api.nvim_win_set_cursor(0, { erow + 1, ecol })
end

--- Asks the host for suggestions at the cursor now; `on_done(items, err)`.
---@param on_done fun(items: string[]|nil, err: string|nil)
function M.ask(on_done)
  local buf = vim.api.nvim_get_current_buf()
  local tick = vim.api.nvim_buf_get_changedtick(buf)
  local cur = vim.api.nvim_win_get_cursor(0)
  local col = cur[2]
  if vim.api.nvim_get_mode().mode:sub(1, 1) ~= 'i' then
    local line = vim.api.nvim_get_current_line()
    if #line > 0 then
      col = col + #vim.fn.matchstr(line:sub(col + 1), '^.')
    end
  end
  H.next_ask = H.next_ask + 1
  local id = H.next_ask
  H.asks[id] = function(items, err)
    if err then
      return on_done(nil, err)
    end
    if
      vim.api.nvim_get_current_buf() ~= buf
      or vim.api.nvim_buf_get_changedtick(buf) ~= tick
      or vim.api.nvim_win_get_cursor(0)[1] ~= cur[1]
      or vim.api.nvim_win_get_cursor(0)[2] ~= cur[2]
    then
      return on_done(nil, 'the buffer or cursor moved while asking; run :RuneComplete again')
    end
    on_done(items, nil)
  end
  -- Asked for explicitly: start the host if needed, and say so when it cannot start.
  local host = require('rune.host')
  local ok, err = pcall(host.wait)
  if not ok then
    H.asks[id] = nil
    return on_done(nil, (tostring(err):gsub('^%(rune%) ', '')))
  end
  host.notify('rune.completion.ask', id, buf, tick, cur[1] - 1, col)
end

--- Called by the host with the answer to `ask`.
---@param id integer
---@param items string[]
---@param err string '' on success
function M._answer(id, items, err)
  local cb = H.asks[id]
  H.asks[id] = nil
  if cb then
    if err ~= '' then
      cb(nil, err)
    else
      cb(items, nil)
    end
  end
end

--- Sets inline completion for the current buffer.
---@param on boolean
function M.set_buffer(on)
  local buf = vim.api.nvim_get_current_buf()
  vim.b[buf].rune_completion = on
  H.on[buf] = on
  if not on then
    require('rune.ghost').clear()
  end
end

--- :RuneComplete [toggle|enable|disable]
---@param opts { args: string }
function M.command(opts)
  local util = require('rune.util')
  M.boot()
  local arg = vim.trim(opts.args or '')
  if arg == 'toggle' or arg == 'enable' or arg == 'disable' then
    local buf = vim.api.nvim_get_current_buf()
    local on
    if arg == 'toggle' then
      on = not M.enabled_for(buf)
    else
      on = arg == 'enable'
    end
    M.set_buffer(on)
    util.notify(('inline completion %s for this buffer'):format(on and 'on' or 'off'))
    return
  end
  if arg ~= '' then
    util.notify(
      ("unknown argument '%s'; use :RuneComplete [toggle|enable|disable]"):format(arg),
      vim.log.levels.ERROR
    )
    return
  end
  M.ask(function(items, err)
    if err then
      util.notify('completion: ' .. err, vim.log.levels.ERROR)
      return
    end
    if not items or #items == 0 then
      util.notify('no suggestion here')
      return
    end
    if #items == 1 then
      H.insert_at_cursor(items[1])
      return
    end
    vim.ui.select(items, {
      prompt = 'Rune: pick a completion',
      format_item = function(item)
        return (item:gsub('\n', ' ⏎ '))
      end,
    }, function(choice)
      if choice then
        H.insert_at_cursor(choice)
      end
    end)
  end)
end

return M
