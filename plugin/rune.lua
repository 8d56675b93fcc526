-- Rune: defines the :Rune* commands. Nothing is loaded until a command runs.
if vim.g.loaded_rune then
  return
end
vim.g.loaded_rune = true

-- Inline completion switches itself on at the first InsertEnter after setup().
vim.api.nvim_create_autocmd('InsertEnter', {
  group = vim.api.nvim_create_augroup('rune.completion.boot', { clear = true }),
  callback = function(ev)
    if package.loaded['rune'] then
      require('rune.completion').boot(ev)
    end
  end,
})
-- Yanks count as context for completion (completion.context_buffers.yanks).
vim.api.nvim_create_autocmd('TextYankPost', {
  group = 'rune.completion.boot',
  callback = function()
    if package.loaded['rune'] then
      require('rune.completion').on_yank()
    end
  end,
})

-- Users of :UpdateRemotePlugins get the same commands from rplugin/node/rune.
if vim.g.rune_rplugin then
  return
end

local function cmd(name, impl, opts)
  opts = opts or {}
  vim.api.nvim_create_user_command(name, function(o)
    require('rune.commands')[impl](o)
  end, opts)
end

cmd('RuneStatus', 'status', { desc = 'Rune: host status' })
cmd('RuneLog', 'log', { desc = 'Rune: open the host log' })
cmd('RuneRestart', 'restart', { desc = 'Rune: restart the host' })
cmd('RuneComplete', 'complete', {
  nargs = '?',
  complete = function()
    return { 'toggle', 'enable', 'disable' }
  end,
  desc = 'Rune: complete at the cursor, or toggle inline completion',
})

-- :RuneChat (lua/rune/chat.lua); its errors are shown, never thrown at the user.
local function chat(name, fn, opts)
  opts.desc = 'Rune: ' .. opts.desc
  vim.api.nvim_create_user_command(name, function(o)
    local ok, err = pcall(function()
      require('rune.chat')[fn](o)
    end)
    if not ok then
      vim.notify(tostring(err), vim.log.levels.ERROR)
    end
  end, opts)
end
chat(
  'RuneChat',
  'open',
  { nargs = '*', range = true, bang = true, desc = 'open the chat (! for a new one)' }
)
chat('RuneStop', 'stop', { desc = 'stop the streaming answer' })
chat('RuneChatHistory', 'history', { desc = 'reopen a saved chat' })
chat('RuneChatModel', 'select_model', { desc = "switch the chat's provider and model" })

-- :RuneEdit (lua/rune/edit.lua): a rewrite streamed into the buffer as a live diff.
vim.api.nvim_create_user_command('RuneEdit', function(o)
  local ok, err = pcall(require('rune.edit').command, o)
  if not ok then
    vim.notify(tostring(err), vim.log.levels.ERROR)
  end
end, {
  nargs = '*',
  range = true,
  bang = true,
  complete = function(lead)
    return require('rune.edit').complete(lead)
  end,
  desc = 'Rune: rewrite the lines with {instruction} or /prompt (! writes new code below the cursor)',
})
vim.keymap.set('x', '<Plug>(RuneEdit)', function()
  require('rune.edit').visual()
end, { desc = 'Rune: rewrite the selected lines' })

-- :RuneMcp (lua/rune/mcp.lua): the MCP server's address, clients, calls and setup snippets,
-- and the MCP hub's servers.
vim.api.nvim_create_user_command('RuneMcp', function(o)
  require('rune.mcp').command(o)
end, {
  nargs = '*',
  complete = function(lead, line)
    return require('rune.mcp').complete(lead, line)
  end,
  desc = 'Rune: MCP server info (approve, reset, servers, enable|disable|restart|signout {server})',
})

-- :RuneStats and :RunePlugins (lua/rune/stats.lua).
vim.api.nvim_create_user_command('RuneStats', function(o)
  require('rune.stats').stats(o)
end, {
  nargs = '?',
  complete = function()
    return { 'reset' }
  end,
  desc = 'Rune: acceptance rate and latency per provider (reset: start counting again)',
})
vim.api.nvim_create_user_command('RunePlugins', function(o)
  require('rune.stats').plugins(o)
end, {
  nargs = '*',
  complete = function(arglead, cmdline)
    return require('rune.stats').complete_plugins(arglead, cmdline)
  end,
  desc = 'Rune: list plugins, reload [id], or run <id> <command> [args]',
})

-- :RuneAuth (lua/rune/auth.lua): sign in, sign out, and where secrets are kept.
vim.api.nvim_create_user_command('RuneAuth', function(o)
  require('rune.auth').command(o)
end, {
  nargs = '*',
  complete = function(arglead, cmdline)
    return require('rune.auth').complete(arglead, cmdline)
  end,
  desc = 'Rune: [provider] [login|logout|status] — sign in to a provider or show secrets',
})

-- :RuneSetup (lua/rune/setup.lua): pick the model provider when none is configured.
vim.api.nvim_create_user_command('RuneSetup', function()
  local ok, err = pcall(require('rune.setup').open)
  if not ok then
    vim.notify(tostring(err), vim.log.levels.ERROR)
  end
end, { desc = 'Rune: pick the model provider (detected on this machine)' })

-- :RunePull[!] {model} (lua/rune/progress.lua): pull an Ollama model with progress.
vim.api.nvim_create_user_command('RunePull', function(o)
  require('rune.progress').pull(o)
end, { nargs = '?', bang = true, desc = 'Rune: pull an Ollama model (! cancels the pull)' })
