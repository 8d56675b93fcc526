/**
 * Filesystem and network isolation for code Rune runs on someone else's
 * behalf (plugins themselves, their `ctx.exec` commands, the MCP hub's stdio
 * servers):
 * bubblewrap (`bwrap`) with a read-only root, the workspace writable, a
 * private /tmp, and no network unless allowed. The folders where Unix sockets
 * live (/run with $XDG_RUNTIME_DIR — Neovim's own RPC socket, the D-Bus
 * session bus and its keyring —, /tmp, /var/tmp) are replaced by empty ones:
 * a socket on a read-only mount still accepts connections. Abstract sockets
 * belong to the network namespace; for a process that keeps the network,
 * `unixSocketFilter()` (bwrap's `--seccomp`) refuses every Unix socket.
 * Where bwrap is missing or cannot create namespaces, `sandboxCommand`
 * returns the command unwrapped; its callers decide whether to run it then
 * (plugins and hub servers only with the user's opt-in) and :checkhealth says
 * so. Time and memory limits apply either way (`runSandboxed`).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { which } from '../core/which.js';
import { TimeoutError } from '../core/errors.js';

export interface SandboxOptions {
  /** The directory the command may write (the project root). */
  workspace: string;
  /** Allow network access (default false: a private network namespace with loopback only). */
  network?: boolean;
  /** More directories the command may write, e.g. a package manager's cache. */
  writable?: string[];
  /** Mount the workspace read-only instead (default false). */
  workspaceReadOnly?: boolean;
  /** Directories replaced by an empty tmpfs, e.g. the home directory (never `/`). */
  hide?: string[];
  /** Directories mounted read-only again inside hidden ones (skipped when missing). */
  readable?: string[];
  /** The bwrap binary; `null` turns wrapping off; default: found on PATH. */
  bwrap?: string | null;
  /**
   * A file descriptor of the spawned bwrap from which it reads a seccomp
   * program (`unixSocketFilter()`), e.g. 4 for a fifth stdio pipe.
   */
  seccompFd?: number;
}

export interface WrappedCommand {
  command: string;
  args: string[];
  /** False when bwrap is not available: the command runs as given. */
  sandboxed: boolean;
}

export interface BwrapStatus {
  path: string | null;
  /** True when bwrap exists and could create its namespaces here. */
  usable: boolean;
  /** Why it is not usable (missing, or the error it printed). */
  reason?: string;
}

let detected: BwrapStatus | undefined;
let detecting: Promise<BwrapStatus> | undefined;

/** What bwrap runs to prove it can create its namespaces here. */
const PROBE = [
  '--ro-bind',
  '/',
  '/',
  '--dev',
  '/dev',
  '--unshare-net',
  '--die-with-parent',
  'true',
];

function probed(p: string, status: number | null, stderr: string, error?: Error): BwrapStatus {
  return status === 0
    ? { path: p, usable: true }
    : { path: p, usable: false, reason: (stderr || error?.message || 'failed').trim() };
}

/**
 * Finds bwrap and checks that it works here (containers often forbid user
 * namespaces). The answer is cached for the process; `refresh` checks again.
 */
export function detectBwrap(refresh = false): BwrapStatus {
  if (detected && !refresh) return detected;
  const p = which('bwrap');
  if (!p) {
    detected = { path: null, usable: false, reason: 'bwrap is not installed' };
    return detected;
  }
  const r = spawnSync(p, PROBE, { encoding: 'utf8', timeout: 5000 });
  detected = probed(p, r.status, r.stderr, r.error);
  return detected;
}

/**
 * `detectBwrap()` without blocking the event loop while bwrap runs: the host's start checks
 * this way. Shares its cache.
 */
export function detectBwrapAsync(): Promise<BwrapStatus> {
  if (detected) return Promise.resolve(detected);
  detecting ??= new Promise<BwrapStatus>((resolve) => {
    const p = which('bwrap');
    if (!p) {
      resolve((detected ??= { path: null, usable: false, reason: 'bwrap is not installed' }));
      return;
    }
    execFile(p, PROBE, { encoding: 'utf8', timeout: 5000 }, (err, _stdout, stderr) => {
      // A number is bwrap's exit status; anything else, why it could not run (as spawnSync's error).
      const exited = typeof err?.code === 'number';
      const status = err ? (exited ? (err.code as number) : null) : 0;
      resolve((detected ??= probed(p, status, stderr, err && !exited ? err : undefined)));
    });
  }).finally(() => {
    detecting = undefined;
  });
  return detecting;
}

/**
 * The folders that hold other programs' Unix sockets, hidden in every sandbox:
 * /run (the system bus, /run/user/<uid>), $XDG_RUNTIME_DIR wherever it is
 * (Neovim's servername, the session bus, the keyring, gpg-agent), /var/tmp.
 * /tmp is always a private tmpfs.
 */
