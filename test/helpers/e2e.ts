/**
 * The end-to-end suite's tools: only what `npm run build` produced runs. Neovim
 * gets the plugin on its runtimepath and the Lua layer spawns the host from
 * dist/ (no host code runs in the test process); the `rune` command is
 * `node dist/cli/main.js`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parserCmds, startNvim, waitFor, ROOT, type StartOptions, type TestNvim } from './nvim.js';

export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

export interface RuneOptions extends Omit<StartOptions, 'setup'> {
  /** The table given to `require('rune').setup()`, as JSON (Lua tables with string keys). */
  config?: Record<string, unknown>;
  /** The folder Neovim works in. */
  cwd?: string;
}

/** A headless Neovim with Rune set up as a user's config would; the host starts on first use. */
export async function startRune(opts: RuneOptions = {}): Promise<TestNvim> {
  const config = JSON.stringify(JSON.stringify(opts.config ?? {}));
  const setup = [
    opts.cwd ? `vim.fn.chdir(${JSON.stringify(opts.cwd)})` : '',
    `require('rune').setup(vim.json.decode(${config}))`,
  ].join('\n');
  return startNvim({ ...opts, setup, preCmds: [...parserCmds(), ...(opts.preCmds ?? [])] });
}

/** The host's log file (the spawned host's only output), for failure messages. */
export async function hostLog(t: TestNvim): Promise<string> {
  try {
    const file = await t.lua<string>('return require("rune.host").log_file()');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `(no log at ${file})`;
  } catch (err) {
    return `(the log file could not be found: ${(err as Error).message})`;
  }
}

/** Runs `fn`; when it fails, adds the host's state, :messages and log to the error. */
export async function explained<T>(t: TestNvim, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as Error;
    const state = await t
      .lua<string>('return require("rune.host").info().state')
      .catch((x: Error) => `unknown (${x.message})`);
    const messages = await t.nvim.commandOutput('messages').catch(() => '');
    e.message += `\nhost: ${state}\n:messages\n${String(messages)}\nhost log:\n${await hostLog(t)}`;
    throw e;
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `rune <args>` (node dist/cli/main.js) with `input` on stdin and waits for it to exit. */
export function runCli(
  args: string[],
  opts: { env: Record<string, string>; cwd?: string; input?: string },
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: opts.env,
    cwd: opts.cwd ?? ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The environment a command started from the editor's shell would have (no $NVIM). */
export function shellEnv(t: TestNvim, extra: Record<string, string> = {}): Record<string, string> {
  const e: Record<string, string> = { ...t.env };
  delete e.NVIM;
  return { ...e, ...extra };
}

/**
 * Waits until Neovim waits for an answer typed at a prompt, e.g. the inputlist() of
 * vim.ui.select's default. Neovim 0.10 reports a blocking prompt (and answers no other
 * request meanwhile); newer ones report command-line mode with getcmdtype() `-`.
 */
export async function promptWaiting(t: TestNvim, what: string): Promise<void> {
  await waitFor(
    async () => {
      const m = await t.nvim.mode;
      if (m.blocking) return true;
      return m.mode === 'c' && (await t.lua<string>('return vim.fn.getcmdtype()')) === '-';
    },
    20000,
    what,
  );
}
