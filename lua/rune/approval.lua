--- Approval prompts for tool calls from MCP clients. Prompts never block the
--- editor: each opens in a floating window that does not take the focus; the
--- user goes there with `:RuneMcp approve` (or <C-w>w) and answers with a key.
--- The answer goes back to the host as the `rune.approval.answer` notification.
---
--- Keys in a prompt:      a allow once · A always for this project · d deny
--- Keys in a diff review: y/n accept/reject the hunk under the cursor ·
---                        Y/N all hunks · <CR> apply the accepted hunks ·
---                        A always for this project · d/q deny (nothing changes)
local M, H = {}, {}
local util = require('rune.util')

---@class rune.ApprovalRequest
---@field id string
---@field tool string
---@field caller { client: string }
---@field summary string[]
---@field target string|nil what the call acts on, resolved (an absolute path)
---@field destructive boolean

---@class rune.Hunk
---@field start integer 0-based first line in the original
---@field oldLines string[]
---@field newLines string[]

---@class rune.Prompt
---@field req rune.ApprovalRequest
---@field proposal { target: string, hunks: rune.Hunk[] }|nil
---@field accepted boolean[]
---@field buf integer|nil
---@field win integer|nil
---@field hunk_rows table<integer, integer> row (1-based) of each hunk header

---@type rune.Prompt[]
H.queue = {}
---@type rune.Prompt|nil
H.current = nil
H.ns = vim.api.nvim_create_namespace('rune.approval')

--- Queues a yes/no prompt. Returns at once.
---@param req rune.ApprovalRequest
function M.ask(req)
  H.push({ req = req, accepted = {}, hunk_rows = {} })
end

--- Queues a diff review of an edit. Returns at once.
---@param req rune.ApprovalRequest
---@param proposal { target: string, hunks: rune.Hunk[] }
function M.review(req, proposal)
  local accepted = {}
  for i = 1, #proposal.hunks do
    accepted[i] = true
  end
  H.push({ req = req, proposal = proposal, accepted = accepted, hunk_rows = {} })
end

--- Withdraws a prompt (the call was cancelled).
---@param id string
function M.cancel(id)
  if H.current and H.current.req.id == id then
    H.close()
    H.next()
    return
  end
  for i, p in ipairs(H.queue) do
    if p.req.id == id then
      table.remove(H.queue, i)
      return
    end
  end
end

--- Closes every prompt without answering (the host stopped).
function M.clear()
  H.queue = {}
  H.close()
end

--- Moves the cursor into the waiting prompt. Returns false when none waits.
---@return boolean
function M.focus()
  if H.current and H.current.win and vim.api.nvim_win_is_valid(H.current.win) then
    vim.api.nvim_set_current_win(H.current.win)
    return true
  end
  return false
end

