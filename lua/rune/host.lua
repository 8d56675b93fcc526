--- Starts, watches and restarts the Rune host (a Node process speaking
--- msgpack-RPC over its stdio), and forwards requests to it.
local M, H = {}, {}
local util = require('rune.util')

-- state: 'stopped' | 'starting' | 'ready' | 'failed'
H.state = 'stopped'
H.job = nil ---@type integer|nil
H.chan = nil ---@type integer|nil
H.info = nil ---@type table|nil
H.stderr = {} ---@type string[]
H.queue = {} ---@type table[]
-- Crashes in a row; a host that stayed ready for `host.restart_window_ms`
-- starts a new row.
H.crashes = 0
H.ready_at = nil ---@type integer|nil
-- Set when the supervisor stopped restarting; only :RuneRestart (or setup()) clears it.
H.gave_up = nil ---@type string|nil
-- The current start was begun by the supervisor (not by a command waiting for it).
H.auto = false
H.last_error = nil ---@type string|nil
H.restart_timer = nil
H.start_timer = nil
H.leaving = false
H.STDERR_LINES = 20
H.BACKOFF_CAP_MS = 30000

local function cfg()
  return require('rune').config().host
end

local function log_file()
  local f = cfg().log_file
  if type(f) == 'string' and f ~= '' then
    return f
  end
  return vim.fn.stdpath('log') .. '/rune.log'
end

