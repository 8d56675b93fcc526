/**
 * One plugin running in its own worker thread or, where bubblewrap works, its
 * own child Node process inside the sandbox (src/sandbox/sandbox.ts). The host keeps the
 * plugin's registrations and proxies calls to it as messages; the plugin has
 * a V8 heap limit (a plugin that runs out of memory dies alone) and every call
 * a deadline (on overrun the thread or process is ended: a busy loop cannot be
 * interrupted any other way). Reloading means a new thread or process, so no
 * module cache survives from one version of a plugin to the next.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { AbortError, RuneError, TimeoutError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { WORKER_SOURCE } from './worker-source.js';
import { killTree, sandboxCommand, unixSocketFilter } from '../sandbox/sandbox.js';
import {
  PluginError,
  commandSpecSchema,
  manifestSchema,
  providerSpecSchema,
  toolSpecSchema,
  validate,
  type Manifest,
} from './manifest.js';

export type RegistrationKind = 'tool' | 'provider' | 'command';

/** What the worker asked to register, validated. */
export type Registration =
  | { kind: 'tool'; spec: import('./manifest.js').ToolSpec }
  | { kind: 'provider'; spec: import('./manifest.js').ProviderSpec }
  | { kind: 'command'; spec: import('./manifest.js').CommandSpec };

export interface InstanceHooks {
  /** Adds a registration to Rune; the disposable removes it. Throwing fails the plugin. */
  register(r: Registration): { dispose(): void };
  /** Runs a command for `ctx.exec`. */
  exec(command: string, args: string[], opts: Record<string, unknown>): Promise<unknown>;
  /** The worker died or was stopped for overrunning (not called for a requested stop). */
  crashed(err: RuneError): void;
}

/** What a sandboxed plugin process may do beyond reading its own files and the project. */
export interface SandboxGrants {
  /** Write the workspace (capability `fs-write`). */
  fsWrite: boolean;
  /** Reach the network (capability `network`). */
  network: boolean;
  /** Start processes itself (capability `exec`); `ctx.exec` is checked by the host. */
  exec: boolean;
  /** Environment variables the plugin may see (its manifest's `env`). */
  env: readonly string[];
}

export const NO_GRANTS: SandboxGrants = Object.freeze({
  fsWrite: false,
  network: false,
  exec: false,
  env: Object.freeze([]) as readonly string[],
});

/** True when a process started with `have` allows everything in `need`. */
export function grantsCover(have: SandboxGrants, need: SandboxGrants): boolean {
  return (
    (have.fsWrite || !need.fsWrite) &&
    (have.network || !need.network) &&
    (have.exec || !need.exec) &&
    need.env.every((v) => have.env.includes(v))
  );
}

