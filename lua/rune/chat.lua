--- :RuneChat — the chat window. Lua draws and forwards: the host
--- (src/nvim/chat) reads questions, gathers context, streams answers into the
--- buffer through the `_begin`/`_append` helpers below, and keeps the history.
local M, H = {}, {}
local util = require('rune.util')

H.ns = vim.api.nvim_create_namespace('rune.chat.stream')
H.MARK = 1
H.PENDING = 2
H.QUESTION = 3
H.CONTEXT_OPEN = '<details><summary>context:'
H.CONTEXT_CLOSE = '</details>'
H.DETAILS_OPEN = '<details><summary>'
H.USER_HEADER = '## You'
H.ANSWER_HEADER = '## Rune ('
---@type integer|nil the buffer the user came from (for #buffer, #diagnostics)
H.source = nil
---@type table<integer, rune.ChatStatus>
H.status = {}
---@type rune.ChatStatus|nil
H.last = nil

---@class rune.ChatStatus
---@field state 'idle'|'streaming'
---@field provider string|nil
---@field model string|nil
---@field input_tokens integer|nil
---@field output_tokens integer|nil
---@field ttft_ms integer|nil

---@return table
local function cfg()
  return require('rune').config().chat
end

local function host()
  return require('rune.host')
end

--- The #context words and /prompts, as the host declares them.
---@return { words: table[], prompts: table[] }
function H.words()
  local ok, res = pcall(host().request, 'rune.chat.words')
  return ok and res or { words = {}, prompts = {} }
end

local function guard(fn)
  return function(...)
    local ok, err = pcall(fn, ...)
    if not ok then
      local msg = tostring(err):gsub('^%(rune%) ', '')
      util.notify(msg, vim.log.levels.ERROR)
    end
  end
end

---@param buf integer
---@return boolean
local function is_chat(buf)
  return vim.api.nvim_buf_is_valid(buf) and vim.b[buf].rune_chat_id ~= nil
end

--- The project a buffer belongs to: its chat's project, its git root, or the cwd.
---@param buf integer
---@return string
function H.root(buf)
  if is_chat(buf) then
    return vim.b[buf].rune_chat_project
  end
  local name = vim.api.nvim_buf_get_name(buf)
  if name ~= '' and vim.bo[buf].buftype == '' then
    local ok, root = pcall(vim.fs.root, buf, '.git')
    if ok and root then
      return (vim.fn.fnamemodify(root, ':p'):gsub('/$', ''))
    end
  end
  return vim.fn.getcwd()
end

--- The project root of `buf` (history and relative names are per project).
---@param buf integer
---@return string
function M.root(buf)
  return H.root(buf)
end

---@param size number columns/lines, or a fraction of `total` when below 1
---@param total integer
---@return integer
function H.size(size, total)
  if size < 1 then
    return math.max(1, math.floor(total * size))
  end
  return math.min(math.floor(size), total)
end

--- Shows `buf` in the current tab (reusing a window that has it) and focuses it.
---@param buf integer
---@return integer win
function H.show(buf)
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if vim.api.nvim_win_get_buf(win) == buf then
      vim.api.nvim_set_current_win(win)
      return win
    end
  end
  local c = cfg()
  local win
  if c.layout == 'float' then
    local width = H.size(c.width, vim.o.columns)
    local height = H.size(c.height, vim.o.lines - vim.o.cmdheight - 2)
    win = vim.api.nvim_open_win(buf, true, {
      relative = 'editor',
      width = width,
      height = height,
      row = math.floor((vim.o.lines - height) / 2) - 1,
      col = math.floor((vim.o.columns - width) / 2),
      border = c.border,
      title = ' Rune chat ',
      title_pos = 'center',
    })
  else
    if c.layout == 'tab' then
      vim.cmd('tab split')
    elseif c.layout == 'split' then
      vim.cmd(('botright %dsplit'):format(H.size(c.height, vim.o.lines)))
    else
      vim.cmd(('botright %dvsplit'):format(H.size(c.width, vim.o.columns)))
    end
    win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(win, buf)
  end
  H.win_options(win)
  return win
end

---@param win integer
function H.win_options(win)
  local function set(name, value)
    vim.api.nvim_set_option_value(name, value, { win = win, scope = 'local' })
  end
  set('wrap', true)
  set('linebreak', true)
  set('foldmethod', 'expr')
  set('foldexpr', "v:lua.require'rune.chat'.foldexpr()")
  set('foldlevel', 0)
  set('foldenable', true)
end

--- Windows showing `buf` whose cursor is on its last line (they follow the stream).
function H.followers(buf)
  local out = {}
  local last = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if vim.api.nvim_win_get_cursor(win)[1] >= last then
      out[#out + 1] = win
    end
  end
  return out
end

function H.follow(wins, buf)
  local last = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(wins) do
    if vim.api.nvim_win_is_valid(win) then
      pcall(vim.api.nvim_win_set_cursor, win, { last, 0 })
    end
  end
end

--- The chat buffer a command acts on: the current one, one in this tab, or the newest.
---@return integer|nil
function H.chat_buf()
  local cur = vim.api.nvim_get_current_buf()
  if is_chat(cur) then
    return cur
  end
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    local b = vim.api.nvim_win_get_buf(win)
    if is_chat(b) then
      return b
    end
  end
  local newest
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if is_chat(b) and (not newest or b > newest) then
      newest = b
    end
  end
  return newest
end

---@param buf integer
function H.keymaps(buf)
  local keys = cfg().keys
  local function map(modes, lhs, rhs, desc)
    if type(lhs) == 'string' and lhs ~= '' then
      vim.keymap.set(modes, lhs, rhs, { buffer = buf, desc = 'Rune: ' .. desc, nowait = true })
    end
  end
  map('n', keys.submit, function()
    M.submit(buf)
  end, 'send the question')
  map({ 'n', 'i' }, keys.submit_insert, function()
    M.submit(buf)
  end, 'send the question')
  map({ 'n', 'i' }, keys.stop, function()
    M.stop(buf)
  end, 'stop the answer')
  map('n', keys.apply, function()
    guard(require('rune.edit').apply_block)(buf)
  end, 'apply the code block under the cursor to its file')
  map('n', keys.close, function()
    if vim.b[buf].rune_chat_busy then
      M.stop(buf)
    else
      pcall(vim.cmd.close)
    end
  end, 'stop the answer, or close the chat window')
end

-- Public API ---------------------------------------------------------------

--- Opens (or focuses) the project's chat. `opts` are :RuneChat's command
--- options: `args` (a question to send at once), `bang` (a new chat), `range`,
--- `line1`, `line2` (a selection to attach); `id` reopens a saved chat.
---@param opts table|nil
function M.open(opts)
  opts = opts or {}
  local cur = vim.api.nvim_get_current_buf()
  local root = H.root(cur)
  if not is_chat(cur) then
    H.source = cur
  end
  local selection
  if (opts.range or 0) > 0 and not is_chat(cur) then
    selection = {
      buf = cur,
      name = vim.api.nvim_buf_get_name(cur),
      filetype = vim.bo[cur].filetype,
      line1 = opts.line1,
      line2 = opts.line2,
      lines = vim.api.nvim_buf_get_lines(cur, opts.line1 - 1, opts.line2, false),
    }
  end
  local prompt = opts.args ~= nil and opts.args ~= '' and opts.args or nil
  local res = host().request('rune.chat.open', {
    new = opts.bang == true,
    id = opts.id,
    root = root,
    source = H.source,
    selection = selection,
    prompt = prompt,
  })
  local win = H.show(res.buf)
  if not prompt then
    vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(res.buf), 0 })
    if cfg().start_insert then
      vim.cmd('startinsert!')
    end
  end
