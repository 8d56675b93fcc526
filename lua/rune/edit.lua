--- :RuneEdit — a rewrite streamed into the buffer as a live diff, then reviewed.
---
--- The host (src/nvim/edit) asks the model and says what to write and draw;
--- this file keeps the region (an extmark, so edits elsewhere move it), draws
--- the diff, runs the review keys and keeps the undo history clean: the region
--- changes while streaming and reviewing are taken back at the end (with the
--- history saved by `:wundo` before), and an accepted result is written as one
--- undo step. A rejected edit leaves the text, the undo history and 'modified'
--- as they were.
local M, H = {}, {}
local util = require('rune.util')

H.ns = vim.api.nvim_create_namespace('rune.edit')
H.dns = vim.api.nvim_create_namespace('rune.edit.diff')
---@type table<integer, rune.EditSession>
H.sessions = {}
---@type table<integer, integer> buffer -> session id
H.by_buf = {}

---@class rune.EditHunk
---@field row integer first row in the region (0-based)
---@field add integer new lines
---@field del string[] the old lines they replace

---@class rune.EditSession
---@field id integer
---@field buf integer
---@field mark integer extmark at the region's start
---@field eol boolean the (empty) region starts after the mark's line: it is at the buffer's end
---@field row0 integer the region's first row when the edit began
---@field n integer lines in the region now
---@field original string[]
---@field snapshot string[] the whole buffer when the edit began
---@field undofile string|nil the undo history saved when the edit began
---@field modified boolean
---@field written boolean the buffer was written during the edit
---@field state 'streaming'|'review'
---@field hunks rune.EditHunk[]
---@field pending string[]
---@field label string
---@field note string|nil said first in the hint line (a conflict)
---@field saved_maps table[]
---@field augroup integer

local function cfg()
  return require('rune').config().edit
end

local function host()
  return require('rune.host')
end

local function set_hl()
  vim.api.nvim_set_hl(0, 'RuneEditAdd', { link = 'DiffAdd', default = true })
  vim.api.nvim_set_hl(0, 'RuneEditDelete', { link = 'DiffDelete', default = true })
  vim.api.nvim_set_hl(0, 'RuneEditPending', { link = 'Comment', default = true })
  vim.api.nvim_set_hl(0, 'RuneEditHint', { link = 'DiagnosticHint', default = true })
end
set_hl()
vim.api.nvim_create_autocmd('ColorScheme', {
  group = vim.api.nvim_create_augroup('rune.edit.hl', { clear = true }),
  callback = set_hl,
})

-- The region ------------------------------------------------------------------

---@param s rune.EditSession
---@return integer row the region's first row (0-based)
function H.start_row(s)
  local pos = vim.api.nvim_buf_get_extmark_by_id(s.buf, H.ns, s.mark, {})
  return s.eol and pos[1] + 1 or pos[1]
end

--- Anchors the region's start at `row` (past the last line: after it). The mark has
--- right gravity, so a line the user opens right above the region stays outside it.
---@param s rune.EditSession
---@param row integer
function H.anchor(s, row)
  local count = vim.api.nvim_buf_line_count(s.buf)
  s.eol = row >= count
  local at = s.eol and count - 1 or row
  s.mark = vim.api.nvim_buf_set_extmark(s.buf, H.ns, at, 0, { id = s.mark, right_gravity = true })
end

---@param s rune.EditSession
---@return string[]
function H.region(s)
  local start = H.start_row(s)
  return vim.api.nvim_buf_get_lines(s.buf, start, start + s.n, false)
end

--- Replaces region rows `from`..`to` (exclusive) with `lines`, joined to the edit's undo block.
---@param s rune.EditSession
function H.replace(s, from, to, lines)
  local start = H.start_row(s)
  vim.api.nvim_buf_call(s.buf, function()
    pcall(vim.cmd.undojoin)
    vim.api.nvim_buf_set_lines(s.buf, start + from, start + to, false, lines)
  end)
  s.n = s.n - (to - from) + #lines
  H.anchor(s, start)
end

-- Drawing -----------------------------------------------------------------------

---@param text string
---@param hl string
function H.vline(text, hl)
  local ts = vim.bo.tabstop > 0 and vim.bo.tabstop or 8
  return { { (text:gsub('\t', string.rep(' ', ts))), hl } }