function H.stderr_tail(n)
  local out = {}
  for i = math.max(1, #H.stderr - (n or 5) + 1), #H.stderr do
    out[#out + 1] = H.stderr[i]
  end
  return table.concat(out, '\n')
end

function H.set_failed(msg)
  H.state = 'failed'
  H.last_error = msg
end

function H.command()
  local c = cfg()
  local main = util.root() .. '/dist/host/main.js'
  if vim.fn.filereadable(main) == 0 then
    return nil,
      ('the host is not built (%s is missing). Run `npm ci && npm run build` in %s'):format(
        main,
        util.root()
      )
  end
  local node = vim.fn.exepath(c.node)
  if node == '' then
    return nil,
      ("Node.js was not found (host.node = '%s'). Install Node >= 20 or set host.node to its path"):format(
        c.node
      )
  end
  return { node, main }
end

function H.on_stderr(_, data)
  for _, line in ipairs(data or {}) do
    if line ~= '' then
      H.stderr[#H.stderr + 1] = line
      if #H.stderr > H.STDERR_LINES then
        table.remove(H.stderr, 1)
      end
    end
  end
end

--- What the host showed (approval prompts, the server address) belongs to
--- it: when it is gone, nobody waits for those answers.
function H.gone()
  if package.loaded['rune.mcp'] then
    pcall(require('rune.mcp')._stopped)
  end
end

function H.stop_timer(name)
  local t = H[name]
  H[name] = nil
  if t then
    pcall(function()
      t:stop()
      t:close()
    end)
  end
end

function H.on_exit(job, code)
  if job ~= H.job then
    return
  end
  local was = H.state
  H.job, H.chan, H.info = nil, nil, nil
  H.stop_timer('start_timer')
  H.gone()
  if H.leaving then
    H.state = 'stopped'
    return
  end
  local why = H.stderr_tail(5)
  H.crashed(('host exited with code %d%s'):format(code, why ~= '' and (': ' .. why) or ''), was)
end

--- A start that did not finish its handshake in time: stop that process and
--- count it as a crash.
function H.start_timed_out(job)
  if job == nil or job ~= H.job or H.state ~= 'starting' then
    return
  end
  H.job, H.chan, H.info = nil, nil, nil
  H.stop_timer('start_timer')
  pcall(vim.fn.jobstop, job)
  local tail = H.stderr_tail(5)
  H.crashed(
    ('the host did not become ready within %d ms%s. See :RuneLog (%s)'):format(
      cfg().start_timeout_ms,
      tail ~= '' and (': ' .. tail) or '',
      log_file()
    ),
    'starting'
  )
end

--- Counts a crash and decides: restart after a backoff, or give up.
---@param msg string what happened
---@param was string the state the host was in
function H.crashed(msg, was)
  H.set_failed(msg)
  local c = cfg()
  if H.ready_at and vim.uv.now() - H.ready_at >= c.restart_window_ms then
    H.crashes = 0
  end
  H.ready_at = nil
  H.crashes = H.crashes + 1
  local auto = H.auto
  H.auto = false
  if was == 'starting' and not auto then
    -- A start a command asked for is reported to that command; restarting in
    -- a loop would only repeat the same error.
    return
  end
  if H.crashes > c.max_restarts then
    H.gave_up = (
      'the host failed %d times in a row; Rune stopped restarting it (host.max_restarts = %d). '
      .. 'Last error: %s\nFix the cause (see :RuneLog), then run :RuneRestart'
    ):format(H.crashes, c.max_restarts, msg)
    H.last_error = H.gave_up
    util.notify(H.gave_up, vim.log.levels.ERROR)
    return
  end
  local delay = math.min(c.restart_backoff_ms * 2 ^ (H.crashes - 1), H.BACKOFF_CAP_MS)
  util.notify(
    msg
      .. ('\nRestarting in %d ms (restart %d of %d; see :RuneLog)'):format(
        delay,
        H.crashes,
        c.max_restarts
      ),
    vim.log.levels.WARN
  )
  H.stop_timer('restart_timer')
  H.restart_timer = vim.defer_fn(function()
    H.restart_timer = nil
    if H.state == 'failed' and not H.gave_up then
      H.auto = true
      M.start()
    end
  end, delay)
end

-- Through :UpdateRemotePlugins the node-client's plugin host runs the core;
-- its remote functions carry Rune's requests.
function H.rplugin_call(fn, method, args)
  -- Remote functions are defined on first call through a FuncUndefined autocmd.
  if vim.fn.exists('*' .. fn) == 0 and vim.fn.exists('#FuncUndefined#' .. fn) == 0 then
    error(
      '(rune) g:rune_rplugin is set but ' .. fn .. ' is not defined; run :UpdateRemotePlugins',
      0
    )
  end
  local ok, res = pcall(vim.fn[fn], method, args)
  if not ok then
    error('(rune) ' .. tostring(res):gsub('^Vim:', ''), 0)
  end
  return res
end

--- Starts the host if it is not running. Returns at once; use `wait()` or
--- `request()` to wait until it is ready.
---@return boolean started false when the start could not even begin
function M.start()
  if H.state == 'starting' or H.state == 'ready' then
    return true
  end
  if H.gave_up then
    H.state, H.last_error = 'failed', H.gave_up
    H.auto = false
    return false
  end
  local auto = H.auto
  H.auto = false
  H.stop_timer('restart_timer')
  local cmd, err = H.command()
  if not cmd then
    H.set_failed(err)
    return false
  end
  H.auto = auto
  H.stderr = {}
  local c = cfg()
  local ok, job = pcall(vim.fn.jobstart, cmd, {
    rpc = true,
    env = {
      RUNE_LOG_FILE = log_file(),
      RUNE_LOG_LEVEL = c.log_level,
      NVIM_RUNE_HOST = '1',
    },
    on_stderr = H.on_stderr,
    on_exit = H.on_exit,
  })
  if not ok or job <= 0 then
    H.set_failed(
      ('could not start the host (%s): %s'):format(table.concat(cmd, ' '), tostring(job))
    )
    return false
  end
  H.job = job
  H.state = 'starting'
  H.started = vim.uv.now()
  -- Nobody may be waiting (a restart, autostart): the handshake has its own deadline.
  H.start_timer = vim.defer_fn(function()
    H.start_timer = nil
    H.start_timed_out(job)
  end, c.start_timeout_ms)
  return true
end

--- Waits until the host is ready. Raises a clear error when it fails or
--- does not answer within `host.start_timeout_ms`.
---@return integer channel
function M.wait()
  if H.state ~= 'ready' and H.state ~= 'starting' then
    M.start()
  end
  if H.state == 'starting' then
    vim.wait(cfg().start_timeout_ms, function()
      return H.state ~= 'starting'
    end, 5)
    H.start_timed_out(H.job)
  end
  if H.state ~= 'ready' then
    error('(rune) ' .. (H.last_error or 'the host is not running'), 0)
  end
  return H.chan
end

--- Sends a request and returns the host's answer. Starts the host if needed.
---@param method string
---@return any
function M.request(method, ...)
  if vim.g.rune_rplugin then
    return H.rplugin_call('RuneRequest', method, { ... })
  end
  local chan = M.wait()
  local ok, res = pcall(vim.rpcrequest, chan, method, ...)
  if not ok then
    -- The host sends its message as the error; strip Vim's prefix.
    local msg = tostring(res):gsub('^Vim:', ''):gsub('^Error invoking .-:%s*', '')
    error('(rune) ' .. msg, 0)
  end
  return res
end

--- Sends a notification without waiting. Queued until the host is ready;
--- starts the host if needed.
---@param method string
function M.notify(method, ...)
  if vim.g.rune_rplugin then
    H.rplugin_call('RuneNotify', method, { ... })
    return
  end
  if H.state == 'ready' then
    vim.rpcnotify(H.chan, method, ...)
    return
  end
  H.queue[#H.queue + 1] = { method, { ... } }
  if #H.queue > 100 then
    table.remove(H.queue, 1)
  end
  M.start()
end

--- Called by the host (over RPC) when it has finished its handshake.
---@param info table
function M._ready(info)
  H.chan = info.channel
  H.info = info
  H.state = 'ready'
  H.ready_at = vim.uv.now()
  H.auto = false
  H.stop_timer('start_timer')
  H.last_error = nil
  local queue = H.queue
  H.queue = {}
  for _, item in ipairs(queue) do
    vim.rpcnotify(H.chan, item[1], unpack(item[2]))
  end
  vim.api.nvim_exec_autocmds('User', { pattern = 'RuneHostReady', modeline = false })
end

--- Stops the host (it finishes or cancels its work, then exits).
function M.stop()
  H.stop_timer('restart_timer')
  H.stop_timer('start_timer')
  local job = H.job
  -- Forget the job first: its exit is then not taken for a crash.
  H.job, H.chan, H.info = nil, nil, nil
  if job then
    vim.fn.jobstop(job)
    H.gone()
  end
  H.state = 'stopped'
end

--- Restarts the host.
---@param reason string|nil
function M.restart(reason)
  local job = H.job
  M.stop()
  if job then
    vim.fn.jobwait({ job }, 2000)
  end
  H.crashes, H.ready_at, H.gave_up = 0, nil, nil
  M.start()
  if reason then
    require('rune.util').notify('host restarting: ' .. reason)
  end
end

---@return boolean
function M.is_running()
  return H.state == 'starting' or H.state == 'ready'
end

--- A snapshot for :RuneStatus and :checkhealth; never starts the host.
function M.info()
  return {
    state = H.state,
    job = H.job,
    channel = H.chan,
    info = H.info,
    last_error = H.last_error,
    stderr = H.stderr_tail(H.STDERR_LINES),
    log_file = log_file(),
    crashes = H.crashes,
    gave_up = H.gave_up ~= nil,
    ready_ms = H.ready_at and (vim.uv.now() - H.ready_at) or nil,
  }
end

function M.statusline()
  return 'rune: ' .. H.state
end

M.log_file = log_file

local group = vim.api.nvim_create_augroup('rune.host', { clear = true })
vim.api.nvim_create_autocmd('VimLeavePre', {
  group = group,
  callback = function()
    H.leaving = true
  end,
})
-- The host learns the working directory in its handshake; this keeps it current.
vim.api.nvim_create_autocmd('DirChanged', {
  group = group,
  callback = function()
    if H.state == 'ready' then
      M.notify('rune.cwd', vim.fn.getcwd())
    end
  end,
})

return M
