--- :checkhealth rune
local M, H = {}, {}

H.MIN_NODE = 20

function H.node_version(node)
  local out = vim.fn.system({ node, '--version' })
  if vim.v.shell_error ~= 0 then
    return nil
  end
  return vim.trim(out)
end

function M.check()
  local health = vim.health
  local util = require('rune.util')

  health.start('rune: Neovim')
  if vim.fn.has('nvim-0.10') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.10 or newer is required', { 'Upgrade Neovim' })
  end

  health.start('rune: configuration')
  local ok_cfg, cfg = pcall(require('rune').config)
  if ok_cfg then
    health.ok('configuration is valid')
    if cfg.mcp and cfg.mcp.zeke and cfg.mcp.zeke.enabled == true then
      health.warn('mcp.zeke.enabled has no effect: nothing in zeke reads lock files', {
        'Remove it; zeke reaches Rune through ZEKE_MCP_COMMAND=/path/to/rune.nvim/bin/rune-mcp (:help rune-zeke)',
      })
    end
  else
    health.error(tostring(cfg), { 'Fix the key named above in your setup() call' })
    return
  end

  health.start('rune: Node.js')
  local node = vim.fn.exepath(cfg.host.node)
  if node == '' then
    health.error(
      ("Node.js not found (host.node = '%s')"):format(cfg.host.node),
      { 'Install Node.js >= ' .. H.MIN_NODE, 'or set host.node to the path of node' }
    )
    return
  end
  local version = H.node_version(node)
  local major = version and tonumber(version:match('^v(%d+)'))
  if not major then
    health.error('could not run ' .. node .. ' --version')
    return
  elseif major < H.MIN_NODE then
    health.error(
      ('Node.js %s is too old (need >= %d)'):format(version, H.MIN_NODE),
      { 'Install a newer Node.js or set host.node' }
    )
    return
  end
  health.ok(('Node.js %s (%s)'):format(version, node))

  local main = util.root() .. '/dist/host/main.js'
  if vim.fn.filereadable(main) == 1 then
    health.ok('host is built (' .. main .. ')')
  else
    health.error(
      'host is not built: ' .. main .. ' is missing',
      { 'Run `npm ci && npm run build` in ' .. util.root() }
    )
    return
  end

  health.start('rune: host')
  local host = require('rune.host')
  local ok, status = pcall(host.request, 'rune.status')
  if ok then
    health.ok(('host is %s (pid %s, version %s)'):format(status.state, status.pid, status.version))
    health.info('log: ' .. (util.val(status.log_file) or host.log_file()))
  else
    health.error(
      'host did not start: ' .. tostring(status),
      { 'See :RuneLog for details', 'Run :RuneRestart to try again' }
    )
    return
  end

  local ok_extra, sections = pcall(host.request, 'rune.health')
  if ok_extra and type(sections) == 'table' then
    for _, section in ipairs(sections) do
      health.start('rune: ' .. section.name)
      for _, item in ipairs(section.items or {}) do
        local fn = health[item.level] or health.info
        local advice = util.val(item.advice)
        if advice and #advice > 0 and (fn == health.warn or fn == health.error) then
          fn(item.message, advice)
        elseif advice and #advice > 0 then
          -- vim.health.ok/info take no advice: it follows the message.
          fn(item.message .. ': ' .. table.concat(advice, ' '))
        else
          fn(item.message)
        end
      end
    end
  end
end

return M