--- The ids of the prompts showing or queued.
---@return string[]
function M.pending()
  local out = {}
  if H.current then
    out[1] = H.current.req.id
  end
  for _, p in ipairs(H.queue) do
    out[#out + 1] = p.req.id
  end
  return out
end

--- Answers the current prompt as if its keys were pressed (for scripts and tests).
---@param decision 'once'|'always'|'deny'
---@param accepted integer[]|nil 0-based hunk indexes, for reviews
function M.answer(decision, accepted)
  local p = H.current
  if not p then
    return false
  end
  if accepted then
    for i = 1, #p.accepted do
      p.accepted[i] = false
    end
    for _, i in ipairs(accepted) do
      p.accepted[i + 1] = true
    end
  end
  H.finish(decision)
  return true
end

function H.push(p)
  H.queue[#H.queue + 1] = p
  if not H.current then
    H.next()
  end
end

function H.next()
  H.current = table.remove(H.queue, 1)
  if H.current then
    H.show(H.current)
  end
end

function H.lines(p)
  local r = p.req
  local lines = {
    ('%s wants to %s %s'):format(
      r.caller.client,
      p.proposal and 'edit' or 'run',
      p.proposal and p.proposal.target or r.tool
    ),
  }
  if not p.proposal then
    lines[#lines + 1] = ('tool: %s%s'):format(r.tool, r.destructive and '  (destructive)' or '')
    if util.val(r.target) then
      lines[#lines + 1] = 'target: ' .. r.target
    end
    for _, s in ipairs(r.summary) do
      lines[#lines + 1] = '  ' .. s
    end
    lines[#lines + 1] = ''
    lines[#lines + 1] = '[a] allow once   [A] always for this project   [d] deny'
    return lines
  end
  lines[#lines + 1] = 'y/n hunk · Y/N all · <CR> apply accepted · A always · d deny'
  p.hunk_rows = {}
  for i, h in ipairs(p.proposal.hunks) do
    lines[#lines + 1] = ''
    p.hunk_rows[i] = #lines + 1
    lines[#lines + 1] = ('@@ hunk %d/%d at line %d  [%s]'):format(
      i,
      #p.proposal.hunks,
      h.start + 1,
      p.accepted[i] and 'accept' or 'reject'
    )
    for _, l in ipairs(h.oldLines) do
      lines[#lines + 1] = '-' .. l
    end
    for _, l in ipairs(h.newLines) do
      lines[#lines + 1] = '+' .. l
    end
  end
  return lines
end

function H.render(p)
  local lines = H.lines(p)
  vim.bo[p.buf].modifiable = true
  vim.api.nvim_buf_set_lines(p.buf, 0, -1, false, lines)
  vim.bo[p.buf].modifiable = false
  vim.api.nvim_buf_clear_namespace(p.buf, H.ns, 0, -1)
  for i, l in ipairs(lines) do
    local c = l:sub(1, 1)
    local group = (i == 1 and 'Title')
      or (c == '+' and p.proposal and 'DiffAdd')
      or (c == '-' and p.proposal and 'DiffDelete')
      or (c == '@' and 'DiffText')
      or nil
    if group then
      vim.api.nvim_buf_set_extmark(p.buf, H.ns, i - 1, 0, { line_hl_group = group })
    end
  end
  return lines
end

function H.show(p)
  p.buf = vim.api.nvim_create_buf(false, true)
  vim.bo[p.buf].bufhidden = 'wipe'
  local lines = H.render(p)
  local width = 20
  for _, l in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  width = math.min(width + 2, math.max(20, vim.o.columns - 4))
  local height = math.min(#lines, math.max(3, vim.o.lines - 6))
  -- enter = false: a prompt must never take keys the user meant for their buffer.
  p.win = vim.api.nvim_open_win(p.buf, false, {
    relative = 'editor',
    row = 1,
    col = vim.o.columns - width - 2,
    width = width,
    height = height,
    style = 'minimal',
    border = 'rounded',
    title = ' Rune MCP approval ',
    focusable = true,
  })
  local function map(lhs, fn)
    vim.keymap.set('n', lhs, fn, { buffer = p.buf, nowait = true })
  end
  map('a', function()
    if not p.proposal then
      H.finish('once')
    end
  end)
  map('A', function()
    H.finish('always')
  end)
  map('d', function()
    H.finish('deny')
  end)
  map('q', function()
    H.finish('deny')
  end)
  if p.proposal then
    local function set(all, value)
      if all then
        for i = 1, #p.accepted do
          p.accepted[i] = value
        end
      else
        local row = vim.api.nvim_win_get_cursor(0)[1]
        local which
        for i, r in ipairs(p.hunk_rows) do
          if r <= row then
            which = i
          end
        end
        if which then
          p.accepted[which] = value
        end
      end
      local cursor = vim.api.nvim_win_get_cursor(0)
      H.render(p)
      pcall(vim.api.nvim_win_set_cursor, 0, cursor)
    end
    map('y', function()
      set(false, true)
    end)
    map('n', function()
      set(false, false)
    end)
    map('Y', function()
      set(true, true)
    end)
    map('N', function()
      set(true, false)
    end)
    map('<CR>', function()
      H.finish('once')
    end)
  end
  util.notify(
    ('%s asks to %s: :RuneMcp approve to answer'):format(
      p.req.caller.client,
      p.proposal and ('edit ' .. p.proposal.target) or ('run ' .. p.req.tool)
    ),
    vim.log.levels.WARN
  )
end

function H.close()
  local p = H.current
  if p and p.win and vim.api.nvim_win_is_valid(p.win) then
    vim.api.nvim_win_close(p.win, true)
  end
  H.current = nil
end

---@param decision 'once'|'always'|'deny'
function H.finish(decision)
  local p = H.current
  if not p then
    return
  end
  local accepted = {}
  for i, ok in ipairs(p.accepted) do
    if ok then
      accepted[#accepted + 1] = i - 1
    end
  end
  H.close()
  require('rune.host').notify('rune.approval.answer', p.req.id, decision, accepted)
  H.next()
end

return M