end

---@param s rune.EditSession
function H.hint(s)
  local k = cfg().keys
  if s.state == 'streaming' then
    return ('Rune (%s) is writing… %s stops and restores the text'):format(s.label, k.stop)
  end
  local note = s.note and (s.note .. ' · ') or ''
  return (
    note
    .. 'Rune: %d change%s · %s accept · %s reject · %s accept all · %s reject all · %s/%s next/previous'
  ):format(
    #s.hunks,
    #s.hunks == 1 and '' or 's',
    k.accept,
    k.reject,
    k.accept_all,
    k.reject_all,
    k.next,
    k.prev
  )
end

--- Virtual lines at region row `row`: above it, or below the region's last line when past it.
function H.virt(s, start, row, lines)
  if #lines == 0 then
    return
  end
  local count = vim.api.nvim_buf_line_count(s.buf)
  local at, above = start + row, true
  if row >= s.n or at >= count then
    at, above = math.min(start + s.n, count) - 1, false
  end
  if at < 0 then
    at, above = 0, true
  end
  vim.api.nvim_buf_set_extmark(s.buf, H.dns, at, 0, {
    virt_lines = lines,
    virt_lines_above = above,
  })
end

---@param s rune.EditSession
function H.draw(s)
  local buf = s.buf
  vim.api.nvim_buf_clear_namespace(buf, H.dns, 0, -1)
  local start = H.start_row(s)
  H.virt(s, start, 0, { H.vline(H.hint(s), 'RuneEditHint') })
  for _, h in ipairs(s.hunks) do
    local del = {}
    for _, l in ipairs(h.del) do
      del[#del + 1] = H.vline(l, 'RuneEditDelete')
    end
    H.virt(s, start, h.row, del)
    if h.add > 0 and start + h.row < vim.api.nvim_buf_line_count(buf) then
      -- One mark per hunk, however many lines it has: redrawn once a frame.
      vim.api.nvim_buf_set_extmark(buf, H.dns, start + h.row, 0, {
        end_row = start + h.row + h.add,
        end_col = 0,
        hl_group = 'RuneEditAdd',
        hl_eol = true,
        strict = false,
      })
    end
  end
  local pending = {}
  for _, l in ipairs(s.pending) do
    pending[#pending + 1] = H.vline(l, 'RuneEditPending')
  end
  H.virt(s, start, s.n, pending)
end

-- Keys --------------------------------------------------------------------------

---@param s rune.EditSession
function H.map(s, modes, lhs, fn, desc)
  if type(lhs) ~= 'string' or lhs == '' then
    return
  end
  for _, mode in ipairs(modes) do
    local prev = vim.fn.maparg(lhs, mode, false, true)
    if prev.buffer == 1 then
      s.saved_maps[#s.saved_maps + 1] = { mode = mode, map = prev }
    end
    s.saved_maps[#s.saved_maps + 1] = { mode = mode, lhs = lhs }
    vim.keymap.set(mode, lhs, fn, { buffer = s.buf, desc = 'Rune edit: ' .. desc, nowait = true })
  end
end

---@param s rune.EditSession
function H.unmap(s)
  vim.api.nvim_buf_call(s.buf, function()
    for _, m in ipairs(s.saved_maps) do
      if m.lhs then
        pcall(vim.keymap.del, m.mode, m.lhs, { buffer = s.buf })
      end
    end
    for _, m in ipairs(s.saved_maps) do
      if m.map then
        pcall(vim.fn.mapset, m.mode, false, m.map)
      end
    end
  end)
  s.saved_maps = {}
end

---@param s rune.EditSession
function H.keymaps(s)
  H.unmap(s)
  local k = cfg().keys
  vim.api.nvim_buf_call(s.buf, function()
    local busy = function()
      util.notify('a Rune edit is open here: accept or reject it first', vim.log.levels.WARN)
    end
    H.map(s, { 'n' }, 'u', busy, 'undo waits for the edit')
    H.map(s, { 'n' }, '<C-r>', busy, 'redo waits for the edit')
    -- Normal mode only: <C-c> in Insert mode is how many leave Insert mode.
    H.map(s, { 'n' }, k.stop, function()
      M.stop(s.buf)
    end, 'stop and restore the text')
    if s.state ~= 'review' then
      return
    end
    H.map(s, { 'n' }, k.accept, function()
      M.accept(s.buf)
    end, 'accept the change at the cursor')
    H.map(s, { 'n' }, k.reject, function()
      M.reject(s.buf)
    end, 'reject the change at the cursor')
    H.map(s, { 'n' }, k.accept_all, function()
      M.accept_all(s.buf)
    end, 'accept every change')
    H.map(s, { 'n' }, k.reject_all, function()
      M.reject_all(s.buf)
    end, 'reject every change')
    H.map(s, { 'n' }, k.next, function()
      M.jump(s.buf, 1)
    end, 'next change')
    H.map(s, { 'n' }, k.prev, function()
      M.jump(s.buf, -1)
    end, 'previous change')
  end)
end

-- Ending ------------------------------------------------------------------------

---@param s rune.EditSession
function H.drop(s)
  H.sessions[s.id] = nil
  if H.by_buf[s.buf] == s.id then
    H.by_buf[s.buf] = nil
  end
  pcall(vim.api.nvim_del_augroup_by_id, s.augroup)
  if s.undofile then
    os.remove(s.undofile)
  end
  if vim.api.nvim_buf_is_valid(s.buf) then
    vim.api.nvim_buf_clear_namespace(s.buf, H.dns, 0, -1)
    vim.api.nvim_buf_clear_namespace(s.buf, H.ns, 0, -1)
    H.unmap(s)
  end
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'RuneEditDone', modeline = false })
end

--- True when the buffer outside the region is as it was when the edit began.
---@param s rune.EditSession
---@param lines string[] the whole buffer now
---@param start integer
function H.untouched_outside(s, lines, start)
  if start ~= s.row0 or #lines - s.n ~= #s.snapshot - #s.original then
    return false
  end
  for i = 1, start do
    if lines[i] ~= s.snapshot[i] then
      return false
    end
  end
  local after_now, after_then = start + s.n, s.row0 + #s.original
  for i = 1, #lines - after_now do
    if lines[after_now + i] ~= s.snapshot[after_then + i] then
      return false
    end
  end
  return true
end

--- Ends the edit with `final` as the region's text. When nothing else in the buffer
--- changed meanwhile, the edit's own changes leave the undo history: the original
--- text is put back unrecorded, the saved history read back, and `final` (when it
--- differs) written as one undo step. Otherwise `final` is written as one more step.
---@param s rune.EditSession
---@param final string[]
function H.finish(s, final)
  local buf = s.buf
  local start = H.start_row(s)
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  local cursors = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    cursors[win] = vim.api.nvim_win_get_cursor(win)
  end
  if s.undofile and H.untouched_outside(s, lines, start) then
    vim.api.nvim_buf_call(buf, function()
      local ul = vim.bo[buf].undolevels
      vim.bo[buf].undolevels = -1
      vim.api.nvim_buf_set_lines(buf, start, start + s.n, false, s.original)
      vim.bo[buf].undolevels = ul
      local ok, err = pcall(vim.cmd, 'silent rundo ' .. vim.fn.fnameescape(s.undofile))
      if not ok then
        util.notify('could not restore the undo history: ' .. tostring(err), vim.log.levels.WARN)
      end
      vim.bo[buf].modified = s.modified or s.written
      if not vim.deep_equal(final, s.original) then
        vim.o.undolevels = vim.o.undolevels -- a new undo step
        vim.api.nvim_buf_set_lines(buf, start, start + #s.original, false, final)
      end
    end)
  elseif not vim.deep_equal(final, H.region(s)) then
    vim.api.nvim_buf_call(buf, function()
      vim.o.undolevels = vim.o.undolevels
      vim.api.nvim_buf_set_lines(buf, start, start + s.n, false, final)
    end)
  end
  for win, pos in pairs(cursors) do
    local last = vim.api.nvim_buf_line_count(buf)
    pcall(vim.api.nvim_win_set_cursor, win, { math.min(pos[1], last), pos[2] })
  end
  H.drop(s)
end

---@param buf integer|nil
---@return rune.EditSession|nil
function H.session(buf)
  local id = H.by_buf[buf or vim.api.nvim_get_current_buf()]
  return id and H.sessions[id] or nil
end

--- The hunk at the cursor's row, else the next one below it, else the last one.
---@param s rune.EditSession
---@return integer|nil
function H.hunk_at_cursor(s)
  if #s.hunks == 0 then
    return nil
  end
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  local start = H.start_row(s)
  for i, h in ipairs(s.hunks) do
    if row >= start + h.row and row <= start + h.row + math.max(h.add, 1) - 1 then
      return i
    end
  end
  for i, h in ipairs(s.hunks) do
    if start + h.row > row then
      return i
    end
  end
  return #s.hunks
end

---@param s rune.EditSession
---@param i integer
---@param accept boolean
function H.resolve(s, i, accept)
  local h = table.remove(s.hunks, i)
  if not accept then
    H.replace(s, h.row, h.row + h.add, h.del)
    for j = i, #s.hunks do
      s.hunks[j].row = s.hunks[j].row + #h.del - h.add
    end
  end
  if #s.hunks == 0 then
    H.finish(s, H.region(s))
  else
    H.draw(s)
  end
end

-- Public API ------------------------------------------------------------------

--- The function (or method) around the cursor as rows (0-based, end exclusive), by treesitter.
---@param buf integer
---@return integer|nil, integer|nil
function H.function_rows(buf)
  local ok, node = pcall(vim.treesitter.get_node, { bufnr = buf })
  while ok and node do
    local t = node:type()
    if t:find('function') or t:find('method') then
      local sr, _, er, ec = node:range()
      return sr, ec == 0 and er or er + 1
    end
    node = node:parent()
  end
  return nil, nil
end

--- :[range]RuneEdit[!] {instruction}: rewrites the range (without one: the function
--- around the cursor, else the whole buffer); with ! writes new code below the cursor.
---@param o table command options (args, bang, range, line1, line2)
function M.command(o)
  local buf = vim.api.nvim_get_current_buf()
  if H.by_buf[buf] then
    error('(rune) a Rune edit is open in this buffer: accept or reject it first', 0)
  end
  if not vim.bo[buf].modifiable or vim.b[buf].rune_chat_id then
    error(
      '(rune) :RuneEdit changes code buffers; this one cannot be edited (see :help rune-edit)',
      0
    )
  end
  local count = vim.api.nvim_buf_line_count(buf)
  local mode, first, last = 'rewrite', 0, count
  if o.bang then
    local cur = vim.api.nvim_win_get_cursor(0)[1]
    local line = vim.api.nvim_buf_get_lines(buf, cur - 1, cur, false)[1]
    if line:match('^%s*$') then
      first, last = cur - 1, cur
    else
      mode, first, last = 'insert', cur, cur
    end
  elseif (o.range or 0) > 0 then
    first, last = o.line1 - 1, o.line2
  else
    local sr, er = H.function_rows(buf)
    if sr then
      first, last = sr, er
    end
  end
  local ctx = cfg().context_lines
  host().request('rune.edit.start', {
    buf = buf,
    root = require('rune.chat').root(buf),
    name = vim.api.nvim_buf_get_name(buf),
    filetype = vim.bo[buf].filetype,
    row = first,
    lines = vim.api.nvim_buf_get_lines(buf, first, last, false),
    before = vim.api.nvim_buf_get_lines(buf, math.max(0, first - ctx), first, false),
    after = vim.api.nvim_buf_get_lines(buf, last, last + ctx, false),
    mode = mode,
    instruction = o.args or '',
  })
end

--- Visual mode (`<Plug>(RuneEdit)`): asks for the instruction, then rewrites the selected lines.
function M.visual()
  local l1, l2 = vim.fn.line('v'), vim.fn.line('.')
  if l1 > l2 then
    l1, l2 = l2, l1
  end
  -- Leaves Visual mode without running the typeahead: keys typed ahead (the instruction
  -- itself, from a fast typist or a macro) belong to the prompt below. feedkeys with 'x'
  -- would run them in Normal mode first.
  vim.cmd('normal! ' .. vim.keycode('<Esc>'))
  vim.ui.input({ prompt = 'Rune edit: ' }, function(input)
    if input and input ~= '' then
      local ok, err = pcall(M.command, { range = 2, line1 = l1, line2 = l2, args = input })
      if not ok then
        util.notify(tostring(err):gsub('^%(rune%) ', ''), vim.log.levels.ERROR)
      end
    end
  end)
end

--- Completion for :RuneEdit: the prompt names after `/`.
---@param lead string
---@return string[]
function M.complete(lead)
  if lead:sub(1, 1) ~= '/' then
    return {}
  end
  local ok, list = pcall(host().request, 'rune.prompts.list')
  local out = {}
  for _, p in ipairs(ok and list or {}) do
    local word = '/' .. p.name
    if p.edit ~= 'none' and word:sub(1, #lead) == lead then
      out[#out + 1] = word
    end
  end
  return out
end

--- Stops the edit in `buf` and restores its text (while reviewing: rejects every change).
---@param buf integer|nil
function M.stop(buf)
  local s = H.session(buf)
  if not s then
    return false
  end
  if s.state == 'streaming' and host().is_running() then
    host().notify('rune.edit.stop', s.id)
  else
    H.finish(s, s.original)
  end
  return true
end

function M.accept(buf)
  local s = H.session(buf)
  local i = s and s.state == 'review' and H.hunk_at_cursor(s)
  if i then
    H.resolve(s, i, true)
  end
end

function M.reject(buf)
  local s = H.session(buf)
  local i = s and s.state == 'review' and H.hunk_at_cursor(s)
  if i then
    H.resolve(s, i, false)
  end
end

function M.accept_all(buf)
  local s = H.session(buf)
  if s and s.state == 'review' then
    H.finish(s, H.region(s))
  end
end

function M.reject_all(buf)
  local s = H.session(buf)
  if s and s.state == 'review' then
    H.finish(s, s.original)
  end
end

--- Moves the cursor to the next (`dir` 1) or previous (-1) change.
function M.jump(buf, dir)
  local s = H.session(buf)
  if not s or #s.hunks == 0 then
    return
  end
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  local start = H.start_row(s)
  local target
  for i = dir > 0 and 1 or #s.hunks, dir > 0 and #s.hunks or 1, dir do
    local r = start + s.hunks[i].row
    if (dir > 0 and r > row) or (dir < 0 and r < row) then
      target = r
      break
    end
  end
  target = target or (start + s.hunks[dir > 0 and 1 or #s.hunks].row)
  local last = vim.api.nvim_buf_line_count(s.buf)
  vim.api.nvim_win_set_cursor(0, { math.min(target + 1, last), 0 })
end

--- The state of the edit in `buf`, for statuslines and tests: nil, or
--- `{ state = 'streaming'|'review', hunks = n }`.
---@param buf integer|nil
function M.status(buf)
  local s = H.session(buf)
  return s and { state = s.state, hunks = #s.hunks } or nil
end

--- Applies the code block under the cursor of a chat answer to the file it names
--- or came from, as a reviewed diff (the host places it; see |rune-edit-apply|).
---@param chat integer|nil the chat buffer (default: current)
function M.apply_block(chat)
  chat = chat or vim.api.nvim_get_current_buf()
  host().request('rune.edit.apply', {
    chat = chat,
    row = vim.api.nvim_win_get_cursor(0)[1] - 1,
    root = vim.b[chat].rune_chat_project or vim.fn.getcwd(),
  })
end

-- Called by the host ------------------------------------------------------------

--- Shows the file `path` in a window other than the chat's (loading it if needed) and
--- makes that window current.
---@param path string
---@return integer buf
function M._show(path)
  local buf = vim.fn.bufadd(path)
  vim.fn.bufload(buf)
  vim.bo[buf].buflisted = true
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if vim.api.nvim_win_get_buf(win) == buf then
      vim.api.nvim_set_current_win(win)
      return buf
    end
  end
  local function is_chat(win)
    return vim.b[vim.api.nvim_win_get_buf(win)].rune_chat_id ~= nil
  end
  local target
  local prev = vim.fn.win_getid(vim.fn.winnr('#'))
  if prev ~= 0 and not is_chat(prev) and vim.api.nvim_win_get_config(prev).relative == '' then
    target = prev
  else
    for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
      if not is_chat(win) and vim.api.nvim_win_get_config(win).relative == '' then
        target = win
        break
      end
    end
  end
  if target then
    vim.api.nvim_set_current_win(target)
  else
    vim.cmd('aboveleft split')
  end
  vim.api.nvim_win_set_buf(0, buf)
  return buf
end

--- Begins edit `id`: saves the undo history, replaces the region's `original`
--- lines (from `row`) with one empty line where the answer streams in, and
--- shows the original as pending lines.
---@return boolean ok false when the buffer is gone
function M._begin(id, buf, row, original, label, note)
  if not vim.api.nvim_buf_is_valid(buf) then
    return false
  end
  if H.by_buf[buf] then
    error('(rune) a Rune edit is open in this buffer: accept or reject it first', 0)
  end
  ---@type rune.EditSession
  local s = {
    id = id,
    buf = buf,
    mark = nil,
    eol = false,
    row0 = row,
    n = #original,
    original = original,
    snapshot = vim.api.nvim_buf_get_lines(buf, 0, -1, false),
    modified = vim.bo[buf].modified,
    written = false,
    state = 'streaming',
    hunks = {},
    pending = original,
    label = label,
    note = util.val(note),
    saved_maps = {},
    augroup = vim.api.nvim_create_augroup('rune.edit.' .. id, { clear = true }),
  }
  local file = vim.fn.tempname()
  local ok = pcall(vim.api.nvim_buf_call, buf, function()
    vim.cmd('silent wundo! ' .. vim.fn.fnameescape(file))
  end)
  s.undofile = ok and vim.fn.filereadable(file) == 1 and file or nil
  H.anchor(s, row)
  H.sessions[id], H.by_buf[buf] = s, id
  vim.api.nvim_buf_call(buf, function()
    vim.o.undolevels = vim.o.undolevels
    vim.api.nvim_buf_set_lines(buf, row, row + #original, false, { '' })
  end)
  s.n = 1
  H.anchor(s, row)
  vim.api.nvim_create_autocmd('BufWritePost', {
    group = s.augroup,
    buffer = buf,
    callback = function()
      s.written = true
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufUnload', 'BufWipeout' }, {
    group = s.augroup,
    buffer = buf,
    callback = function()
      if s.state == 'streaming' then
        host().notify('rune.edit.stop', s.id)
      end
      H.sessions[s.id], H.by_buf[buf] = nil, nil
      if s.undofile then
        os.remove(s.undofile)
      end
    end,
  })
  H.keymaps(s)
  H.draw(s)
  return true
end

--- Appends streamed `text` to the region and redraws the live diff.
---@param diff { hunks: rune.EditHunk[], pending: string[] }
---@return boolean ok false when the edit or its buffer is gone
function M._write(id, text, diff)
  local s = H.sessions[id]
  if not s or not vim.api.nvim_buf_is_valid(s.buf) then
    return false
  end
  local start = H.start_row(s)
  local last = start + s.n - 1
  local tail = vim.api.nvim_buf_get_lines(s.buf, last, last + 1, false)[1] or ''
  local lines = vim.split(text, '\n', { plain = true })
  vim.api.nvim_buf_call(s.buf, function()
    pcall(vim.cmd.undojoin)
    vim.api.nvim_buf_set_text(s.buf, last, #tail, last, #tail, lines)
  end)
  s.n = s.n + #lines - 1
  if last == start and tail == '' then
    -- Written where the start mark is: it moved along (right gravity); put it back.
    H.anchor(s, start)
  end
  s.hunks, s.pending = diff.hunks, diff.pending
  H.draw(s)
  return true
end

--- Ends the stream: `done` puts the final text in and starts the review; `cancelled`
--- and `error` restore the original text.
---@param res { status: 'done'|'cancelled'|'error', lines: string[]|nil, diff: table|nil, message: string|nil }
function M._done(id, res)
  local s = H.sessions[id]
  if not s or not vim.api.nvim_buf_is_valid(s.buf) then
    return
  end
  if res.status ~= 'done' then
    H.finish(s, s.original)
    if res.status == 'error' then
      util.notify('edit failed: ' .. (res.message or '?'), vim.log.levels.ERROR)
    else
      util.notify('edit stopped; the text is as it was')
    end
    return
  end
  H.replace(s, 0, s.n, res.lines)
  s.hunks, s.pending = res.diff.hunks, {}
  if #s.hunks == 0 then
    H.finish(s, s.original)
    util.notify('nothing to change: the text is already like that')
    return
  end
  s.state = 'review'
  H.keymaps(s)
  H.draw(s)
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'RuneEditReview', modeline = false })
end

return M
