/**
 * Discovery lock files: one JSON file per running server, in a directory only
 * the user can enter (0700), created 0600 with O_EXCL so nobody can plant or
 * pre-open it. Files whose pid is dead are stale and removed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pidAlive } from '../core/file-lock.js';

/** What Rune's own lock file holds. */
export interface RuneLock {
  pid: number;
  port: number;
  token: string;
  url: string;
  cwd: string;
  workspaceFolders: string[];
  /** Neovim's RPC server address (`v:servername`), to reach the editor itself. */
  nvimServer: string;
  nvimPid: number;
  /** The Unix socket `rune mcp` talks to (newline-delimited JSON-RPC, same token). */
  socket?: string;
  version: string;
  createdAt: string;
}

/**
 * The directory of Rune's lock files: `$XDG_STATE_HOME/<appname>/rune/mcp`,
 * which is Neovim's `stdpath('state')/rune/mcp`.
 */
export function defaultLockDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(state, env.NVIM_APPNAME || 'nvim', 'rune', 'mcp');
}

export { pidAlive };

/** Creates `dir` as the user's own folder (0700), tightening it if it is looser. */
export function ensureDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) fs.chmodSync(dir, 0o700);
}

/** Removes lock files whose process is gone, with their `rune mcp` sockets. */
export function cleanStale(dir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.endsWith('.lock')) continue;
    const file = path.join(dir, name);
    const pid = readJson(file)?.pid;
    if (typeof pid !== 'number' || !pidAlive(pid)) {
      try {
        fs.unlinkSync(file);
        removed++;
        // A host that crashed leaves its `rune mcp` socket next to its lock.
        fs.rmSync(file.replace(/\.lock$/, '.sock'), { force: true });
      } catch {
        // raced with another cleaner
      }
    }
  }
  return removed;
}

/**
 * Creates `dir/name` with `data` (0600, O_EXCL). A stale file of the same name
 * is replaced; a live one is an error. Returns the path.
 */
export function writeLock(dir: string, name: string, data: object): string {
  ensureDir(dir);
  const file = path.join(dir, name);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(
        file,
        fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL,
        0o600,
      );
      try {
        fs.writeSync(fd, JSON.stringify(data, null, 2) + '\n');
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      return file;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = readJson(file)?.pid;
      if (typeof pid === 'number' && pidAlive(pid) && pid !== process.pid) {
        throw new Error(`${file} belongs to the running process ${pid}`, { cause: err });
      }
      fs.rmSync(file, { force: true });
    }
  }
}

/** Removes a lock file if it is still ours. */
export function removeLock(file: string): void {
  const pid = readJson(file)?.pid;
  if (pid === process.pid) fs.rmSync(file, { force: true });
}

/** Every live Rune lock in `dir`, newest first. */
export function readLocks(dir: string): RuneLock[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: RuneLock[] = [];
  for (const name of names) {
    if (!name.endsWith('.lock')) continue;
    const data = readJson(path.join(dir, name)) as Partial<RuneLock> | undefined;
    if (
      data &&
      typeof data.pid === 'number' &&
      typeof data.port === 'number' &&
      typeof data.token === 'string' &&
      pidAlive(data.pid)
    ) {
      out.push(data as RuneLock);
    }
  }
  return out.sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
