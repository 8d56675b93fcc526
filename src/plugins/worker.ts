/**
 * One plugin running in its own worker thread. The main thread keeps the
 * plugin's registrations and proxies calls to it as messages; the worker has
 * a V8 heap limit (a plugin that runs out of memory dies alone) and every call
 * a deadline (on overrun the worker is terminated: a busy loop cannot be
 * interrupted any other way). Reloading means a new worker, so no module
 * cache survives from one version of a plugin to the next.
 */
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { AbortError, RuneError, TimeoutError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { WORKER_SOURCE } from './worker-source.js';
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

/**
 * Starts a plugin worker with a V8 heap limit. It idles until told which
 * plugin to load, so one can be started ahead of need (a warm spare).
 */
export function spawnPluginWorker(memoryMb: number): Worker {
  const w = new Worker(WORKER_SOURCE, {
    eval: true,
    resourceLimits: {
      maxOldGenerationSizeMb: memoryMb,
      maxYoungGenerationSizeMb: Math.max(4, Math.floor(memoryMb / 8)),
    },
    stdout: true,
    stderr: true,
    name: 'rune-plugin',
  });
  return w;
}

export interface InstanceOptions {
  file: string;
  /** A worker from spawnPluginWorker with the same memoryMb (default: a new one). */
  worker?: Worker;
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
  readonly worker: Worker;
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
    // The host's stdout is the RPC channel: plugin console output goes to the log.
    this.worker.stdout.on('data', (c: Buffer) =>
      opts.logger.info('plugin stdout', { text: c.toString('utf8').slice(0, 2000) }),
    );
    this.worker.stderr.on('data', (c: Buffer) =>
      opts.logger.warn('plugin stderr', { text: c.toString('utf8').slice(0, 2000) }),
    );
    let loadWaiter: Pending | undefined;
    this.loaded = this.deadline(
      new Promise<Manifest>((resolve, reject) => {
        loadWaiter = { resolve: resolve as (v: unknown) => void, reject };
      }),
      opts.initTimeoutMs,
      'loading',
    );
    this.loaded.catch(() => undefined);
    this.worker.on('message', (m: FromWorker) => this.onMessage(m, loadWaiter));
    this.worker.on('error', (err: Error & { code?: string }) => {
      const e =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new RuneError(
              'plugin_memory',
              `ran out of memory (limit ${opts.memoryMb} MiB) and was stopped; raise plugins.limits.memory_mb or fix the plugin`,
            )
          : new RuneError('plugin_crashed', `crashed: ${err.message}`, { cause: err });
      this.die(e, loadWaiter);
    });
    this.worker.on('exit', (code) => {
      if (!this.dead) {
        this.die(new RuneError('plugin_crashed', `its worker exited (code ${code})`), loadWaiter);
      }
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
    // Its registrations are gone; the thread can finish dying in the background.
    void this.worker.terminate();
  }

  private die(err: RuneError, loadWaiter?: Pending): void {
    if (this.dead) return;
    this.dead = err;
    loadWaiter?.reject(new PluginError(this.opts.file, err.message));
    this.initWaiter?.reject(new PluginError(this.opts.file, err.message));
    this.failPending(err);
    this.disposeRegistrations();
    void this.worker.terminate();
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
    try {
      this.worker.postMessage(m);
    } catch {
      // the worker is gone; `exit` reports it
    }
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
