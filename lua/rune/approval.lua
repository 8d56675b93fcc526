--- Every question Rune asks the user goes through here: tool calls of MCP
--- clients (`kind = 'mcp'`) and of chat models (`'chat'`), MCP servers'
--- sampling (`'sample'`) and elicitation (`'elicit'`) requests. Prompts never
--- block the editor: each opens in the same floating window, which does not
--- take the focus and names who asked; the user goes there with
--- `:RuneMcp approve` (or <C-w>w) and answers with a key. The host withdraws a
--- prompt by its id (`cancel`) when the caller is gone. The answer goes back
--- as the notification of the prompt's kind, once.
---
--- Keys in a prompt:      a allow once · A always for this project · d deny
---                        (chat: s always with these arguments; sampling:
---                        a send · d decline; elicitation: a answer · d decline
---                        · c cancel)
--- Keys in a diff review: y/n accept/reject the hunk under the cursor ·
---                        Y/N all hunks · <CR> apply the accepted hunks ·
---                        A always for this project · d/q deny (nothing changes)
local M, H = {}, {}
local util = require('rune.util')

---@class rune.ApprovalRequest
---@field id string
---@field kind 'mcp'|'chat'|'sample'|'elicit'|nil default 'mcp'
---@field tool string
---@field caller { client: string }
---@field summary string[]
---@field target string|nil what the call acts on, resolved (an absolute path)
---@field destructive boolean
---@field server string|nil sampling, elicitation: the MCP server that asks
---@field messages { role: string, text: string }[]|nil sampling
---@field message string|nil elicitation
---@field fields rune.ElicitField[]|nil elicitation

---@class rune.ElicitField
---@field name string
---@field type string
---@field title string
---@field description string
---@field required boolean
---@field default string|nil
---@field values string[]|nil

---@class rune.ApprovalKind
---@field title string
---@field keys { key: string, label: string, decision: string }[]
---@field send fun(p: rune.Prompt, decision: string, accepted: integer[])

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
--- Ids asked and not yet answered or withdrawn (an elicitation stays here while
--- its fields are asked): a withdrawn prompt's late answer is dropped.
---@type table<string, boolean>
H.open = {}
H.ns = vim.api.nvim_create_namespace('rune.approval')

local function host()
  return require('rune.host')
end

---@param text string
---@param max integer
---@return string
local function shorten(text, max)
  text = text:gsub('%s+', ' ')
  if #text > max then
    return text:sub(1, max - 1) .. '…'
  end
  return text
end

--- Tool answers: `(id, decision, accepted hunks)`.
---@param method string
local function tool_answer(method)
  return function(p, decision, accepted)
    host().notify(method, p.req.id, decision, accepted)
  end
end

---@type table<string, rune.ApprovalKind>
H.kinds = {
  mcp = {
    title = ' Rune MCP approval ',
    keys = {
      { key = 'a', label = 'allow once', decision = 'once' },
      { key = 'A', label = 'always for this project', decision = 'always' },
      { key = 'd', label = 'deny', decision = 'deny' },
    },
    send = tool_answer('rune.approval.answer'),
  },
  chat = {
    title = ' Rune chat approval ',
    keys = {
      { key = 'a', label = 'allow once', decision = 'once' },
      { key = 'A', label = 'always this tool (project)', decision = 'always' },
      { key = 's', label = 'always with these arguments', decision = 'args' },
      { key = 'd', label = 'deny', decision = 'deny' },
    },
    send = tool_answer('rune.chat.tool_answer'),
  },
  sample = {
    title = ' Rune: MCP server asks the model ',
    keys = {
      { key = 'a', label = 'send it to the chat model', decision = 'send' },
      { key = 'd', label = 'decline', decision = 'decline' },
    },
    send = function(p, decision)
      host().notify('rune.hub.answer', p.req.id, decision == 'send')
    end,
  },
  elicit = {
    title = ' Rune: MCP server asks you ',
    keys = {
      { key = 'a', label = 'answer', decision = 'accept' },
      { key = 'd', label = 'decline', decision = 'decline' },
      { key = 'c', label = 'cancel', decision = 'cancel' },
    },
    send = function(p, decision)
      if decision == 'accept' then
        return H.fields(p.req, 1, {})
      end
      host().notify('rune.hub.answer', p.req.id, { action = decision, content = {} })
    end,
  },
}

---@param p rune.Prompt
---@return rune.ApprovalKind
local function kind(p)
  return H.kinds[p.req.kind or 'mcp'] or H.kinds.mcp
end

--- Who asked, as the prompt names it.
---@param req rune.ApprovalRequest
---@return string
local function who(req)
  if util.val(req.server) then
    return 'MCP server ' .. req.server
  end
  return type(req.caller) == 'table' and req.caller.client or 'an unknown caller'
end

--- Queues a question. Returns at once.
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

--- Withdraws a prompt (its caller is gone): it closes, a late answer is dropped.
---@param id string
function M.cancel(id)
  H.open[id] = nil
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
  H.open = {}
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