/** What every plugin process sees of the environment besides what its manifest names. */
const BASE_ENV = ['PATH', 'LANG', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES', 'TZ'];

/**
 * The environment of a plugin process: never the host's own (API keys, NVIM,
 * DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR…), only the basics, a HOME that is
 * the sandbox's empty private home, and the variables the manifest names.
 */
export function pluginEnv(
  names: readonly string[],
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = { HOME: os.homedir(), TMPDIR: '/tmp' };
  for (const k of [...BASE_ENV, ...names]) {
    const v = from[k];
    if (v !== undefined) env[k] = v;
  }
  return env;
}

/**
 * Node's permission model for the plugin's own process (`--permission`, called
 * `--experimental-permission` before Node 22.13): file reads limited to the
 * plugin's folders, the project and the private /tmp, writes to /tmp (and the
 * project with `fs-write`), no child processes without `exec`, no worker
 * threads, no native addons. One `--allow-fs-*` flag per path: current Node
 * releases (20.20 here) no longer split one value at commas.
 */
export function permissionFlags(
  read: readonly string[],
  write: readonly string[],
  grants: SandboxGrants,
): string[] {
  const flag = process.allowedNodeEnvironmentFlags.has('--permission')
    ? '--permission'
    : '--experimental-permission';
  const out = [flag];
  for (const r of new Set(read)) out.push(`--allow-fs-read=${r}`);
  for (const w of new Set(write)) out.push(`--allow-fs-write=${w}`);
  if (grants.exec) out.push('--allow-child-process');
  // The permission model is experimental in Node 20; its warning is not the plugin's output.
  if (process.allowedNodeEnvironmentFlags.has('--disable-warning')) {
    out.push('--disable-warning=ExperimentalWarning');
  }
  return out;
}

/** What a runner reports to the plugin instance it runs. */
export interface RunnerHandlers {
  message(m: unknown): void;
  output(stream: 'stdout' | 'stderr', text: string): void;
  /** The thread or process failed or ended on its own; called at most once. */
  failed(err: RuneError): void;
}

/**
 * Where a plugin's code runs: a worker thread, or a child Node process in
 * bubblewrap. Both speak the same messages (worker-source.ts). A runner idles
 * until told which plugin to load, so one can be started ahead of need.
 */
export interface PluginRunner {
  readonly kind: 'thread' | 'process';
  /** What the sandbox allows (a process); undefined for a thread, which is not isolated. */
  readonly grants: SandboxGrants | undefined;
  post(m: unknown): void;
  attach(h: RunnerHandlers): void;
  /** Whether the runner keeps the host's event loop alive (an idle spare must not). */
  ref(): void;
  unref(): void;
  terminate(): void;
  /** Calls `fn` once the thread or process has ended or failed. */
  onExit(fn: () => void): void;
}

const memoryError = (mb: number): RuneError =>
  new RuneError(
    'plugin_memory',
    `ran out of memory (limit ${mb} MiB) and was stopped; raise plugins.limits.memory_mb or fix the plugin`,
  );

class ThreadRunner implements PluginRunner {
  readonly kind = 'thread';
  readonly grants = undefined;
  private readonly worker: Worker;
  private h: RunnerHandlers | undefined;
  private failure: RuneError | undefined;
  private readonly exitFns: (() => void)[] = [];

  constructor(private readonly memoryMb: number) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      resourceLimits: {
        maxOldGenerationSizeMb: memoryMb,
        maxYoungGenerationSizeMb: Math.max(4, Math.floor(memoryMb / 8)),
      },
      stdout: true,
      stderr: true,
      name: 'rune-plugin',
    });
    this.worker.stdout.on('data', (c: Buffer) => this.h?.output('stdout', c.toString('utf8')));
    this.worker.stderr.on('data', (c: Buffer) => this.h?.output('stderr', c.toString('utf8')));
    this.worker.on('message', (m: unknown) => this.h?.message(m));
    this.worker.on('error', (err: Error & { code?: string }) =>
      this.fail(
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? memoryError(this.memoryMb)
          : new RuneError('plugin_crashed', `crashed: ${err.message}`, { cause: err }),
      ),
    );
    this.worker.on('exit', (code) =>
      this.fail(new RuneError('plugin_crashed', `its worker exited (code ${code})`)),
    );
  }

  private fail(err: RuneError): void {
    if (this.failure) return;
    this.failure = err;
    this.h?.failed(err);
    for (const fn of this.exitFns.splice(0)) fn();
  }

  post(m: unknown): void {
    try {
      this.worker.postMessage(m);
    } catch {
      // the worker is gone; 'exit' reports it
    }
  }
  attach(h: RunnerHandlers): void {
    this.h = h;
    // A spare can die before it is used: its new owner still hears why.
    const f = this.failure;
    if (f) queueMicrotask(() => h.failed(f));
  }
  ref(): void {
    this.worker.ref();
  }
  unref(): void {
    this.worker.unref();
  }
  terminate(): void {
    void this.worker.terminate();
  }
  onExit(fn: () => void): void {
    if (this.failure) fn();
    else this.exitFns.push(fn);
  }
}

/** Starts a plugin worker thread with a V8 heap limit (no filesystem or network isolation). */
export function spawnPluginWorker(memoryMb: number): PluginRunner {
  return new ThreadRunner(memoryMb);
}