end

--- Sends the question typed under the last `## You`.
---@param buf integer|nil
function M.submit(buf)
  buf = buf or H.chat_buf()
  if not buf then
    util.notify('no chat is open; run :RuneChat', vim.log.levels.WARN)
    return
  end
  vim.cmd('stopinsert')
  local alt = vim.fn.win_getid(vim.fn.winnr('#'))
  local alt_buf = alt ~= 0 and vim.api.nvim_win_get_buf(alt) or nil
  if alt_buf and not is_chat(alt_buf) then
    H.source = alt_buf
  end
  guard(host().request)('rune.chat.submit', buf, H.source)
end

--- Stops the answer streaming in `buf` (every answer, and every streaming :RuneEdit, when nil).
--- Never starts the host.
---@param buf integer|table|nil
function M.stop(buf)
  if type(buf) ~= 'number' then
    buf = nil -- called as :RuneStop
  end
  if not host().is_running() and not vim.g.rune_rplugin then
    return
  end
  if buf then
    host().notify('rune.chat.stop', buf)
  else
    host().notify('rune.chat.stop')
    host().notify('rune.edit.stop')
  end
end

--- Lists the project's saved chats with `vim.ui.select` and reopens the chosen one.
function M.history()
  local root = H.root(vim.api.nvim_get_current_buf())
  local list = host().request('rune.chat.history', root)
  if #list == 0 then
    util.notify('no saved chats for ' .. root)
    return
  end
  vim.ui.select(list, {
    prompt = 'Rune chats',
    format_item = function(c)
      return ('%s  %s (%d messages)'):format(
        c.updatedAt:sub(1, 16):gsub('T', ' '),
        c.title,
        c.messages
      )
    end,
  }, function(choice)
    if choice then
      guard(M.open)({ id = choice.id })
    end
  end)