--- The prompt showing: its id, kind and the lines of its window (nil when none).
---@return { id: string, kind: string, lines: string[] }|nil
function M.shown()
  local p = H.current
  if not (p and p.buf and vim.api.nvim_buf_is_valid(p.buf)) then
    return nil
  end
  return {
    id = p.req.id,
    kind = p.req.kind or 'mcp',
    lines = vim.api.nvim_buf_get_lines(p.buf, 0, -1, false),
  }
end

--- Answers the current prompt as if its key were pressed (for scripts and tests).
---@param decision string a decision of the prompt's keys ('once', 'always', 'deny', …)
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
  H.open[p.req.id] = true
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

---@param p rune.Prompt
---@return string
local function keys_line(p)
  local parts = {}
  for _, k in ipairs(kind(p).keys) do
    parts[#parts + 1] = ('[%s] %s'):format(k.key, k.label)
  end
  return table.concat(parts, '   ')
end

--- What the prompt asks, in a line.
---@param p rune.Prompt
---@return string
local function action(p)
  local r = p.req
  if p.proposal then
    return 'edit ' .. p.proposal.target
  end
  if r.kind == 'sample' then
    return ('ask the chat model (%d message(s))'):format(#(r.messages or {}))
  end
  if r.kind == 'elicit' then
    return 'ask you: ' .. shorten(r.message or '', 200)
  end
  local server, tool = (r.tool or ''):match('^(.-)__(.+)$')
  return 'run ' .. (server and ('%s (MCP server %s)'):format(tool, server) or r.tool)
end

function H.lines(p)
  local r = p.req
  local lines = { ('%s wants to %s'):format(who(r), action(p)) }
  if r.kind == 'sample' then
    local last = (r.messages or {})[#(r.messages or {})] or { text = '' }
    lines[#lines + 1] = '  ' .. shorten(last.text, 300)
  elseif r.kind == 'elicit' then
    for _, f in ipairs(r.fields or {}) do
      lines[#lines + 1] = ('  %s%s'):format(f.title, f.required and ' (required)' or '')
    end
  end
  if not p.proposal then
    if r.kind == 'mcp' or r.kind == 'chat' or r.kind == nil then
      lines[#lines + 1] = ('tool: %s%s'):format(r.tool, r.destructive and '  (destructive)' or '')
      if util.val(r.target) then
        lines[#lines + 1] = 'target: ' .. r.target
      end
      for _, s in ipairs(r.summary or {}) do
        lines[#lines + 1] = '  ' .. s
      end
    end
    lines[#lines + 1] = ''
    lines[#lines + 1] = keys_line(p)
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
    title = kind(p).title,
    focusable = true,
  })
  local function map(lhs, fn)
    vim.keymap.set('n', lhs, fn, { buffer = p.buf, nowait = true })
  end
  if p.proposal then
    map('A', function()
      H.finish('always')
    end)
    map('d', function()
      H.finish('deny')
    end)
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
  else
    for _, k in ipairs(kind(p).keys) do
      map(k.key, function()
        H.finish(k.decision)
      end)
    end
  end
  local keys = kind(p).keys
  map('q', function()
    H.finish(p.proposal and 'deny' or keys[#keys].decision)
  end)
  util.notify(
    ('%s asks to %s: :RuneMcp approve to answer'):format(who(p.req), action(p)),
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

---@param decision string
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
  if H.open[p.req.id] then
    if p.req.kind ~= 'elicit' or decision ~= 'accept' then
      H.open[p.req.id] = nil
    end
    kind(p).send(p, decision, accepted)
  end
  H.next()
end

--- Asks an elicitation's fields one by one with `vim.ui.input`/`vim.ui.select`
--- (a form, not a yes/no question), then answers; dropped if withdrawn meanwhile.
---@param req rune.ApprovalRequest
---@param i integer
---@param content table<string, string>
function H.fields(req, i, content)
  vim.schedule(function()
    if not H.open[req.id] then
      return
    end
    local function reply(action_)
      H.open[req.id] = nil
      host().notify('rune.hub.answer', req.id, { action = action_, content = content })
    end
    local f = (req.fields or {})[i]
    if not f then
      return reply('accept')
    end
    local label = ('%s%s%s'):format(
      f.title,
      f.required and ' (required)' or '',
      f.description ~= '' and (' – ' .. f.description) or ''
    )
    local values = util.val(f.values)
    if f.type == 'boolean' then
      values = { 'true', 'false' }
    end
    local function got(v)
      if v == nil then
        return reply('cancel')
      end
      if v == '' and f.required and util.val(f.default) == nil then
        util.notify(f.title .. ' is required', vim.log.levels.WARN)
        return H.fields(req, i, content)
      end
      content[f.name] = v
      H.fields(req, i + 1, content)
    end
    if values then
      vim.ui.select(values, { prompt = label, kind = 'rune.elicitation' }, got)
    else
      vim.ui.input({ prompt = label .. ': ', default = util.val(f.default) }, got)
    end
  end)
end

return M
