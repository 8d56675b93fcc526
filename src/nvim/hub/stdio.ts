/** How a stdio server is started: as configured, or inside the bubblewrap sandbox. */
import * as os from 'node:os';
import * as path from 'node:path';
import type { ServerConfig } from '../../mcp/hub/config.js';
import { sandboxCommand } from '../../plugins/sandbox.js';

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/**
 * Starts stdio servers in the bubblewrap sandbox when asked for (`sandbox` of
 * the server, else `mcp.hub.sandbox`) and bwrap is usable: the filesystem
 * read-only except the workspace (the server's `cwd`, else Neovim's) and the
 * server's `writable` folders, a private /tmp, network allowed unless
 * `network = false`. `wanted` records per server whether it was asked for.
 */
export function stdioLauncher(
  sandboxAll: boolean,
  workspace: string,
  wanted: Map<string, boolean> = new Map(),
): (s: ServerConfig) => { command: string; args: string[]; sandboxed: boolean } {
  return (s) => {
    const want = s.sandbox ?? sandboxAll;
    wanted.set(s.name, want !== false);
    if (want === false) return { command: s.command!, args: s.args, sandboxed: false };
    const opts = typeof want === 'object' ? want : {};
    return sandboxCommand(s.command!, s.args, {
      workspace: s.cwd ? path.resolve(workspace, s.cwd) : workspace,
      network: opts.network ?? true,
      writable: (opts.writable ?? []).map((w) => path.resolve(workspace, expandHome(w))),
    });
  };
}