export interface ProcessRunnerOptions {
  memoryMb: number;
  /** The project root: the working directory, readable, writable with `grants.fsWrite`. */
  workspace: string;
  grants: SandboxGrants;
  /** Directories the plugin must read although they are hidden (its own source directories). */
  readable: string[];
  /** The bwrap binary (default: found on PATH). */
  bwrap?: string;
}

/** Plugin processes not yet ended, stopped when the host exits. */
const liveSandboxes = new Set<ChildProcess>();
let exitHook = false;

/**
 * Stops a bwrap and everything in its sandbox. Killing bwrap alone is not
 * enough: the child it clones (the pid namespace's init, in a session of its
 * own) arms its `--die-with-parent` itself, a moment after the clone, so a
 * bwrap killed in its first milliseconds leaves that child behind for good,
 * holding the plugin's pipes. So bwrap is stopped first (it can clone no
 * more), then its children are killed (the namespace's init takes everything
 * inside with it), then bwrap's own process group.
 */
function stopSandbox(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  killTree(child.pid);
}

/** Once: a host that exits (even before disposing its plugins) stops their sandboxes. */
function killSandboxesOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const c of liveSandboxes) stopSandbox(c);
  });
}

class ProcessRunner implements PluginRunner {
  readonly kind = 'process';
  readonly grants: SandboxGrants;
  private readonly child: ChildProcess;
  private h: RunnerHandlers | undefined;
  private failure: RuneError | undefined;
  private readonly exitFns: (() => void)[] = [];
  private stderrTail = '';

