-- Rune: defines the :Rune* commands. Nothing is loaded until a command runs.
if vim.g.loaded_rune then
  return
end
vim.g.loaded_rune = true

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