export function socketDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = ['/run', '/var/run', '/var/tmp'];
  if (env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR)) dirs.push(env.XDG_RUNTIME_DIR);
  const out: string[] = [];
  for (const d of dirs) {
    let real: string;
    try {
      real = fs.realpathSync(d);
    } catch {
      continue; // a folder that is not there needs no hiding
    }
    if (real === path.parse(real).root || out.includes(real)) continue;
    if (out.some((o) => real.startsWith(o + path.sep))) continue;
    out.push(real);
  }
  return out;
}

/** Files some programs need that may live in a hidden folder (systemd-resolved's resolv.conf). */
const SHOWN_FILES = ['/etc/resolv.conf'];

const SECCOMP_ARCH: Partial<Record<NodeJS.Architecture, { audit: number; socket: number }>> = {
  // AUDIT_ARCH_* from linux/audit.h; __NR_socket from each arch's unistd.h.
  x64: { audit: 0xc000003e, socket: 41 },
  arm64: { audit: 0xc00000b7, socket: 198 },
};

/**
 * A classic-BPF seccomp program for bwrap's `--seccomp`: `socket(AF_UNIX, …)`
 * fails with EACCES, and so does every system call made through another ABI
 * (i386 or x32 on x86_64), which could reach `socket` under another number.
 * Socket pairs stay allowed: they connect nothing outside. This is what keeps
 * a process that has the network from abstract Unix sockets, which a network
 * namespace alone hides. Undefined on architectures it does not know.
 */
export function unixSocketFilter(arch: NodeJS.Architecture = process.arch): Buffer | undefined {
  const a = SECCOMP_ARCH[arch];
  if (!a) return undefined;
  const LD_W_ABS = 0x20;
  const JEQ_K = 0x15;
  const JGE_K = 0x35;
  const RET_K = 0x06;
  const ALLOW = 0x7fff0000;
  const EACCES = 0x00050000 | 13;
  const X32_BIT = 0x40000000;
  const op = (code: number, jt: number, jf: number, k: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(code, 0);
    b.writeUInt8(jt, 2);
    b.writeUInt8(jf, 3);
    b.writeUInt32LE(k >>> 0, 4);
    return b;
  };
  // Jump offsets count from the next instruction.
  // struct seccomp_data: nr at 0, arch at 4, args[0] (low half on these little-endian arches) at 16.
  return Buffer.concat([
    op(LD_W_ABS, 0, 0, 4), // 0: arch
    op(JEQ_K, 0, 6, a.audit), // 1: another ABI -> deny (8)
    op(LD_W_ABS, 0, 0, 0), // 2: nr
    op(JGE_K, 4, 0, X32_BIT), // 3: x32 -> deny (8)
    op(JEQ_K, 0, 2, a.socket), // 4: not socket -> allow (7)
    op(LD_W_ABS, 0, 0, 16), // 5: domain
    op(JEQ_K, 1, 0, 1), // 6: AF_UNIX -> deny (8)
    op(RET_K, 0, 0, ALLOW), // 7
    op(RET_K, 0, 0, EACCES), // 8
  ]);
}

/**
 * Wraps `command args` in bwrap: the whole filesystem read-only, `workspace`
 * (and `writable`) read-write, fresh /tmp, /dev and /proc, separate PID, IPC
 * and UTS namespaces, no network unless `network`, and the sandbox dies with
 * Rune. Returns the command unchanged (sandboxed: false) when bwrap is not usable.
 *
 * The MCP hub spawns a stdio server through it (src/mcp/hub/launcher.ts) like this:
 * ```ts
 * const w = sandboxCommand(cfg.command, cfg.args, { workspace: root, network: true, seccompFd: 3 });
 * new HubStdioTransport({ command: w.command, args: w.args, env, fd3: unixSocketFilter() });
 * ```
 */
export function sandboxCommand(
  command: string,
  args: readonly string[],
  opts: SandboxOptions,
): WrappedCommand {
  const bwrap = opts.bwrap === undefined ? detectBwrap().path : opts.bwrap;
  const usable = opts.bwrap === undefined ? detectBwrap().usable : opts.bwrap !== null;
  if (!bwrap || !usable) return { command, args: [...args], sandboxed: false };
  const workspace = path.resolve(opts.workspace);
  const out = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  const masked = ['/tmp'];
  for (const h of [...socketDirs(), ...(opts.hide ?? [])]) {
    const abs = path.resolve(h);
    if (abs === path.parse(abs).root || masked.includes(abs)) continue;
    masked.push(abs);
    out.push('--tmpfs', abs);
  }
  for (const r of opts.readable ?? []) out.push('--ro-bind-try', path.resolve(r), path.resolve(r));
  const inside = (dir: string, p: string) => {
    const rel = path.relative(dir, p);
    return !!rel && !rel.startsWith('..') && !path.isAbsolute(rel);
  };
  for (const f of SHOWN_FILES) {
    let real: string;
    try {
      real = fs.realpathSync(f);
    } catch {
      continue;
    }
    if (masked.some((m) => inside(m, real))) out.push('--ro-bind-try', real, real);
  }
  // The program itself (and files named in its arguments) may live under a
  // folder the sandbox masks — a checkout in /tmp, say: show that tree again,
  // read-only, or the command could not even start.
  const shown = new Set<string>();
  for (const a of [command, ...args]) {
    if (!path.isAbsolute(a) || !fs.existsSync(a)) continue;
    for (const m of masked) {
      const rel = path.relative(m, a);
      if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) continue;
      const top = path.join(m, rel.split(path.sep)[0]!);
      if (!shown.has(top)) {
        shown.add(top);
        out.push('--ro-bind', top, top);
      }
    }
  }
  out.push(opts.workspaceReadOnly ? '--ro-bind' : '--bind', workspace, workspace);
  const bound = [workspace, ...(opts.readable ?? []).map((r) => path.resolve(r))];
  for (const w of opts.writable ?? []) {
    const abs = path.resolve(w);
    if (fs.existsSync(abs)) {
      out.push('--bind', abs, abs);
      bound.push(abs);
    }
  }
  // A socket folder inside a folder shown again ($XDG_RUNTIME_DIR in the project, say)
  // is hidden once more, after it.
  for (const m of masked.slice(1)) {
    if (bound.some((b) => inside(b, m))) out.push('--tmpfs', m);
  }
  if (!opts.network) out.push('--unshare-net');
  if (opts.seccompFd !== undefined) out.push('--seccomp', String(opts.seccompFd));
  out.push(
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--die-with-parent',
    '--new-session',
    '--chdir',
    workspace,
    '--',
    command,
    ...args,
  );
  return { command: bwrap, args: out, sandboxed: true };
}