  constructor(private readonly opts: ProcessRunnerOptions) {
    this.grants = { ...opts.grants, env: [...opts.grants.env] };
    const home = os.homedir();
    const readable = [...opts.readable];
    // Node itself may live in the home directory (nvm, volta, fnm).
    const nodePrefix = path.dirname(path.dirname(process.execPath));
    if (nodePrefix.startsWith(home + path.sep)) readable.push(nodePrefix);
    const workspace = path.resolve(opts.workspace);
    const perms = permissionFlags(
      [...opts.readable.map((r) => path.resolve(r)), workspace, '/tmp'],
      opts.grants.fsWrite ? ['/tmp', workspace] : ['/tmp'],
      opts.grants,
    );
    const filter = unixSocketFilter();
    const wrapped = sandboxCommand(
      process.execPath,
      [...perms, `--max-old-space-size=${opts.memoryMb}`, '-e', WORKER_SOURCE],
      {
        workspace: opts.workspace,
        workspaceReadOnly: !opts.grants.fsWrite,
        network: opts.grants.network,
        hide: [home],
        readable,
        ...(opts.bwrap ? { bwrap: opts.bwrap } : {}),
        ...(filter ? { seccompFd: 4 } : {}),
      },
    );
    this.child = spawn(wrapped.command, wrapped.args, {
      cwd: opts.workspace,
      env: pluginEnv(opts.grants.env),
      // Its own process group, so that stopping it takes bwrap's sandbox child too (stop()).
      detached: true,
      // fd 4: bwrap reads the seccomp program (no Unix sockets) from it.
      stdio: filter ? ['ignore', 'pipe', 'pipe', 'ipc', 'pipe'] : ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const seccomp = this.child.stdio[4] as NodeJS.WritableStream | null | undefined;
    if (filter && seccomp) {
      seccomp.on('error', () => undefined); // a bwrap that failed to start: 'close' says why
      seccomp.end(filter);
    }
    this.child.stdout!.on('data', (c: Buffer) => this.h?.output('stdout', c.toString('utf8')));
    this.child.stderr!.on('data', (c: Buffer) => {
      const text = c.toString('utf8');
      this.stderrTail = (this.stderrTail + text).slice(-4096);
      this.h?.output('stderr', text);
    });
    this.child.on('message', (m: { t?: string; error?: { message?: string } }) => {
      if (m && m.t === 'fatal') {
        this.fail(
          new RuneError('plugin_crashed', `crashed: ${m.error?.message ?? 'unknown error'}`),
        );
      } else this.h?.message(m);
    });
    this.child.on('error', (err) =>
      this.fail(new RuneError('plugin_crashed', `could not start: ${err.message}`, { cause: err })),
    );
    liveSandboxes.add(this.child);
    killSandboxesOnExit();
    this.child.on('exit', () => liveSandboxes.delete(this.child));
    // 'close' comes after the output streams end, so the heap message is in.
    this.child.on('close', (code, signal) =>
      this.fail(
        /heap out of memory|Reached heap limit/.test(this.stderrTail)
          ? memoryError(this.opts.memoryMb)
          : new RuneError(
              'plugin_crashed',
              `its process exited (${signal ? `signal ${signal}` : `code ${code}`})${
                this.stderrTail.trim() ? `: ${this.stderrTail.trim().split('\n').at(-1)}` : ''
              }`,
            ),
      ),
    );
  }

  private fail(err: RuneError): void {
    if (this.failure) return;
    this.failure = err;
    this.h?.failed(err);
    for (const fn of this.exitFns.splice(0)) fn();
  }

  post(m: unknown): void {
    if (!this.child.connected) return; // 'close' reports why
    this.child.send(m as Parameters<ChildProcess['send']>[0], (err) => {
      if (err) this.terminate();
    });
  }
  attach(h: RunnerHandlers): void {
    this.h = h;
    // A spare can die before it is used: its new owner still hears why.
    const f = this.failure;
    if (f) queueMicrotask(() => h.failed(f));
  }
  ref(): void {
    this.child.ref();
    this.child.channel?.ref();
    (this.child.stdout as { ref?: () => void } | null)?.ref?.();
    (this.child.stderr as { ref?: () => void } | null)?.ref?.();
  }
  unref(): void {
    this.child.unref();
    this.child.channel?.unref();
    (this.child.stdout as { unref?: () => void } | null)?.unref?.();
    (this.child.stderr as { unref?: () => void } | null)?.unref?.();
  }
  terminate(): void {
    stopSandbox(this.child);
  }
  onExit(fn: () => void): void {
    if (this.failure) fn();
    else this.exitFns.push(fn);
  }
}

/**
 * Starts a plugin in a child Node process inside bubblewrap: read-only root,
 * the home directory and the folders of other programs' sockets hidden (but
 * for `readable`), a private /tmp, the workspace read-only unless
 * `grants.fsWrite`, no network unless `grants.network`, a scrubbed
 * environment (`pluginEnv`), Node's permission model (`permissionFlags`: no
 * child processes without `grants.exec`), and a V8 heap limit.
 * Callers check `detectBwrap().usable` first.
 */
export function spawnPluginProcess(opts: ProcessRunnerOptions): PluginRunner {
  return new ProcessRunner(opts);
}

export interface InstanceOptions {
  file: string;
  /** A runner from spawnPluginWorker/spawnPluginProcess with the same memoryMb (default: a new thread). */
  worker?: PluginRunner;
  logger: Logger;
  memoryMb: number;
  /** Deadline for loading and for `initialize`, ms. */
  initTimeoutMs: number;
  hooks: InstanceHooks;
}

type Pending = {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  chunk?(ev: unknown): void;
};

type FromWorker =
  | { t: 'loaded'; manifest: unknown }
  | { t: 'load_failed'; error: { message: string; stack?: string } }
  | { t: 'register'; kind: RegistrationKind; key: string; spec: unknown }
  | { t: 'unregister'; kind: RegistrationKind; key: string }
  | { t: 'initialized' }
  | { t: 'init_failed'; error: { message: string; stack?: string } }
  | {
      t: 'result';
      id: number;
      ok: boolean;
      value?: unknown;
      error?: { message: string; code?: string };
    }
  | { t: 'chunk'; id: number; event: unknown }
  | {
      t: 'log';
      level: 'debug' | 'info' | 'warn' | 'error';
      msg: string;
      fields?: Record<string, unknown>;
    }
  | { t: 'exec'; id: number; command: string; args: string[]; opts: Record<string, unknown> }
  | { t: 'shutdown_done'; error?: { message: string } };

const SCHEMAS = { tool: toolSpecSchema, provider: providerSpecSchema, command: commandSpecSchema };

export class PluginInstance {
  readonly worker: PluginRunner;
  /** Resolves with the validated manifest once the file is imported. */
  readonly loaded: Promise<Manifest>;
  private readonly pending = new Map<number, Pending>();
  private readonly regs = new Map<string, { dispose(): void }>();
  private nextId = 1;
  private stopping = false;
  private dead: RuneError | undefined;
  private initWaiter: Pending | undefined;
  private shutdownWaiter: (() => void) | undefined;
  private registerError: RuneError | undefined;

  constructor(private readonly opts: InstanceOptions) {
    this.worker = opts.worker ?? spawnPluginWorker(opts.memoryMb);
    this.worker.ref();
    let loadWaiter: Pending | undefined;
    this.loaded = this.deadline(
      new Promise<Manifest>((resolve, reject) => {
        loadWaiter = { resolve: resolve as (v: unknown) => void, reject };
      }),
      opts.initTimeoutMs,
      'loading',
    );
    this.loaded.catch(() => undefined);
    this.worker.attach({
      message: (m) => this.onMessage(m as FromWorker, loadWaiter),
      // The host's stdout is the RPC channel: plugin console output goes to the log.
      output: (stream, text) =>
        stream === 'stdout'
          ? opts.logger.info('plugin stdout', { text: text.slice(0, 2000) })
          : opts.logger.warn('plugin stderr', { text: text.slice(0, 2000) }),
      failed: (err) => this.die(err, loadWaiter),
    });
    this.post({ t: 'load', url: pathToFileURL(opts.file).href });
  }

  get failed(): RuneError | undefined {
    return this.stopping ? undefined : this.dead;
  }

  private onMessage(m: FromWorker, loadWaiter: Pending | undefined): void {
    switch (m.t) {
      case 'loaded':
        try {
          loadWaiter?.resolve(validate(manifestSchema, m.manifest, this.opts.file));
        } catch (err) {
          loadWaiter?.reject(err);
        }
        return;
      case 'load_failed':
        loadWaiter?.reject(
          new PluginError(this.opts.file, `could not be imported: ${m.error.message}`),
        );
        return;
      case 'register':
        this.onRegister(m.kind, m.key, m.spec);
        return;
      case 'unregister': {
        const k = `${m.kind}:${m.key}`;
        this.regs.get(k)?.dispose();
        this.regs.delete(k);
        return;
      }
      case 'initialized':
        if (this.registerError) this.initWaiter?.reject(this.registerError);
        else this.initWaiter?.resolve(undefined);
        return;
      case 'init_failed':
        this.initWaiter?.reject(
          new PluginError(this.opts.file, `initialize() threw: ${m.error.message}`),
        );
        return;
      case 'result': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(new RuneError(m.error?.code ?? 'plugin_error', m.error?.message ?? 'failed'));
        return;
      }
      case 'chunk':
        this.pending.get(m.id)?.chunk?.(m.event);
        return;
      case 'log': {
        const level = ['debug', 'info', 'warn', 'error'].includes(m.level) ? m.level : 'info';
        this.opts.logger[level](String(m.msg), isRecord(m.fields) ? m.fields : {});
        return;
      }
      case 'exec':
        this.opts.hooks.exec(m.command, m.args, isRecord(m.opts) ? m.opts : {}).then(
          (value) => this.post({ t: 'exec_result', id: m.id, ok: true, value }),
          (err: unknown) =>
            this.post({
              t: 'exec_result',
              id: m.id,
              ok: false,
              error: { message: (err as Error).message, code: (err as RuneError).code },
            }),
        );
        return;
      case 'shutdown_done':
        this.shutdownWaiter?.();
        return;
    }
  }

  private onRegister(kind: RegistrationKind, key: string, spec: unknown): void {
    const k = `${kind}:${key}`;
    try {
      const schema = SCHEMAS[kind];
      if (!schema) throw new PluginError(this.opts.file, `unknown registration "${String(kind)}"`);
      const valid = validate(
        schema as typeof toolSpecSchema,
        spec,
        this.opts.file,
        `${kind}s.${key}`,
      );
      this.regs.get(k)?.dispose();
      this.regs.set(k, this.opts.hooks.register({ kind, spec: valid } as Registration));
    } catch (err) {
      const e =
        err instanceof RuneError
          ? err
          : new PluginError(
              this.opts.file,
              `could not register ${kind} "${key}": ${(err as Error).message}`,
            );
      if (this.initWaiter) this.registerError ??= e;
      else this.opts.logger.error('plugin registration refused', { kind, key, err: e });
    }
  }

  /** Runs the plugin's registrations and `initialize(ctx)`. */
  init(config: Record<string, unknown>, workspace: string): Promise<void> {
    const p = new Promise<void>((resolve, reject) => {
      this.initWaiter = { resolve: () => resolve(), reject };
    });
    this.post({ t: 'init', config, workspace });
    return this.deadline(p, this.opts.initTimeoutMs, 'initialize()').finally(() => {
      this.initWaiter = undefined;
    });
  }

  /**
   * Calls a tool, command or provider method in the worker. On `timeoutMs`
   * overrun the worker is terminated and the plugin reported as failed.
   */
  call(
    kind: RegistrationKind | 'chat' | 'complete' | 'models',
    key: string,
    args: unknown,
    opts: { signal?: AbortSignal; timeoutMs: number; onChunk?: (ev: unknown) => void },
  ): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    if (opts.signal?.aborted) return Promise.reject(new AbortError());
    const id = this.nextId++;
    const what = kind === 'tool' || kind === 'command' ? `${kind} "${key}"` : `${key}.${kind}()`;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => {
        this.post({ t: 'cancel', id });
        this.pending.delete(id);
        reject(new AbortError());
      };
      const timer = setTimeout(() => {
        const err = new TimeoutError(
          `${what} ran longer than ${opts.timeoutMs} ms; the plugin was stopped (raise plugins.limits or fix the plugin, then :RunePlugins reload)`,
          'total',
        );
        this.pending.delete(id);
        reject(err);
        this.die(new RuneError('plugin_timeout', err.message));
      }, opts.timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, {
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        chunk: opts.onChunk,
      });
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.post({ t: 'call', id, kind, key, args });
    });
  }

  /** Asks the plugin to shut down (waiting at most `graceMs`), then ends its worker. */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (!this.dead) {
      await Promise.race([
        new Promise<void>((r) => {
          this.shutdownWaiter = r;
          this.post({ t: 'shutdown' });
        }),
        new Promise<void>((r) => setTimeout(r, graceMs).unref()),
      ]);
    }
    this.disposeRegistrations();
    this.failPending(new RuneError('plugin_stopped', 'the plugin was stopped'));
    this.dead ??= new RuneError('plugin_stopped', 'the plugin was stopped');
    // Its registrations are gone; the thread or process can finish dying in the background.
    this.worker.terminate();
  }

  private die(err: RuneError, loadWaiter?: Pending): void {
    if (this.dead) return;
    this.dead = err;
    loadWaiter?.reject(new PluginError(this.opts.file, err.message));
    this.initWaiter?.reject(new PluginError(this.opts.file, err.message));
    this.failPending(err);
    this.disposeRegistrations();
    this.worker.terminate();
    if (!this.stopping) this.opts.hooks.crashed(err);
  }

  private failPending(err: RuneError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private disposeRegistrations(): void {
    for (const r of this.regs.values()) {
      try {
        r.dispose();
      } catch {
        // keep removing the rest
      }
    }
    this.regs.clear();
  }

  private post(m: unknown): void {
    if (this.dead && !this.stopping) return;
    this.worker.post(m);
  }

  private deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const msg = `${what} took longer than ${ms} ms; the plugin was stopped`;
        reject(new PluginError(this.opts.file, msg));
        this.die(new RuneError('plugin_timeout', msg));
      }, ms);
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
