/**
 * How the hub starts a stdio server: as configured, or in the bubblewrap
 * sandbox (src/sandbox/) when the server's own `sandbox` key, else
 * `mcp.hub.sandbox`, asks for it. In the sandbox the filesystem is read-only
 * except the workspace (the server's `cwd`, else Neovim's) and the server's
 * `writable` folders, /tmp is private, the folders holding other programs'
 * Unix sockets are empty, and the network stays unless `network = false`. A
 * seccomp filter (fed to bwrap on fd 3, see stdio.ts) refuses every
 * `socket(AF_UNIX)`, so a server that keeps the network still reaches no
 * abstract socket and no socket by path.
 *
 * A server that asked for the sandbox where bwrap is unusable is not started
 * (it would run with the user's rights) unless the user allowed that with
 * `mcp.hub.allow_unsandboxed`.
 */
import { expandHome } from '../../core/home.js';
import * as path from 'node:path';
import { DeniedError } from '../../core/errors.js';
import {
  detectBwrap,
  sandboxCommand,
  unixSocketFilter,
  type BwrapStatus,
} from '../../sandbox/sandbox.js';
import type { ServerConfig } from './config.js';

/** The option that lets sandboxed stdio servers run without the sandbox. */
export const UNSANDBOXED_HUB_OPTION = 'mcp.hub.allow_unsandboxed';

/** What the hub spawns for a stdio server. */
export interface StdioRun {
  command: string;
  args: string[];
  /** True when the server runs in the sandbox. */
  sandboxed: boolean;
  /** Bytes for the child's fd 3: the seccomp program bwrap reads (`--seccomp 3`). */
  fd3?: Buffer;
}

export interface LauncherOptions {
  /** `mcp.hub.sandbox`: sandbox every stdio server whose own `sandbox` key is unset. */
  sandbox: boolean;
  /** Neovim's working directory: the workspace, and the base of relative paths. */
  workspace: string;
  /** `mcp.hub.allow_unsandboxed`: run servers that asked for the sandbox without it. */
  allowUnsandboxed?: boolean;
  /** Filled per server: whether it asked for the sandbox. */
  wanted?: Map<string, boolean>;
  /** Where bwrap is and whether it works (default: detected on PATH). */
  bwrap?: BwrapStatus;
}

/** Why a server that asked for the sandbox was not started. */
export function notStartedMessage(reason: string): string {
  return (
    `not started: it asks for the sandbox, but there is none here (${reason}), and without it ` +
    `the server runs with your rights (your files, your network, your processes). Install ` +
    `bubblewrap, or set ${UNSANDBOXED_HUB_OPTION} = true to run it anyway`
  );
}

/** The function the hub calls before spawning each stdio server (`HubOptions.wrapStdio`). */
export function stdioLauncher(o: LauncherOptions): (s: ServerConfig) => StdioRun {
  return (s) => {
    const want = s.sandbox ?? o.sandbox;
    o.wanted?.set(s.name, want !== false);
    if (want === false) return { command: s.command!, args: s.args, sandboxed: false };
    // Checked again while unusable, so that bubblewrap installed meanwhile counts from
    // the next restart of the server on.
    const bwrap = o.bwrap ?? (detectBwrap().usable ? detectBwrap() : detectBwrap(true));
    if (!bwrap.usable || !bwrap.path) {
      if (!o.allowUnsandboxed) {
        throw new DeniedError(notStartedMessage(bwrap.reason ?? 'bubblewrap is not usable'));
      }
      return { command: s.command!, args: s.args, sandboxed: false };
    }
    const opts = typeof want === 'object' ? want : {};
    const filter = unixSocketFilter();
    const wrapped = sandboxCommand(s.command!, s.args, {
      workspace: s.cwd ? path.resolve(o.workspace, s.cwd) : o.workspace,
      network: opts.network ?? true,
      writable: (opts.writable ?? []).map((w) => path.resolve(o.workspace, expandHome(w))),
      bwrap: bwrap.path,
      ...(filter ? { seccompFd: 3 } : {}),
    });
    return { ...wrapped, ...(filter ? { fd3: filter } : {}) };
  };
}

/** A line of `:checkhealth rune` (and `:RuneMcp` when it warns). */
export interface SandboxReport {
  level: 'ok' | 'info' | 'warn' | 'error';
  message: string;
  advice?: string[];
}

/**
 * What the sandbox does for the hub's stdio servers, in one line: which run
 * in it, and which were not started or run with the user's rights for want
 * of it. Undefined when there is no stdio server.
 */
export function sandboxReport(
  servers: readonly { name: string; transport: string; state: string; sandboxed: boolean }[],
  o: Pick<LauncherOptions, 'wanted' | 'allowUnsandboxed' | 'bwrap'>,
): SandboxReport | undefined {
  const stdio = servers.filter((s) => s.transport === 'stdio' && s.state !== 'disabled');
  if (!stdio.length) return undefined;
  const asked = stdio.filter((s) => o.wanted?.get(s.name));
  if (!asked.length) {
    return {
      level: 'info',
      message:
        'stdio servers run without the sandbox (set mcp.hub.sandbox = true, or "sandbox": true per server)',
    };
  }
  const names = (list: typeof asked) => list.map((s) => s.name).join(', ');
  const bwrap = o.bwrap ?? detectBwrap();
  if (!bwrap.usable) {
    const reason = bwrap.reason ?? 'bubblewrap is not usable';
    return o.allowUnsandboxed
      ? {
          level: 'warn',
          message: `no bubblewrap sandbox (${reason}): these stdio servers ask for it and run with your rights (your files, network and processes), as you allowed with ${UNSANDBOXED_HUB_OPTION}: ${names(asked)}`,
        }
      : {
          level: 'error',
          message: `no bubblewrap sandbox (${reason}): these stdio servers ask for it and are not started, because without it a server runs with your rights: ${names(asked)}`,
          advice: [
            'Install bubblewrap (e.g. apt-get install bubblewrap) and allow unprivileged user namespaces, then restart the servers.',
            `Or set ${UNSANDBOXED_HUB_OPTION} = true to run them with your rights.`,
          ],
        };
  }
  const bare = asked.filter((s) => !s.sandboxed);
  if (bare.length) {
    return {
      level: 'info',
      message: `the sandbox is asked for but these stdio servers are not running in it yet: ${names(bare)}`,
    };
  }
  const sockets = unixSocketFilter()
    ? 'Unix sockets (by path or abstract) are refused to them (seccomp)'
    : `no seccomp filter on ${process.arch}: a server that keeps the network can reach abstract Unix sockets`;
  return {
    level: unixSocketFilter() ? 'ok' : 'warn',
    message: `stdio servers run sandboxed (bwrap at ${bwrap.path ?? '?'}): ${names(asked)}; ${sockets}`,
  };
}
