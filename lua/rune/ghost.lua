--- Ghost text: draws inline completion suggestions with extmarks (inline virtual
--- text for the first line, virtual lines for the rest) and accepts them.
---
--- Everything here runs in Lua without a round trip to the host: accepting all,
--- a word or a line, cycling and dismissing only touch the buffer and the
--- suggestion already drawn. The first acceptance of a suggestion the host drew
--- is then told to the host in one notification (for :RuneStats, and for
--- providers such as Copilot that want to hear it).
local M, H = {}, {}

H.ns = vim.api.nvim_create_namespace('rune.ghost')
H.hl = 'RuneGhost'

---@class rune.GhostState
---@field buf integer
---@field tick integer changedtick the suggestion belongs to
---@field row integer 0-based row of the cursor
---@field col integer 0-based byte column of the cursor
---@field items string[] suggestions (text to insert at the cursor; lines joined by "\n")
---@field index integer the suggestion shown
---@field ref integer|nil the host's name for this set of suggestions (nil: not the host's)
---@field picks integer[] per item, its number in the set the host drew
---@field offset integer bytes of the suggestion already in the buffer (typed or accepted)
---@field counted boolean the host was told of an acceptance of this suggestion

---@type rune.GhostState|nil
H.s = nil

--- Key conflicts found by `setup_keys` (action -> lhs), for :checkhealth.
---@type table<string, string>
M.conflicts = {}

vim.api.nvim_set_hl(0, H.hl, { link = 'Comment', default = true })
vim.api.nvim_set_hl(0, 'RuneGhostCount', { link = 'NonText', default = true })

local function in_insert()
  return vim.api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

--- True when `s` still matches the buffer, the cursor and the mode.
---@param s rune.GhostState
local function valid(s)
  if s.buf ~= vim.api.nvim_get_current_buf() or not in_insert() then
    return false
  end
  if vim.api.nvim_buf_get_changedtick(s.buf) ~= s.tick then
    return false
  end
  local cur = vim.api.nvim_win_get_cursor(0)
  return cur[1] - 1 == s.row and cur[2] == s.col
end

-- Virtual text shows a tab as one cell; show the width it will take.
local function display(text)
  if not text:find('\t', 1, true) then
    return text
  end
  return (text:gsub('\t', string.rep(' ', vim.bo.tabstop)))
end

