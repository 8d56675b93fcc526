/**
 * Lua that tests run in their Neovim to watch a chat buffer; `...` is the buffer.
 */

/** Fills the buffer with 200 earlier turns (about 3,000 lines), as a reopened long chat holds them, and an empty `## You`. */
export const LONG_CHAT = `local b = ... local l = {}
for n = 1, 200 do
  vim.list_extend(l, { '## You', 'question ' .. n, '', '## Rune (local/llama3.2)', '' })
  for i = 1, 10 do l[#l + 1] = 'answer ' .. n .. ' line ' .. i end
  l[#l + 1] = ''
end
vim.list_extend(l, { '## You', '' })
vim.api.nvim_buf_set_lines(b, 0, -1, false, l)
for _, w in ipairs(vim.fn.win_findbuf(b)) do vim.api.nvim_win_set_cursor(w, { #l, 0 }) end`;

/**
 * From now on: each change of the buffer goes to `_G.changes` (the lines it wrote, joined),
 * and each evaluation of the chat's fold expression counts in `_G.folds`.
 */
export const WATCH_CHAT = `local b = ...
_G.changes, _G.folds = {}, 0
vim.api.nvim_buf_attach(b, false, { on_lines = function(_, _, _, first, _, last_new)
  table.insert(_G.changes, table.concat(vim.api.nvim_buf_get_lines(b, first, last_new, false), '\\n'))
end })
local chat = require('rune.chat')
local foldexpr = chat.foldexpr
chat.foldexpr = function() _G.folds = _G.folds + 1 return foldexpr() end`;

/** The buffer's virtual text (end-of-line text and virtual lines), one string per chunk. */
export const VIRTUAL_TEXT = `local out = {}
for _, m in ipairs(vim.api.nvim_buf_get_extmarks(..., -1, 0, -1, { details = true })) do
  for _, chunk in ipairs(m[4].virt_text or {}) do out[#out + 1] = chunk[1] end
  for _, l in ipairs(m[4].virt_lines or {}) do
    for _, chunk in ipairs(l) do out[#out + 1] = chunk[1] end
  end
end
return out`;
