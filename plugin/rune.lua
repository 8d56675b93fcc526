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
-- Yanks and edits count as context for completion (completion.context_buffers), before
-- and after completion boots.
local context = vim.api.nvim_create_augroup('rune.completion.context', { clear = true })
vim.api.nvim_create_autocmd('TextYankPost', {
  group = context,
  callback = function()
    if package.loaded['rune'] then
      require('rune.completion').on_yank()
    end
  end,
})
vim.api.nvim_create_autocmd({ 'TextChanged', 'InsertLeave' }, {
  group = context,
  callback = function(ev)
    if package.loaded['rune'] then
      require('rune.completion').on_edit(ev.buf)
    end
  end,
})

-- Users of :UpdateRemotePlugins get the same commands from rplugin/node/rune.
if vim.g.rune_rplugin then
  return
end

-- The commands come from one table, lua/rune/commands.json (read here as a file, so no Lua
-- module loads at startup; the rplugin entry reads the same file). Each row names its
-- implementation in lua/rune/commands.lua.
local spec_file = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')
  .. '/lua/rune/commands.json'
local f = assert(io.open(spec_file, 'r'))
local spec = vim.json.decode(f:read('*a'))
f:close()
for _, c in ipairs(spec) do
  -- Completion runs in lua/rune/commands.lua (loaded only when completing).
  local complete = c.complete and ("customlist,v:lua.require'rune.commands'.completers." .. c.name)
  vim.api.nvim_create_user_command(c.name, function(o)
    require('rune.commands')[c.impl](o)
  end, {
    nargs = c.nargs,
    range = c.range,
    bang = c.bang,
    complete = complete,
    desc = 'Rune: ' .. c.desc,
  })
end

vim.keymap.set('x', '<Plug>(RuneEdit)', function()
  require('rune.edit').visual()
end, { desc = 'Rune: rewrite the selected lines' })