end

--- Picks the provider and model for the chat's next answers with `vim.ui.select`.
function M.select_model()
  local buf = H.chat_buf()
  if not buf then
    M.open({})
    buf = vim.api.nvim_get_current_buf()
  end
  local items = host().request('rune.chat.models', buf)
  vim.ui.select(items, {
    prompt = 'Chat model',
    format_item = function(i)
      return (i.current and '* ' or '  ')
        .. i.provider
        .. (i.model ~= '' and ('/' .. i.model) or '')
    end,
  }, function(choice)
    if not choice then
      return
    end
    guard(function()
      local model = choice.model ~= '' and choice.model or nil
      host().request('rune.chat.set_model', buf, choice.provider, model)
      util.notify('chat model: ' .. choice.provider .. (model and ('/' .. model) or ''))
    end)()
  end)
end

--- 'foldexpr' of chat windows: the context sent with a question is one fold,
--- and so is each tool call with its result. A turn's header is level 0 outright:
--- for a line that says "=" Neovim evaluates the lines above it, back to one
--- with a level of its own, on every change, so with markers alone each
--- streamed write re-read the whole chat (6-7 ms in a 140 KB chat); now it
--- reads back to the current turn's header.
---@return string
function M.foldexpr()
  local line = vim.fn.getline(vim.v.lnum)
  if line:sub(1, #H.DETAILS_OPEN) == H.DETAILS_OPEN then
    return '>1'
  elseif line == H.CONTEXT_CLOSE then
    return '<1'
  elseif line == H.USER_HEADER or line:sub(1, #H.ANSWER_HEADER) == H.ANSWER_HEADER then
    return '0'
  end
  return '='
end

--- 'omnifunc' of chat buffers: completes #context words, #file: paths, #buffer: names,
--- #mcp: resources, and /prompts at the start of a line.
---@param findstart integer
---@param base string
---@return integer|table
function M.complete(findstart, base)
  if findstart == 1 then
    local before = vim.api.nvim_get_current_line():sub(1, vim.fn.col('.') - 1)
    local start = before:find('#[%w_:%./~%-]*$') or before:find('^/[%w_%-]*$')
    return start and start - 1 or -3
  end
  local kind, arg = base:match('^#(%a+):(.*)$')
  local out = {}
  if kind == 'file' then
    for _, f in ipairs(vim.fn.getcompletion(arg, 'file')) do
      out[#out + 1] = { word = '#file:' .. f, menu = 'file' }
    end
  elseif kind == 'mcp' then
    local ok, list = pcall(host().request, 'rune.hub.resources')
    for _, s in ipairs(ok and list or {}) do
      for _, r in ipairs(s.resources) do
        local word = ('#mcp:%s:%s'):format(s.server, r.uri)
        if word:sub(1, #base) == base then
          out[#out + 1] = { word = word, menu = r.name }
        end
      end
    end
  elseif kind == 'buffer' then
    for _, b in ipairs(vim.fn.getbufinfo({ buflisted = 1 })) do
      local name = vim.fn.fnamemodify(b.name, ':.')
      if name ~= '' and name:sub(1, #arg) == arg then
        out[#out + 1] = { word = '#buffer:' .. name, menu = 'buffer' }
      end
    end
  else
    local items = H.words()
    for _, w in ipairs(base:sub(1, 1) == '/' and items.prompts or items.words) do
      if w.word:sub(1, #base) == base then
        out[#out + 1] = { word = w.word, menu = w.menu }
      end
    end
  end
  return out
end

--- A short status for statuslines: the streaming state, or the last answer's
--- tokens and time to first token. Empty before the first answer.
---@return string
function M.statusline()
  for _, s in pairs(H.status) do
    if s.state == 'streaming' then
      return 'chat: streaming'
    end
  end
  local s = H.last
  if not s or not s.output_tokens then
    return ''
  end
  local out = ('chat: %d↑ %d↓'):format(s.input_tokens or 0, s.output_tokens or 0)
  if s.ttft_ms then
    out = out .. (' · ttft %d ms'):format(s.ttft_ms)
  end
  return out
end

--- The status table of the last answer (or nil), for custom statuslines.
---@return rune.ChatStatus|nil
function M.last_status()
  return H.last
end

-- Called by the host -------------------------------------------------------

--- Creates (or resets) the buffer of chat `id` with `lines`.
---@param id string
---@param project string
---@param lines string[]
---@return integer buf
function M._create(id, project, lines)
  local buf
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.b[b].rune_chat_id == id then
      buf = b
    end
  end
  if not buf then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, 'rune://chat/' .. id)
  end
  vim.b[buf].rune_chat_id = id
  vim.b[buf].rune_chat_project = project
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  -- The reloaded text is not an edit the user should be able to undo.
  local ul = vim.bo[buf].undolevels
  vim.bo[buf].undolevels = -1
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].undolevels = ul
  -- A broken markdown ftplugin or parser must not keep the chat from opening.
  pcall(function()
    vim.bo[buf].filetype = 'markdown'
  end)
  vim.bo[buf].omnifunc = "v:lua.require'rune.chat'.complete"
  vim.bo[buf].completefunc = "v:lua.require'rune.chat'.complete"
  H.keymaps(buf)
  vim.api.nvim_create_autocmd('BufWinEnter', {
    group = vim.api.nvim_create_augroup('rune.chat.' .. buf, { clear = true }),
    buffer = buf,
    callback = function()
      H.win_options(vim.api.nvim_get_current_win())
    end,
  })
  return buf
end

--- Starts an answer: replaces the question (the lines from `from_row`, 0-based, to
--- the end; or, after `_pending`, the lines it marked) with `text`, as the first
--- change of a new undo block, and marks the end where the answer streams in. Lines
--- typed below the question while the answer was pending stay below the answer.
---@param buf integer
---@param from_row integer
---@param text string
---@return boolean written false when the buffer is gone
function M._begin(buf, from_row, text)
  if not vim.api.nvim_buf_is_valid(buf) then
    return false
  end
  local to = -1
  local first = vim.api.nvim_buf_get_extmark_by_id(buf, H.ns, H.QUESTION, { details = true })
  local last = vim.api.nvim_buf_get_extmark_by_id(buf, H.ns, H.PENDING, { details = true })
  if first[1] and last[1] then
    if first[3].invalid or last[3].invalid or last[1] < first[1] then
      -- The question's lines were deleted meanwhile: the answer goes in, nothing goes out.
      from_row, to = first[1], first[1]
    else
      from_row, to = first[1], last[1] + 1
    end
  end
  pcall(vim.api.nvim_buf_del_extmark, buf, H.ns, H.QUESTION)
  pcall(vim.api.nvim_buf_del_extmark, buf, H.ns, H.PENDING)
  local lines = vim.split(text, '\n', { plain = true })
  local follow = H.followers(buf)
  vim.api.nvim_buf_call(buf, function()
    -- Setting 'undolevels' closes the undo block, so the answer is one step of its own.
    vim.o.undolevels = vim.o.undolevels
    vim.api.nvim_buf_set_lines(buf, from_row, to, false, lines)
  end)
  vim.api.nvim_buf_set_extmark(buf, H.ns, from_row + #lines - 1, #lines[#lines], {
    id = H.MARK,
    right_gravity = true,
  })
  H.follow(follow, buf)
  return true
end

--- Shows `header` after the question, as virtual text at the end of its last line
--- (visible wherever that line is), until the answer's first write (`_begin`) puts
--- the real text there. A submit changes nothing in the buffer before the answer
--- starts: in a long markdown chat each change costs Neovim a treesitter parse,
--- and an answer that starts at once would wait for it. The question's lines
--- (`from_row` to the end) are marked, so `_begin` replaces them and no more.
---@param buf integer
---@param from_row integer
---@param header string
---@return boolean shown false when the buffer is gone
function M._pending(buf, from_row, header)
  if not vim.api.nvim_buf_is_valid(buf) then
    return false
  end
  local last = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_buf_set_extmark(buf, H.ns, math.min(from_row, last - 1), 0, {
    id = H.QUESTION,
    right_gravity = false,
    invalidate = true,
  })
  vim.api.nvim_buf_set_extmark(buf, H.ns, last - 1, 0, {
    id = H.PENDING,
    invalidate = true,
    virt_text = { { '  ' .. header .. ' …', 'Comment' } },
    virt_text_pos = 'eol',
  })
  return true
end

--- Appends `text` where the answer ends, joined to the answer's undo block.
---@param buf integer
---@param text string
---@return boolean written false when the buffer is gone
function M._append(buf, text)
  if not vim.api.nvim_buf_is_valid(buf) then
    return false
  end
  local pos = vim.api.nvim_buf_get_extmark_by_id(buf, H.ns, H.MARK, {})
  if not pos[1] then
    return false
  end
  local follow = H.followers(buf)
  local lines = vim.split(text, '\n', { plain = true })
  vim.api.nvim_buf_call(buf, function()
    -- Fails (E790) only right after an undo; then this text starts a new block.
    pcall(vim.cmd.undojoin)
    vim.api.nvim_buf_set_text(buf, pos[1], pos[2], pos[1], pos[2], lines)
  end)
  H.follow(follow, buf)
  return true
end

--- Adds `text` to the question being typed (on its own line).
---@param buf integer
---@param text string
function M._add_to_prompt(buf, text)
  local last = vim.api.nvim_buf_line_count(buf)
  local tail = vim.api.nvim_buf_get_lines(buf, last - 1, last, false)[1] or ''
  local lines = vim.split(text, '\n', { plain = true })
  if tail == '' then
    vim.api.nvim_buf_set_lines(buf, last - 1, last, false, lines)
  elseif tail ~= H.USER_HEADER and tail:find(text, 1, true) then
    return
  else
    vim.api.nvim_buf_set_lines(buf, last, last, false, lines)
  end
end

--- Records the chat's state for statuslines and the `q` key.
---@param buf integer
---@param status rune.ChatStatus
function M._status(buf, status)
  H.status[buf] = status
  if vim.api.nvim_buf_is_valid(buf) then
    vim.b[buf].rune_chat_busy = status.state == 'streaming'
  end
  if status.state == 'idle' and status.output_tokens then
    H.last = status
  end
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'RuneChatStatus', modeline = false })
  pcall(vim.cmd.redrawstatus)
end

return M
