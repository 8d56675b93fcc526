/**
 * Drives a real headless Neovim for integration tests: `nvim --embed
 * --headless --clean` with Rune on the runtimepath, attached with the
 * `neovim` client. Every instance is tracked and killed when the test file
 * ends, together with any host it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attach, findNvim, type NeovimClient } from 'neovim';
import { afterAll } from 'vitest';
import { createMemoryLogger } from '../../src/core/log.js';
import { clientLogger } from '../../src/nvim/client-logger.js';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The Neovim binary under test: $RUNE_TEST_NVIM, else `nvim` on PATH if >= 0.10, else the provisioned newest. */
export function nvimBin(): string {
  if (process.env.RUNE_TEST_NVIM) return process.env.RUNE_TEST_NVIM;
  // The neovim client's finder compares versions properly (0.10 < 0.12 < 1.0).
  if (findNvim({ cmds: [['nvim']], minVersion: '0.10.0' }).matches.length > 0) return 'nvim';
  return path.join(ROOT, '.cache', 'nvim', 'sid', 'bin', 'nvim');
}

/**
 * The provisioned Neovims keep their bundled treesitter parsers under their own
 * prefix, which is not on the runtimepath; the markdown ftplugin of Neovim 0.12
 * (the chat buffer's filetype) needs them. A system Neovim finds its parsers by itself.
 */
export function parserCmds(): string[] {
  const dir = path.resolve(path.dirname(nvimBin()), '..', 'root', 'usr', 'lib', 'nvim');
  return fs.existsSync(path.join(dir, 'parser')) ? [`set rtp+=${dir}`] : [];
}

export interface TestNvim {
  nvim: NeovimClient;
  proc: ChildProcess;
  /** A private XDG home for this instance (state, data, log, config). */
  home: string;
  env: Record<string, string>;
  /** Runs Lua and returns its value. */
  lua<T = unknown>(code: string, args?: unknown[]): Promise<T>;
  close(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Extra `--cmd` commands run before plugins load. */
  preCmds?: string[];
  /** Lua run after startup, e.g. a `setup()` call. */
  setup?: string;
  home?: string;
  /**
   * Start as a user's Neovim does: $XDG_CONFIG_HOME/nvim/init.lua and the packages
   * under $XDG_DATA_HOME/nvim/site run, and the checkout is NOT put on the runtimepath.
   */
  asUser?: boolean;
}

const live = new Set<TestNvim>();

afterAll(async () => {
  await Promise.all([...live].map((t) => t.close()));
});

export function xdgEnv(home: string): Record<string, string> {
  const env = {
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_STATE_HOME: path.join(home, 'state'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
  };
  for (const d of Object.values(env)) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  return env;
}

/**
 * Where a host with no providers configured looks for a local Ollama and llama-server
 * (src/providers/detect.ts): a closed loopback port, so no test probes the developer's
 * own 11434 or 8080. A test that wants detection to find a peer sets these itself.
 */
export const NO_LOCAL_PEERS = { OLLAMA_HOST: '127.0.0.1:9', LLAMA_ARG_PORT: '9' } as const;

export async function startNvim(opts: StartOptions = {}): Promise<TestNvim> {
  const home = opts.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rune-nvim-'));
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...NO_LOCAL_PEERS,
    ...xdgEnv(home),
    ...opts.env,
  };
  delete env.NVIM;
  delete env.NVIM_LISTEN_ADDRESS;
  const args = opts.asUser
    ? ['--embed', '--headless', '-n', '-i', 'NONE']
    : ['--embed', '--headless', '--clean', '-n', '--cmd', `set rtp^=${ROOT}`];
  for (const c of opts.preCmds ?? []) args.push('--cmd', c);
  const proc = spawn(nvimBin(), args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const nvim = attach({ proc, options: { logger: clientLogger(createMemoryLogger()) } });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const t: TestNvim = {
    nvim,
    proc,
    home,
    env,
    lua: async <T>(code: string, a: unknown[] = []) =>
      (await nvim.lua(code, a as Parameters<NeovimClient['lua']>[1])) as T,
    close: async () => {
      live.delete(t);
      if (proc.exitCode === null && proc.signalCode === null) {
        // Ask politely (so the host sees stdin close), then insist.
        try {
          void nvim.command('qa!').catch(() => undefined);
        } catch {
          // already gone
        }
        const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
  live.add(t);
  try {
    await nvim.channelId;
    if (opts.setup) await nvim.lua(opts.setup, []);
  } catch (err) {
    await t.close();
    throw new Error(`nvim failed to start: ${(err as Error).message}\n${stderr}`);
  }
  return t;
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(
  fn: () => Promise<T> | T,
  timeoutMs = 10000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True when a process with this pid is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Lua that trusts `file`'s current content as `:trust` does (Neovim 0.10's
 * vim.secure.trust allows by buffer only, so the file is loaded in one first).
 */
export function trustFileLua(file: string): string {
  return `local b = vim.fn.bufadd(${JSON.stringify(file)}) vim.fn.bufload(b) assert(vim.secure.trust({ action = 'allow', bufnr = b })) vim.api.nvim_buf_delete(b, { force = true })`;
}

/** Lua that trusts a folder by name, as `:trust {dir}` records it in Neovim 0.11+. */
export function trustDirLua(dir: string): string {
  return `local f = assert(io.open(vim.fn.stdpath('state') .. '/trust', 'a')) f:write('directory ' .. vim.uv.fs_realpath(${JSON.stringify(dir)}) .. '\\n') f:close()`;
}

/**
 * A scratch buffer of 10,000 lines holding every character JSON escapes or UTF-8 makes
 * long (quotes, a backslash, a tab, é, ✓, 😀), about 600 KB: the large read of the MCP
 * tests. Returns its id and the text a read of all of it must give.
 */
export async function bigBuffer(t: TestNvim): Promise<{ buf: number; text: string }> {
  const buf = await t.lua<number>(`
    local b = vim.api.nvim_create_buf(false, true)
    local lines = {}
    for i = 1, 10000 do lines[i] = ('line %05d: "quoted" \\\\ tab\\t é ✓ 😀'):format(i) end
    vim.api.nvim_buf_set_lines(b, 0, -1, false, lines)
    return b`);
  const text = Array.from(
    { length: 10000 },
    (_, i) => `line ${String(i + 1).padStart(5, '0')}: "quoted" \\ tab\t é ✓ 😀`,
  ).join('\n');
  return { buf, text };
}