export interface RunOptions extends SandboxOptions {
  /** Kill the command after this many ms (default 30000). */
  timeoutMs?: number;
  /** Address-space limit for the command, MiB (applied with prlimit where installed). */
  memoryMb?: number;
  /** Written to the command's stdin. */
  input?: string;
  env?: Record<string, string>;
  /** Output kept per stream, bytes (default 1 MiB); the rest is dropped and `truncated` set. */
  maxOutputBytes?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  sandboxed: boolean;
  truncated: boolean;
}

/**
 * Runs a command in the sandbox with a time limit (the whole process group
 * is killed on overrun, raising TimeoutError) and, where prlimit exists, a
 * memory limit. Never uses a shell.
 */
export function runSandboxed(
  command: string,
  args: readonly string[],
  opts: RunOptions,
): Promise<RunResult> {
  const wrapped = sandboxCommand(command, args, opts);
  let cmd = wrapped.command;
  let argv = wrapped.args;
  const prlimit = opts.memoryMb ? which('prlimit') : undefined;
  if (prlimit && opts.memoryMb) {
    argv = [`--as=${Math.round(opts.memoryMb * 1024 * 1024)}`, '--', cmd, ...argv];
    cmd = prlimit;
  }
  const limit = opts.maxOutputBytes ?? 1 << 20;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, {
      cwd: opts.workspace,
      env: opts.env ?? (process.env as Record<string, string>),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out = { stdout: '', stderr: '', truncated: false };
    const take = (k: 'stdout' | 'stderr') => (c: Buffer) => {
      if (out[k].length + c.length > limit) {
        out[k] += c.toString('utf8', 0, Math.max(0, limit - out[k].length));
        out.truncated = true;
      } else out[k] += c.toString('utf8');
    };
    child.stdout.on('data', take('stdout'));
    child.stderr.on('data', take('stderr'));
    let timedOut = false;
    // The whole tree: bwrap's sandbox child is in a session of its own (see killTree).
    const kill = (): void => {
      if (child.pid) killTree(child.pid);
      else child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const onAbort = (): void => kill();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (timedOut) {
        reject(
          new TimeoutError(
            `${command} ran longer than ${timeoutMs} ms and was stopped; raise the limit or make it faster.`,
            'total',
          ),
        );
        return;
      }
      resolve({ code, signal: sig, ...out, sandboxed: wrapped.sandboxed });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** The fields of /proc/<pid>/stat after the command name: [state, ppid, …]. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The pids whose parent is `pid` (read from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    if (procStat(Number(e))?.[1] === String(pid)) out.push(Number(e));
  }
  return out;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * SIGKILLs `pid` and every process below it, synchronously (it runs in
 * `exit` handlers too). The process is stopped first and only killed once
 * the kernel shows it stopped, so no child it was forking escapes the walk.
 */
export function killTree(pid: number): void {
  try {
    process.kill(pid, 'SIGSTOP');
  } catch {
    return; // gone already
  }
  // A signal is delivered after the syscall in progress (a clone) returns; wait for it, briefly.
  for (let i = 0; i < 200; i++) {
    const state = procStat(pid)?.[0];
    if (state === undefined || state === 'T' || state === 't' || state === 'Z') break;
    Atomics.wait(pause, 0, 0, 1);
  }
  const stopped: number[] = [pid];
  for (let i = 0; i < stopped.length; i++) {
    for (const c of childrenOf(stopped[i]!)) {
      try {
        process.kill(c, 'SIGSTOP');
        stopped.push(c);
      } catch {
        // gone
      }
    }
  }
  for (const p of stopped.reverse()) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
  try {
    process.kill(-pid, 'SIGKILL'); // its group, when it leads one
  } catch {
    // not a group leader, or gone
  }
}
