import type { NeovimClient } from 'neovim';

/**
 * Runs Lua in Neovim with any msgpack-able arguments (null arrives as nil),
 * which the client's `lua()` typing does not allow.
 */
export function execLua<T>(nvim: NeovimClient, code: string, args: unknown[] = []): Promise<T> {
  return nvim.request('nvim_exec_lua', [code, args]) as Promise<T>;
}
