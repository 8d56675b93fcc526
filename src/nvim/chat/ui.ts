/**
 * The chat's `ChatUi` port implemented with the `neovim` client: every call is
 * a fixed function of lua/rune/chat.lua, lua/rune/context.lua or
 * lua/rune/util.lua (Lua draws, the controller decides).
 */
import type { NeovimClient } from 'neovim';
import type { ChatStatus, ChatUi } from './controller.js';
import { collectContext } from './context.js';
import { execLua } from './lua.js';

export function nvimChatUi(nvim: NeovimClient): ChatUi {
  return {
    create: (id, project, lines) =>
      execLua<number>(nvim, 'return require("rune.chat")._create(...)', [id, project, lines]),
    exists: async (buf) => (await nvim.request('nvim_buf_is_valid', [buf])) as boolean,
    lines: async (buf) =>
      (await nvim.request('nvim_buf_get_lines', [buf, 0, -1, false])) as string[],
    addToPrompt: async (buf, text) => {
      await execLua(nvim, 'require("rune.chat")._add_to_prompt(...)', [buf, text]);
    },
    pending: async (buf, row, header) =>
      (await execLua<boolean>(nvim, 'return require("rune.chat")._pending(...)', [
        buf,
        row,
        header,
      ])) === true,
    begin: (buf, row, text) =>
      execLua<boolean>(nvim, 'return require("rune.chat")._begin(...)', [buf, row, text]),
    append: (buf, text, last) =>
      execLua<boolean>(
        nvim,
        'return require("rune.chat")._append(...)',
        last ? [buf, text, true] : [buf, text],
      ),
    status: async (buf: number, status: ChatStatus) => {
      await execLua(nvim, 'require("rune.chat")._status(...)', [buf, status]);
    },
    chatIds: async (buf) =>
      (await execLua(nvim, 'return require("rune.context").chat_ids(...)', [buf])) as
        [string, string] | null,
    context: (refs, where) => collectContext(refs, { nvim, ...where }),
    warn: (message) =>
      execLua<void>(nvim, 'require("rune.util").notify(..., vim.log.levels.WARN)', [message]),
    error: (message) =>
      execLua<void>(nvim, 'require("rune.util").notify(..., vim.log.levels.ERROR)', [message]),
  };
}
