/**
 * Finds the Neovim whose MCP server `rune mcp` should talk to, in order:
 * an explicit `--instance`, `$NVIM` (launched from inside Neovim), the lock
 * file whose folder matches the current one, Neovim's own server sockets
 * whose folder matches. A Neovim found through its RPC socket whose host has
 * not started yet is woken: its Lua layer starts the host and hands back the
 * server's address and token.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { attach, type NeovimClient } from 'neovim';
import { NotFoundError, TimeoutError } from '../core/errors.js';
import { defaultLockDir, readLocks, type RuneLock } from './lockfile.js';

export interface ServerTarget {
  url: string;
  token: string;
  /** The host's Unix socket for `rune mcp` (HTTP is used without one). */
  socket?: string;
  /** How it was found, for `--print` and error messages. */
  via: string;
}

export interface DiscoverOptions {
  /** A Neovim server address, a lock file's port, or a Neovim/host pid. */
  instance?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How long to wait for a woken host (default 20 s). */
  timeoutMs?: number;
  log?: (msg: string) => void;
}

export async function discover(opts: DiscoverOptions = {}): Promise<ServerTarget> {
  const env = opts.env ?? process.env;
  const cwd = realOr(opts.cwd ?? process.cwd());
  const lockDir = defaultLockDir(env);
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.timeoutMs ?? 20000;

  if (opts.instance) {
    const inst = opts.instance;
    if (/^\d+$/.test(inst)) {
      const n = Number(inst);
      const lock = readLocks(lockDir).find((l) => l.port === n || l.pid === n || l.nvimPid === n);
      if (lock) return fromLock(lock, `lock file for --instance ${inst}`);
      throw new NotFoundError(
        `No running Rune MCP server has port or pid ${inst} (lock files in ${lockDir}).`,
      );
    }
    return wake(inst, timeoutMs, log, `--instance ${inst}`);
  }
  if (env.NVIM) return wake(env.NVIM, timeoutMs, log, '$NVIM');

  const locks = readLocks(lockDir);
  const byLock = bestMatch(
    locks.map((l) => ({ item: l, dirs: [l.cwd, ...(l.workspaceFolders ?? [])] })),
    cwd,
  );
  if (byLock) return fromLock(byLock, `lock file (cwd ${byLock.cwd})`);

  const sockets = nvimSockets(env);
  const candidates: { item: string; dirs: string[] }[] = [];
  for (const sock of sockets) {
    const dir = await nvimCwd(sock).catch(() => undefined);
    if (dir) candidates.push({ item: sock, dirs: [dir] });
  }
  const sock = bestMatch(candidates, cwd);
  if (sock) return wake(sock, timeoutMs, log, `Neovim socket ${sock}`);

  throw new NotFoundError(
    `No running Neovim with Rune was found for ${cwd}. Start Neovim in this folder (with ` +
      `require('rune').setup()), run \`rune mcp\` from a terminal inside Neovim, or pass ` +
      `--instance <Neovim server address | port | pid>.` +
      (locks.length
        ? ` Running servers: ${locks.map((l) => `${l.port} (${l.cwd})`).join(', ')}.`
        : ''),
  );
}

function fromLock(l: RuneLock, via: string): ServerTarget {
  return {
    url: l.url || `http://127.0.0.1:${l.port}/mcp`,
    token: l.token,
    ...(typeof l.socket === 'string' ? { socket: l.socket } : {}),
    via,
  };
}

/** The item whose folder equals `cwd`, else the one with the deepest folder containing it. */
function bestMatch<T>(items: { item: T; dirs: string[] }[], cwd: string): T | undefined {
  let best: T | undefined;
  let depth = -1;
  for (const { item, dirs } of items) {
    for (const d of dirs) {
      const dir = realOr(d);
      const rel = path.relative(dir, cwd);
      if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
      if (dir.length > depth) {
        best = item;
        depth = dir.length;
      }
    }
  }
  return best;
}

function realOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Neovim's default server sockets: `$XDG_RUNTIME_DIR/nvim.*.0` and `$TMPDIR/nvim.$USER/*\/nvim.*.0`. */
export function nvimSockets(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const scan = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isSocket() && /^nvim\.\d+\.\d+$/.test(e.name)) out.push(p);
      else if (e.isDirectory() && depth > 0) scan(p, depth - 1);
    }
  };
  if (env.XDG_RUNTIME_DIR) scan(env.XDG_RUNTIME_DIR, 0);
  const user = env.USER || env.LOGNAME || os.userInfo().username;
  scan(path.join(env.TMPDIR || os.tmpdir(), `nvim.${user}`), 1);
  return out;
}

async function withNvim<T>(address: string, fn: (nvim: NeovimClient) => Promise<T>): Promise<T> {
  // Probe first, so a dead address is a clear error rather than an unhandled one.
  await new Promise<void>((resolve, reject) => {
    const s = net.createConnection(address);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no answer within 5 s'));
    }, 5000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  }).catch((err: Error) => {
    throw new NotFoundError(
      `Neovim at ${address} did not answer (${err.message}); is it still running?`,
    );
  });
  const nvim = attach({ socket: address, options: { logger: quietLogger } });
  try {
    return await fn(nvim);
  } finally {
    await nvim.close().catch(() => undefined);
  }
}

async function nvimCwd(address: string): Promise<string> {
  return withNvim(address, async (nvim) => {
    const timer = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no answer')), 2000).unref(),
    );
    return Promise.race([nvim.call('getcwd', []) as Promise<string>, timer]);
  });
}

/** Asks the Neovim at `address` for its server, starting its host if needed, and waits. */
async function wake(
  address: string,
  timeoutMs: number,
  log: (msg: string) => void,
  via: string,
): Promise<ServerTarget> {
  return withNvim(address, async (nvim) => {
    const end = Date.now() + timeoutMs;
    let woke = false;
    for (;;) {
      let state: {
        state: string;
        server?: { url: string; token: string; socket?: string | null };
        error?: string;
      };
      try {
        state = (await nvim.lua(
          'local ok, m = pcall(require, "rune.mcp") if not ok then return { state = "missing", error = m } end return m.wake()',
          [],
        )) as typeof state;
      } catch (err) {
        throw new NotFoundError(
          `Neovim at ${address} did not answer (${(err as Error).message}); is it still running?`,
        );
      }
      if (state.state === 'ready' && state.server) {
        const { url, token, socket } = state.server;
        return { url, token, ...(typeof socket === 'string' ? { socket } : {}), via };
      }
      if (state.state === 'missing') {
        throw new NotFoundError(
          `Neovim at ${address} does not have Rune on its runtimepath; install it and call require('rune').setup().`,
        );
      }
      if (state.state === 'failed') {
        throw new NotFoundError(
          `Rune's host in Neovim at ${address} did not start: ${state.error ?? 'unknown error'}.`,
        );
      }
      if (!woke) {
        log(`waking Rune in Neovim at ${address}…`);
        woke = true;
      }
      if (Date.now() > end) {
        throw new TimeoutError(
          `Rune's MCP server in Neovim at ${address} did not start within ${timeoutMs} ms; see :RuneLog there.`,
          'start',
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  });
}

// Without a logger the neovim client patches `console` and logs through winston,
// which would write to stdout: the protocol channel of `rune mcp`. The cast
// satisfies its winston type without depending on winston.
const quietLogger = {
  level: 'error',
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
} as unknown as NonNullable<NonNullable<Parameters<typeof attach>[0]['options']>['logger']>;
