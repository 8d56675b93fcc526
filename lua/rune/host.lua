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
H.crashes = 0
H.last_error = nil ---@type string|nil
H.restart_timer = nil
H.leaving = false
H.STDERR_LINES = 20

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
  local main = util.root() .. '/dist/nvim/main.js'
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

function H.on_exit(job, code)
  if job ~= H.job then
    return
  end
  local was = H.state
  H.job, H.chan, H.info = nil, nil, nil
  if H.leaving or H.stopping then
    H.state = 'stopped'
    H.stopping = false
    return
  end
  local why = H.stderr_tail(5)
  local msg = ('host exited with code %d%s'):format(code, why ~= '' and (': ' .. why) or '')
  H.set_failed(msg)
  H.crashes = H.crashes + 1
  if was == 'starting' then
    -- A start that fails is reported by whoever waits for it; restarting in a
    -- loop would only repeat the same error.
    return
  end
  local c = cfg()
  if H.crashes > c.max_restarts then
    util.notify(
      msg
        .. ('\nNot restarting after %d crashes; run :RuneRestart or see :RuneLog'):format(
          H.crashes - 1
        ),
      vim.log.levels.ERROR
    )
    return
  end
  local delay = math.min(c.restart_backoff_ms * 2 ^ (H.crashes - 1), 30000)
  util.notify(msg .. ('\nRestarting in %d ms (see :RuneLog)'):format(delay), vim.log.levels.WARN)
  H.restart_timer = vim.defer_fn(function()
    H.restart_timer = nil
    if H.state == 'failed' then
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
  if H.restart_timer then
    pcall(function()
      H.restart_timer:stop()
    end)
    H.restart_timer = nil
  end
  local cmd, err = H.command()
  if not cmd then
    H.set_failed(err)
    return false
  end
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
    local timeout = cfg().start_timeout_ms
    vim.wait(timeout, function()
      return H.state ~= 'starting'
    end, 5)
    if H.state == 'starting' then
      local job = H.job
      H.stopping = true
      if job then
        vim.fn.jobstop(job)
      end
      local tail = H.stderr_tail(5)
      H.set_failed(
        ('the host did not become ready within %d ms%s. See :RuneLog (%s)'):format(
          timeout,
          tail ~= '' and (': ' .. tail) or '',
          log_file()
        )
      )
    end
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
  H.crashes = 0
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
  if H.job then
    H.stopping = true
    vim.fn.jobstop(H.job)
  end
  H.state = 'stopped'
  H.chan = nil
end

--- Restarts the host.
---@param reason string|nil
function M.restart(reason)
  local job = H.job
  M.stop()
  if job then
    vim.fn.jobwait({ job }, 2000)
  end
  H.crashes = 0
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
  }
end

function M.statusline()
  return 'rune: ' .. H.state
end

M.log_file = log_file

vim.api.nvim_create_autocmd('VimLeavePre', {
  group = vim.api.nvim_create_augroup('rune.host', { clear = true }),
  callback = function()
    H.leaving = true
  end,
})

return M
