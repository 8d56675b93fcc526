--- Rune configuration: defaults and validation.
---
--- Validation walks the user's options against a schema. An error names the
--- offending key with its full path and says what was expected, e.g.
--- `(rune) config: host.start_timeout_ms must be a number, got string`.
local M, H = {}, {}

---@class rune.HostConfig
---@field node string Node executable (name on PATH or absolute path).
---@field start_timeout_ms integer How long to wait for the host to become ready.
---@field log_level 'debug'|'info'|'warn'|'error'
---@field log_file string|nil Log file; default `stdpath('log')/rune.log`.
---@field restart_backoff_ms integer First delay before restarting a crashed host; doubles per crash.
---@field max_restarts integer Crashes in a row after which Rune stops restarting by itself.
---@field restart_window_ms integer A host that stayed ready this long before it crashed starts a new row of crashes.
---@field autostart boolean|integer Start the host shortly after startup (true, or a delay in ms).

---@class rune.McpConfig
---@field enabled boolean Run the MCP server when the host runs.
---@field port integer 127.0.0.1 port; 0 picks a free one.
---@field zeke { enabled: boolean, lock_dir: string|nil } No effect (kept for old configs): zeke reads no lock file.
---@field tools { unsafe: boolean, zeke_aliases: boolean, ai: boolean, reexport_hub: boolean }
---@field approval { rules: { tool: string, args: table<string, string>|nil, action: 'allow'|'deny'|'ask' }[] }
---@field limits { max_sessions: integer, max_concurrent: integer, max_body_bytes: integer, idle_timeout_ms: integer }
---@field audit_log boolean|string true for `stdpath('state')/rune/mcp-audit.log`, or a path.
---@field servers table<string, table> MCP servers for the hub, in the `mcpServers` entry format.
---@field hub { enabled: boolean, files: string[]|nil, connect_timeout_ms: integer, tool_timeout_ms: integer, sandbox: boolean, allow_unsandboxed: boolean, auth_timeout_ms: integer }

---@class rune.Config
---@field host rune.HostConfig
---@field providers table<string, table> Provider definitions (validated by the host).
---@field chat table
---@field completion table
---@field edit table :RuneEdit's review keys and context size
---@field prompts table<string, { text: string, description: string|nil, edit: 'rewrite'|'insert'|'none'|nil }>
---@field mcp rune.McpConfig
---@field plugins rune.PluginsConfig
---@field telemetry rune.TelemetryConfig
---@field auth rune.AuthConfig

---@class rune.AuthConfig
---@field store 'auto'|'keyring'|'file' Where secrets live: the OS keyring when it answers, else a 0600 secrets file (|rune-auth-store|).
---@field file string|nil The secrets file; default `$XDG_DATA_HOME/rune/secrets.enc`.
---@field copilot { server: string|nil, min_interval_ms: integer, github_url: string, api_url: string, settings: table, timeout_ms: integer }
---@field oauth table<string, table> OAuth 2 sign-ins by name (validated by the host).