function H.draw()
  local s = H.s
  if not s then
    return
  end
  vim.api.nvim_buf_clear_namespace(s.buf, H.ns, 0, -1)
  local lines = vim.split(s.items[s.index], '\n', { plain = true })
  local opts = { hl_mode = 'combine', priority = 200 }
  if lines[1] ~= '' then
    opts.virt_text = { { display(lines[1]), H.hl } }
    opts.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    local virt_lines = {}
    for i = 2, #lines do
      virt_lines[#virt_lines + 1] = { { display(lines[i]), H.hl } }
    end
    opts.virt_lines = virt_lines
  end
  vim.api.nvim_buf_set_extmark(s.buf, H.ns, s.row, s.col, opts)
  if #s.items > 1 then
    vim.api.nvim_buf_set_extmark(s.buf, H.ns, s.row, 0, {
      virt_text = { { (' (%d/%d)'):format(s.index, #s.items), 'RuneGhostCount' } },
      virt_text_pos = 'eol',
    })
  end
end

--- Shows `items` as ghost text at (row, col) of `buf`, unless the buffer, the
--- cursor or the mode changed since the host read them, or the popup menu is
--- visible. Called by the host, with `ref` naming the set for `accept` to report.
---@param buf integer
---@param tick integer
---@param row integer 0-based
---@param col integer 0-based byte column
---@param items string[]
---@param ref integer|nil
---@return boolean shown
function M.show(buf, tick, row, col, items, ref)
  if type(items) ~= 'table' or #items == 0 then
    return false
  end
  local picks = {}
  for i = 1, #items do
    picks[i] = i
  end
  ---@type rune.GhostState
  local s = {
    buf = buf,
    tick = tick,
    row = row,
    col = col,
    items = items,
    index = 1,
    ref = type(ref) == 'number' and ref or nil,
    picks = picks,
    offset = 0,
    counted = false,
  }
  if not valid(s) or vim.fn.pumvisible() == 1 then
    return false
  end
  M.clear()
  H.s = s
  H.draw()
  vim.api.nvim_exec_autocmds('User', { pattern = 'RuneGhostShown', modeline = false })
  return true
end

--- Removes the ghost text.
function M.clear()
  local s = H.s
  H.s = nil
  if s and vim.api.nvim_buf_is_valid(s.buf) then
    vim.api.nvim_buf_clear_namespace(s.buf, H.ns, 0, -1)
  end
end

--- True when a suggestion is drawn and still applies.
---@return boolean
function M.visible()
  return H.s ~= nil and valid(H.s) and vim.fn.pumvisible() == 0
end

--- The suggestion shown, if any (for statuslines and tests).
---@return string|nil
function M.current()
  return H.s and H.s.items[H.s.index] or nil
end

--- Called on every insert-mode change before anything is sent to the host.
--- Keeps the ghost text when the change is one the ghost text expected (an
--- accepted part, or characters typed that match the suggestion) and returns
--- true; otherwise clears it and returns false.
---@param buf integer
---@param tick integer
---@param row integer
---@param col integer
---@return boolean kept
function M.on_change(buf, tick, row, col)
  local s = H.s
  if not s then
    return false
  end
  if s.buf == buf and s.tick == tick and s.row == row and s.col == col then
    return true
  end
  if s.buf == buf and s.row == row and col > s.col then
    -- Only the bytes typed since are read, whatever the length of the line.
    local typed = vim.api.nvim_buf_get_text(buf, row, s.col, row, col, {})[1] or ''
    local text = s.items[s.index]
    if #typed < #text and text:sub(1, #typed) == typed then
      s.picks, s.offset = { s.picks[s.index] }, s.offset + #typed
      s.items, s.index = { text:sub(#typed + 1) }, 1
      s.tick, s.col = tick, col
      H.draw()
      return true
    end
  end
  M.clear()
  return false
end

--- The next word of `text`: leading blanks and then a run of word characters
--- (any non-ASCII byte counts as one) or of punctuation; a line break with the
--- next line's indent when the text starts with one.
---@param text string
---@return string
function H.word(text)
  local nl = text:match('^\n[ \t]*')
  if nl then
    return nl
  end
  return text:match('^[ \t]*[%w_\128-\255]+')
    or text:match('^[ \t]*[^%w_\128-\255%s]+')
    or text:match('^[ \t]+')
    or text
end

--- The rest of the first line of `text`, or the line break and the next line
--- when the first line is empty.
---@param text string
---@return string
function H.line(text)
  local first = text:match('^[^\n]*')
  if first ~= '' then
    return first
  end
  return text:match('^\n[^\n]*')
end

--- Inserts `text` at the ghost position and moves the cursor after it.
---@param s rune.GhostState
---@param text string
function H.insert(s, text)
  local lines = vim.split(text, '\n', { plain = true })
  vim.api.nvim_buf_set_text(s.buf, s.row, s.col, s.row, s.col, lines)
  local row = s.row + #lines - 1
  local col = #lines == 1 and s.col + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  return row, col
end

--- Accepts the suggestion shown: `all`, the next `word`, or the next `line`.
--- What is left stays as ghost text.
---@param what 'all'|'word'|'line'
---@return boolean accepted
function M.accept(what)
  local s = H.s
  if not s or not valid(s) then
    M.clear()
    return false
  end
  local text = s.items[s.index]
  local part = text
  if what == 'word' then
    part = H.word(text)
  elseif what == 'line' then
    part = H.line(text)
  end
  local rest = text:sub(#part + 1)
  vim.api.nvim_buf_clear_namespace(s.buf, H.ns, 0, -1)
  H.s = nil
  local row, col = H.insert(s, part)
  local pick, offset = s.picks[s.index], s.offset + #part
  local host = require('rune.host')
  -- A host that stopped since it drew this is not started again just to hear it.
  if s.ref and not s.counted and (host.is_running() or vim.g.rune_rplugin) then
    host.notify('rune.completion.accepted', s.ref, pick, what, offset)
  end
  if rest ~= '' then
    -- The rest is the same suggestion: accepting more of it is not counted again.
    H.s = {
      buf = s.buf,
      tick = vim.api.nvim_buf_get_changedtick(s.buf),
      row = row,
      col = col,
      items = { rest },
      index = 1,
      ref = s.ref,
      picks = { pick },
      offset = offset,
      counted = true,
    }
    H.draw()
  end
  return true
end

--- Shows the next (`1`) or previous (`-1`) suggestion, cycling.
---@param step integer
---@return boolean
function M.cycle(step)
  local s = H.s
  if not s or not valid(s) then
    return false
  end
  s.index = (s.index - 1 + step) % #s.items + 1
  H.draw()
  return true
end

--- Hides the suggestion until the next change.
---@return boolean
function M.dismiss()
  local had = H.s ~= nil
  M.clear()
  return had
end

H.actions = {
  accept = function()
    return M.accept('all')
  end,
  accept_word = function()
    return M.accept('word')
  end,
  accept_line = function()
    return M.accept('line')
  end,
  next = function()
    return M.cycle(1)
  end,
  prev = function()
    return M.cycle(-1)
  end,
  dismiss = M.dismiss,
}

--- Runs a key's action (the mappings call it through <Cmd>).
---@param action string
function M.act(action)
  H.actions[action]()
end

--- Neovim's own default insert-mode mappings (`<Tab>` jumps in a snippet) are
--- not the user's: Rune's key takes them over and falls back to them. Returns
--- the fallback (an expr callback giving keys), or nil for any other mapping.
---@param m table maparg() dict
---@return (fun(): string)|nil
function H.builtin_fallback(m)
  if type(m.desc) == 'string' and m.desc:match('^vim%.snippet') and m.expr == 1 and m.callback then
    return m.callback
  end
  return nil
end

--- Maps the configured keys in insert mode. A key acts only while ghost text
--- is shown and otherwise does what it did before (its built-in meaning). A key
--- that already has an insert-mode mapping is left alone and reported. Each
--- action also gets a `<Plug>(rune-…)` mapping, e.g. `<Plug>(rune-accept-word)`.
---@param keys table<string, string|boolean>
---@return table<string, string> conflicts action -> key left alone
function M.setup_keys(keys)
  M.conflicts = {}
  for action in pairs(H.actions) do
    local plug = '<Plug>(rune-' .. action:gsub('_', '-') .. ')'
    vim.keymap.set('i', plug, function()
      return M.visible() and ('<Cmd>lua require("rune.ghost").act(%q)<CR>'):format(action) or ''
    end, { expr = true, desc = 'rune: ' .. action })
    local lhs = keys[action]
    if type(lhs) == 'string' and lhs ~= '' then
      local existing = vim.fn.maparg(lhs, 'i', false, true)
      local ours = type(existing.desc) == 'string' and existing.desc:sub(1, 6) == 'rune: '
      local fallback = H.builtin_fallback(existing)
      if next(existing) ~= nil and not ours and not fallback then
        M.conflicts[action] = lhs
      else
        vim.keymap.set('i', lhs, function()
          if M.visible() then
            return ('<Cmd>lua require("rune.ghost").act(%q)<CR>'):format(action)
          end
          return fallback and fallback() or lhs
        end, { expr = true, desc = 'rune: ' .. action })
      end
    end
  end
  if next(M.conflicts) then
    local parts = {}
    for action, lhs in pairs(M.conflicts) do
      parts[#parts + 1] = ('completion.keys.%s (%s)'):format(action, lhs)
    end
    table.sort(parts)
    require('rune.util').notify(
      ('these keys already have insert-mode mappings, so Rune left them alone: %s. '):format(
        table.concat(parts, ', ')
      )
        .. 'Pick other keys in setup({ completion = { keys = { ... } } }), set them to false, or map <Plug>(rune-accept) and friends yourself (:help rune-completion-keys).',
      vim.log.levels.WARN
    )
  end
  return M.conflicts
end

return M