---@class rune.PluginsConfig
---@field enabled boolean Load plugins.
---@field user_dir boolean Load `$XDG_CONFIG_HOME/rune/plugins/`.
---@field project_dir boolean Load `<cwd>/.rune/plugins/` (runs the project's code: trusted projects only).
---@field paths string[] More plugin files or directories.
---@field disabled string[] Plugin ids not to load.
---@field config table<string, table> Options per plugin id, given to the plugin as `ctx.config`.
---@field watch boolean Reload a plugin when its file changes.
---@field limits { memory_mb: integer, tool_timeout_ms: integer, call_timeout_ms: integer, init_timeout_ms: integer, exec_timeout_ms: integer, exec_memory_mb: integer }
---@field sandbox { bwrap: boolean, allow_unsandboxed: boolean } Run plugins in bubblewrap; without it run them (with your rights) only when allow_unsandboxed is set.

---@class rune.TelemetryConfig
---@field otlp_endpoint string|nil OTLP/HTTP collector URL; metrics are exported when set.
---@field otlp_headers table<string, string> Extra headers for the collector (e.g. authorization).
---@field export_interval_ms integer How often to export.

M.defaults = {
  host = {
    node = 'node',
    start_timeout_ms = 10000,
    log_level = 'info',
    log_file = vim.NIL,
    restart_backoff_ms = 500,
    shutdown_grace_ms = 3000,
    max_restarts = 5,
    restart_window_ms = 60000,
    autostart = false,
  },
  -- Sections below are validated in depth by the host, which owns their meaning.
  providers = {},
  default_provider = vim.NIL,
  -- :RuneChat (`:help rune-chat`); the host reads provider, model, system and the limits.
  chat = {
    layout = 'vsplit',
    width = 0.4,
    height = 0.4,
    border = 'rounded',
    start_insert = true,
    provider = vim.NIL,
    model = vim.NIL,
    system = vim.NIL,
    max_context_chars = 200000,
    save_interval_ms = 1000,
    frame_ms = 16,
    tools = true,
    max_tool_steps = 10,
    instructions = true,
    keys = { submit = '<CR>', submit_insert = '<C-s>', stop = '<C-c>', close = 'q', apply = 'ga' },
  },
  -- :RuneEdit (`:help rune-edit`): the review keys and how much code around the lines is sent.
  edit = {
    context_lines = 20,
    keys = {
      accept = 'ga',
      reject = 'gr',
      accept_all = 'gA',
      reject_all = 'gR',
      next = ']h',
      prev = '[h',
      stop = '<C-c>',
    },
  },
  -- Your prompts for `/name` in the chat and :RuneEdit (`:help rune-prompts`), validated by the host.
  prompts = {},
  -- Inline completion (`:help rune-completion`); the host reads the request options.
  completion = {
    enabled = true,
    debounce_ms = 150,
    provider = vim.NIL,
    model = vim.NIL,
    filetypes = { ['*'] = true, help = false, gitcommit = false, gitrebase = false },
    max_file_bytes = 2000000,
    prefix_lines = 120,
    suffix_lines = 40,
    max_prefix_chars = 6000,
    max_suffix_chars = 2000,
    max_tokens = 128,
    temperature = vim.NIL,
    stop = vim.NIL,
    suggestions = 1,
    cache_entries = 64,
    context_buffers = {
      enabled = false,
      max_buffers = 3,
      lines = 40,
      max_chars = 2000,
      yanks = 3,
      edits = 3,
    },
    keys = {
      accept = '<Tab>',
      accept_word = '<M-w>',
      accept_line = '<M-l>',
      next = '<M-]>',
      prev = '<M-[>',
      dismiss = '<C-]>',
    },
  },
  -- MCP server for external agents (`:help rune-mcp`); the host reads every option.
  mcp = {
    enabled = true,
    port = 0,
    zeke = { enabled = false, lock_dir = vim.NIL },
    tools = { unsafe = false, zeke_aliases = true, ai = true, reexport_hub = false },
    approval = { rules = {} },
    limits = {
      max_sessions = 1024,
      max_concurrent = 16,
      max_body_bytes = 4194304,
      idle_timeout_ms = 1800000,
    },
    audit_log = true,
    -- An optional TLS listener beside the loopback one (`:help rune-config-mcp.tls`).
    tls = {
      enabled = false,
      cert = vim.NIL,
      key = vim.NIL,
      host = '127.0.0.1',
      port = 0,
      allowed_hosts = {},
    },
    -- MCP hub (`:help rune-hub`): servers defined inline, and the hub's own options.
    servers = {},
    hub = {
      enabled = true,
      files = vim.NIL,
      connect_timeout_ms = 30000,
      tool_timeout_ms = 120000,
      sandbox = false,
      allow_unsandboxed = false,
      auth_timeout_ms = 300000,
    },
  },
  -- Third-party plugins (`:help rune-plugins`); the host reads every option.
  plugins = {
    enabled = true,
    user_dir = true,
    project_dir = false,
    paths = {},
    disabled = {},
    config = {},
    watch = true,
    limits = {
      memory_mb = 128,
      tool_timeout_ms = 30000,
      call_timeout_ms = 120000,
      init_timeout_ms = 10000,
      exec_timeout_ms = 60000,
      exec_memory_mb = 2048,
    },
    sandbox = { bwrap = true, allow_unsandboxed = false },
  },
  -- Metrics export (`:help rune-telemetry`); off until an endpoint is set.
  telemetry = {
    otlp_endpoint = vim.NIL,
    otlp_headers = {},
    export_interval_ms = 60000,
  },
  -- Secrets and sign-in (`:help rune-auth`).
  auth = {
    store = 'auto',
    file = vim.NIL,
    copilot = {
      server = vim.NIL,
      min_interval_ms = 500,
      github_url = 'https://github.com',
      api_url = 'https://api.github.com',
      settings = {},
      timeout_ms = 30000,
    },
    oauth = {},
  },
}

-- Schema: a string is a type name; a table is a nested section; `open` lets a
-- section hold any keys (validated by the host).
H.schema = {
  host = {
    node = 'string',
    start_timeout_ms = 'number',
    log_level = { enum = { 'debug', 'info', 'warn', 'error' } },
    log_file = 'string?',
    restart_backoff_ms = 'number',
    shutdown_grace_ms = 'number',
    max_restarts = 'number',
    restart_window_ms = 'number',
    autostart = { oneof = { 'boolean', 'number' } },
  },
  providers = 'open',
  default_provider = 'string?',
  chat = {
    layout = { enum = { 'vsplit', 'split', 'float', 'tab' } },
    width = 'number',
    height = 'number',
    border = { oneof = { 'string', 'table' } },
    start_insert = 'boolean',
    provider = 'string?',
    model = 'string?',
    system = 'string?',
    max_context_chars = 'number',
    save_interval_ms = 'number',
    frame_ms = 'number',
    tools = 'boolean',
    max_tool_steps = 'number',
    instructions = 'boolean',
    keys = {
      submit = { oneof = { 'string', 'boolean' } },
      submit_insert = { oneof = { 'string', 'boolean' } },
      stop = { oneof = { 'string', 'boolean' } },
      close = { oneof = { 'string', 'boolean' } },
      apply = { oneof = { 'string', 'boolean' } },
    },
  },
  edit = {
    context_lines = 'number',
    keys = {
      accept = { oneof = { 'string', 'boolean' } },
      reject = { oneof = { 'string', 'boolean' } },
      accept_all = { oneof = { 'string', 'boolean' } },
      reject_all = { oneof = { 'string', 'boolean' } },
      next = { oneof = { 'string', 'boolean' } },
      prev = { oneof = { 'string', 'boolean' } },
      stop = { oneof = { 'string', 'boolean' } },
    },
  },
  prompts = 'open',
  completion = {
    enabled = 'boolean',
    debounce_ms = 'number',
    provider = 'string?',
    model = 'string?',
    filetypes = 'open',
    max_file_bytes = 'number',
    prefix_lines = 'number',
    suffix_lines = 'number',
    max_prefix_chars = 'number',
    max_suffix_chars = 'number',
    max_tokens = 'number',
    temperature = 'number?',
    stop = 'open',
    suggestions = 'number',
    cache_entries = 'number',
    context_buffers = {
      enabled = 'boolean',
      max_buffers = 'number',
      lines = 'number',
      max_chars = 'number',
      yanks = 'number',
      edits = 'number',
    },
    keys = {
      accept = { oneof = { 'string', 'boolean' } },
      accept_word = { oneof = { 'string', 'boolean' } },
      accept_line = { oneof = { 'string', 'boolean' } },
      next = { oneof = { 'string', 'boolean' } },
      prev = { oneof = { 'string', 'boolean' } },
      dismiss = { oneof = { 'string', 'boolean' } },
    },
  },
  mcp = {
    enabled = 'boolean',
    port = 'number',
    zeke = { enabled = 'boolean', lock_dir = 'string?' },
    tools = {
      unsafe = 'boolean',
      zeke_aliases = 'boolean',
      ai = 'boolean',
      reexport_hub = 'boolean',
    },
    -- rules are checked by the host (tool, args, action)
    approval = { rules = 'open' },
    limits = {
      max_sessions = 'number',
      max_concurrent = 'number',
      max_body_bytes = 'number',
      idle_timeout_ms = 'number',
    },
    audit_log = { oneof = { 'boolean', 'string' } },
    tls = {
      enabled = 'boolean',
      cert = 'string?',
      key = 'string?',
      host = 'string',
      port = 'number',
      allowed_hosts = 'table',
    },
    servers = 'open',
    hub = {
      enabled = 'boolean',
      files = 'table?',
      connect_timeout_ms = 'number',
      tool_timeout_ms = 'number',
      sandbox = 'boolean',
      allow_unsandboxed = 'boolean',
      auth_timeout_ms = 'number',
    },
  },
  plugins = {
    enabled = 'boolean',
    user_dir = 'boolean',
    project_dir = 'boolean',
    paths = 'open',
    disabled = 'open',
    config = 'open',
    watch = 'boolean',
    limits = {
      memory_mb = 'number',
      tool_timeout_ms = 'number',
      call_timeout_ms = 'number',
      init_timeout_ms = 'number',
      exec_timeout_ms = 'number',
      exec_memory_mb = 'number',
    },
    sandbox = { bwrap = 'boolean', allow_unsandboxed = 'boolean' },
  },
  telemetry = {
    otlp_endpoint = 'string?',
    otlp_headers = 'open',
    export_interval_ms = 'number',
  },
  auth = {
    store = { enum = { 'auto', 'keyring', 'file' } },
    file = 'string?',
    copilot = {
      server = 'string?',
      min_interval_ms = 'number',
      github_url = 'string',
      api_url = 'string',
      settings = 'open',
      timeout_ms = 'number',
    },
    oauth = 'open',
  },
}

local function keys_of(t)
  local out = {}
  for k in pairs(t) do
    out[#out + 1] = k
  end
  table.sort(out)
  return table.concat(out, ', ')
end

local function fail(path, msg)
  error(('(rune) config: %s %s'):format(path, msg), 0)
end

function H.check(path, value, schema)
  if schema == 'open' then
    if type(value) ~= 'table' then
      fail(path, 'must be a table, got ' .. type(value))
    end
    return
  end
  if type(schema) == 'string' then
    local optional = schema:sub(-1) == '?'
    local want = optional and schema:sub(1, -2) or schema
    if value == nil or value == vim.NIL then
      if optional then
        return
      end
      fail(path, 'is required (' .. want .. ')')
    end
    if type(value) ~= want then
      fail(path, ('must be a %s, got %s'):format(want, type(value)))
    end
    return
  end
  if schema.enum then
    if not vim.tbl_contains(schema.enum, value) then
      fail(
        path,
        ('must be one of %s, got %s'):format(table.concat(schema.enum, ', '), vim.inspect(value))
      )
    end
    return
  end
  if schema.oneof then
    if not vim.tbl_contains(schema.oneof, type(value)) then
      fail(path, ('must be a %s, got %s'):format(table.concat(schema.oneof, ' or '), type(value)))
    end
    return
  end
  -- a nested section
  if type(value) ~= 'table' then
    fail(path, 'must be a table, got ' .. type(value))
  end
  for k, v in pairs(value) do
    local sub = schema[k]
    local sub_path = path == '' and tostring(k) or (path .. '.' .. tostring(k))
    if sub == nil then
      fail(sub_path, 'is not an option (known here: ' .. keys_of(schema) .. ')')
    end
    H.check(sub_path, v, sub)
  end
end

--- Validates `opts` and merges it over the defaults. Raises on bad input.
---@param opts table|nil
---@return rune.Config
function M.resolve(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then
    error('(rune) config: setup() expects a table, got ' .. type(opts), 0)
  end
  H.check('', opts, H.schema)
  return vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
end

return M
