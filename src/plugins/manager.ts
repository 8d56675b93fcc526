/**
 * The plugin manager: loads each plugin found (discovery.ts) in its own worker,
 * validates it, initializes plugins in dependency order (order.ts), routes their
 * tools, providers (provider-proxy.ts) and commands into Rune, reloads them when
 * their files change (watch.ts), and keeps the host running whatever a plugin does.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import type { Disposable } from '../core/disposable.js';
import { toDisposable } from '../core/disposable.js';
import { NotFoundError, RuneError, toRuneError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { metrics, METRICS } from '../core/metrics.js';
import type { Provider } from '../providers/types.js';
import type { ToolDefinition, ToolOutput, ToolShape } from '../tools/registry.js';
import { PluginError, type Manifest, type ToolSpec } from './manifest.js';
import { discoverPlugins, isFile, type PluginEntry, type PluginSource } from './discovery.js';
import { orderPlugins } from './order.js';
import { isRecord, PluginProviderProxy } from './provider-proxy.js';
import { PluginWatcher, reloadSet } from './watch.js';
import {
  detectBwrap,
  detectBwrapAsync,
  runSandboxed,
  type BwrapStatus,
} from '../sandbox/sandbox.js';
import {
  NO_GRANTS,
  grantsCover,
  pluginEnv,
  PluginInstance,
  spawnPluginProcess,
  spawnPluginWorker,
  type PluginRunner,
  type Registration,
  type SandboxGrants,
} from './worker.js';

/** Where plugin tools go (the ToolRegistry's `register`). */
export interface ToolPort {
  register(def: ToolDefinition): Disposable;
}

/**
 * Where plugin providers go: the host's provider registry (its `register()`).
 * Without one (a manager built for a test), plugin providers are listed but
 * not selectable.
 */
export interface ProviderPort {
  register(provider: Provider): Disposable;
}

export interface PluginLimits {
  /** V8 heap limit per plugin worker, MiB. */
  memoryMb: number;
  /** Default deadline of a tool call, ms. */
  toolTimeoutMs: number;
  /** Deadline of a command or provider call, ms. */
  callTimeoutMs: number;
  /** Deadline of loading and `initialize()`, ms. */
  initTimeoutMs: number;
  /** Deadline of a `ctx.exec` command, ms. */
  execTimeoutMs: number;
  /** Address-space limit of a `ctx.exec` command, MiB (Node and JVMs need 1024 or more). */
  execMemoryMb?: number;
}

export interface PluginManagerOptions {
  sources: PluginSource[];
  workspace: string;
  logger: Logger;
  limits: PluginLimits;
  /** Options per plugin id, handed to `initialize` as `ctx.config`. */
  config?: Record<string, Record<string, unknown>>;
  /** Plugin ids not to load. */
  disabled?: string[];
  /** Reload plugins when their files change (default true). */
  watch?: boolean;
  /**
   * Keep one idle worker started ahead of need, so a reload does not wait
   * for a new thread to boot (default: true when watching).
   */
  warmSpare?: boolean;
  /**
   * Use bubblewrap when it is available (default true): each plugin runs in
   * a sandboxed child process and `ctx.exec` commands in the sandbox too.
   * Without it plugins could only run in worker threads and commands unwrapped,
   * with the user's rights: see `allowUnsandboxed`.
   */
  bwrap?: boolean;
  /**
   * Run plugins in worker threads when the sandbox is unavailable or off
   * (default false: they are not run at all, and each says why). A thread
   * has time and memory limits but no filesystem, network or process
   * isolation: the plugin runs with the user's rights.
   */
  allowUnsandboxed?: boolean;
  tools?: () => ToolPort | undefined;
  providers?: () => ProviderPort | undefined;
}

/** `loading`: its init runs (its tools and providers are not all registered yet). */
export type PluginState = 'loading' | 'active' | 'failed' | 'disabled';

/** One plugin as :RunePlugins shows it. */
export interface PluginInfo {
  id: string;
  version: string;
  file: string;
  origin: PluginSource['origin'];
  state: PluginState;
  error?: string;
  dependsOn: string[];
  capabilities: string[];
  tools: string[];
  providers: string[];
  commands: string[];
  /** Time from spawning the worker to the end of `initialize()`, ms. */
  loadMs: number;
  calls: number;
  errors: number;
}

interface Plugin extends PluginInfo {
  instance?: PluginInstance;
  manifest?: Manifest;
  /** Failed because of another plugin (missing or failed dependency): retried on any reload. */
  dependencyProblem?: boolean;
}

/** How plugin code is isolated from the rest of the system. */
export interface PluginIsolation {
  /**
   * `process`: a child process in bubblewrap; `thread`: a worker thread (limits only,
   * the user's rights); `none`: no sandbox and no opt-in, so plugins are not run.
   */
  kind: 'process' | 'thread' | 'none';
  /** Why there is no sandbox. */
  reason?: string;
}

/** The option that lets plugins run without the sandbox. */
export const UNSANDBOXED_OPTION = 'plugins.sandbox.allow_unsandboxed';

/** Why a plugin was not run: no sandbox, no opt-in. */
export function notRunMessage(reason: string): string {
  return (
    `not run: there is no sandbox (${reason}), and without one a plugin runs with your rights ` +
    `(your files, your network, your processes). Install bubblewrap, or set ` +
    `${UNSANDBOXED_OPTION} = true to run plugins anyway`
  );
}

function grantsOf(m: Manifest): SandboxGrants {
  const caps = m.capabilities ?? [];
  return {
    fsWrite: caps.includes('fs-write'),
    network: caps.includes('network'),
    exec: caps.includes('exec'),
    env: m.env ?? [],
  };
}

/** JSON Schema properties as the zod shape the ToolRegistry validates with. */
function toZodShape(schema: ToolSpec['inputSchema']): ToolShape {
  const shape: ToolShape = {};
  const required = new Set(schema?.required ?? []);
  for (const [k, v] of Object.entries(schema?.properties ?? {})) {
    let t: z.ZodType;
    try {
      t = z.fromJSONSchema(v as Parameters<typeof z.fromJSONSchema>[0]);
    } catch {
      t = z.unknown();
    }
    shape[k] = required.has(k) ? t : t.optional();
  }
  return shape;
}

function toToolOutput(v: unknown): ToolOutput {
  if (typeof v === 'string') return v;
  if (isRecord(v) && Array.isArray(v.content)) return v as unknown as ToolOutput;
  return JSON.stringify(v ?? null);
}

export class PluginManager {
  private readonly plugins = new Map<string, Plugin>();
  private watcher: PluginWatcher | undefined;
  private readonly listeners = new Set<(p: PluginInfo) => void>();
  private queue: Promise<void> = Promise.resolve();
  private disposed = false;
  private spare: PluginRunner | undefined;
  /** The mtime of each plugin file when it was last imported. */
  private readonly loadedMtime = new Map<string, number>();
  /** Known once bwrap has been checked: by `start()` without blocking, or by `isolation()`. */
  private isolationMode: PluginIsolation | undefined;

  constructor(private readonly opts: PluginManagerOptions) {}

  private isolationOf(b: BwrapStatus | undefined): PluginIsolation {
    if (b?.usable) return { kind: 'process' };
    const reason = b ? (b.reason ?? 'bubblewrap is not usable') : 'plugins.sandbox.bwrap is off';
    return { kind: this.opts.allowUnsandboxed ? 'thread' : 'none', reason };
  }

  private get mode(): PluginIsolation {
    return (this.isolationMode ??= this.isolationOf(
      this.opts.bwrap === false ? undefined : detectBwrap(),
    ));
  }

  /** How plugin code is isolated: sandboxed processes, or worker threads (and why). */
  isolation(): PluginIsolation {
    return { ...this.mode };
  }

  /** Loads every plugin found, then starts watching (when enabled). */
  async start(): Promise<void> {
    const entries = discoverPlugins(this.opts.sources);
    if (entries.length > 0 && this.opts.bwrap !== false) {
      // bwrap's check runs beside the host's start instead of blocking it; with no plugin
      // found it waits for the first one (or for isolation() to be asked).
      const b = await detectBwrapAsync();
      this.isolationMode ??= this.isolationOf(b);
    }
    await this.serial(() => this.load(entries));
    if (this.opts.watch !== false) {
      this.watcher = new PluginWatcher({
        sources: this.opts.sources,
        logger: this.opts.logger,
        loaded: () => [...this.plugins.values()].map((p) => p.file),
        loadedMtime: (entry) => this.loadedMtime.get(entry),
        reload: (files) => {
          if (!this.disposed)
            void this.serial(() => this.reloadFiles(files)).catch(() => undefined);
        },
      });
      await this.watcher.start();
    }
    // With no plugin loaded, the first one to come starts the spare (takeWorker).
    if (this.plugins.size > 0) this.refillSpare();
  }

  /** An idle runner: the warm spare when there is one; a new spare is started for the next. */
  private takeWorker(): PluginRunner {
    const w = this.spare;
    this.spare = undefined;
    setImmediate(() => this.refillSpare());
    return w ?? this.spawnRunner(NO_GRANTS);
  }

  /**
   * A new thread, or a sandboxed process with `grants`. Spares and first
   * loads get none: what a plugin may do is only known once its file is
   * imported, and a plugin that asks for more is loaded again in a process
   * that allows it.
   */
  private spawnRunner(grants: SandboxGrants): PluginRunner {
    if (this.mode.kind === 'thread') return spawnPluginWorker(this.opts.limits.memoryMb);
    return spawnPluginProcess({
      memoryMb: this.opts.limits.memoryMb,
      workspace: this.opts.workspace,
      grants,
      readable: this.sourceDirs(),
    });
  }

  /** The folders plugins are loaded from: readable in the sandbox although home is hidden. */
  private sourceDirs(): string[] {
    return this.opts.sources.map((s) => (isFile(s.path) ? path.dirname(s.path) : s.path));
  }

  private refillSpare(): void {
    if (this.disposed || this.spare || !(this.opts.warmSpare ?? this.opts.watch !== false)) return;
    if (this.mode.kind === 'none') return;
    const w = this.spawnRunner(NO_GRANTS);
    w.unref(); // an idle spare must not keep a process alive
    w.onExit(() => {
      if (this.spare === w) this.spare = undefined;
    });
    this.spare = w;
  }

  /** Calls `fn` whenever a plugin becomes active or fails (for notifications). */
  onDidChange(fn: (p: PluginInfo) => void): Disposable {
    this.listeners.add(fn);
    return toDisposable(() => this.listeners.delete(fn));
  }

  list(): PluginInfo[] {
    return [...this.plugins.values()]
      .map((p) => this.info(p))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Reloads one plugin (and what depends on it), or every plugin when `id` is omitted. */
  reload(id?: string): Promise<void> {
    return this.serial(async () => {
      if (id === undefined) {
        await this.stopAll();
        await this.load(discoverPlugins(this.opts.sources));
        return;
      }
      const p = this.plugins.get(id);
      if (!p) throw new NotFoundError(`No plugin "${id}"; :RunePlugins lists the installed ones.`);
      await this.reloadFiles(new Set([p.file]));
    });
  }

  /** Runs `:RunePlugins <id> <command> [args]`; returns the lines to show. */
  async runCommand(id: string, name: string, args: string[]): Promise<string[]> {
    const p = this.plugins.get(id);
    if (!p) throw new NotFoundError(`No plugin "${id}"; :RunePlugins lists the installed ones.`);
    if (p.state !== 'active' || !p.instance) {
      throw new RuneError(
        'plugin',
        `Plugin "${id}" is ${p.state}${p.error ? `: ${p.error}` : ''}.`,
      );
    }
    if (!p.commands.includes(name)) {
      throw new NotFoundError(
        `Plugin "${id}" has no command "${name}" (it has: ${p.commands.join(', ') || 'none'}).`,
      );
    }
    const v = await this.track(p, () =>
      p.instance!.call('command', name, args, { timeoutMs: this.opts.limits.callTimeoutMs }),
    );
    if (v === null || v === undefined) return [];
    if (Array.isArray(v)) return v.map(String);
    return String(v).split('\n');
  }

  /** Shuts every plugin down and stops watching. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.spare?.terminate();
    this.spare = undefined;
    await this.watcher?.close();
    await this.queue.catch(() => undefined);
    await this.stopAll();
  }

  // --- loading ---------------------------------------------------------------

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async load(entries: PluginEntry[]): Promise<void> {
    const started = new Map<string, number>();
    type Outcome =
      | { e: PluginEntry; err: RuneError }
      | { e: PluginEntry; instance: PluginInstance; manifest: Manifest };
    const loaded = await Promise.all(
      entries.map(async (e): Promise<Outcome> => {
        started.set(e.file, performance.now());
        if (!isFile(e.file)) {
          return { e, err: new PluginError(e.file, 'not found; fix plugins.paths') };
        }
        if (this.mode.kind === 'none') {
          // Importing the file would run it: nothing of it runs without a sandbox or the opt-in.
          return { e, err: new PluginError(e.file, notRunMessage(this.mode.reason ?? '')) };
        }
        this.loadedMtime.set(e.file, fs.statSync(e.file).mtimeMs);
        let instance = this.instance(e.file, this.takeWorker());
        try {
          let manifest = await instance.loaded;
          const grants = grantsOf(manifest);
          const have = instance.worker.grants;
          if (have && !grantsCover(have, grants)) {
            void instance.stop(0);
            instance = this.instance(e.file, this.spawnRunner(grants));
            manifest = await instance.loaded;
          }
          return { e, instance, manifest };
        } catch (err) {
          void instance.stop(0);
          return { e, err: toRuneError(err) };
        }
      }),
    );

    const candidates: { e: PluginEntry; instance: PluginInstance; manifest: Manifest }[] = [];
    for (const r of loaded) {
      if ('err' in r) {
        this.record(this.failedPlugin(r.e, r.err.message, path.basename(r.e.file)));
        continue;
      }
      const { e, instance, manifest } = r;
      const other = this.plugins.get(manifest.id);
      if (
        (other && other.file !== e.file) ||
        candidates.some((c) => c.manifest.id === manifest.id)
      ) {
        const first = other?.file ?? candidates.find((c) => c.manifest.id === manifest.id)!.e.file;
        void instance.stop(0);
        this.record(
          this.failedPlugin(
            e,
            `plugin ${e.file}: id "${manifest.id}" is already used by ${first}; give one of them another id`,
            `${manifest.id} (${path.basename(e.file)})`,
          ),
        );
        continue;
      }
      if (this.opts.disabled?.includes(manifest.id)) {
        void instance.stop(0);
        this.plugins.set(manifest.id, {
          ...this.blank(e, manifest),
          state: 'disabled',
        });
        continue;
      }
      candidates.push({ e, instance, manifest });
    }

    const active = new Set(
      [...this.plugins.values()].filter((p) => p.state === 'active').map((p) => p.id),
    );
    const { order, failed } = orderPlugins(
      candidates.map((c) => ({ ...c, id: c.manifest.id, dependsOn: c.manifest.dependsOn ?? [] })),
      active,
    );
    for (const f of failed) {
      void f.node.instance.stop(0);
      this.record({
        ...this.blank(f.node.e, f.node.manifest),
        state: 'failed',
        error: `plugin ${f.node.e.file}: ${f.reason}`,
        dependencyProblem: true,
      });
    }
    for (const c of order) {
      // Listed as loading until its init has registered everything: a plugin shown as
      // active (after a reload, say) must already answer with its providers and tools.
      const p: Plugin = { ...this.blank(c.e, c.manifest), state: 'loading', instance: c.instance };
      this.plugins.set(p.id, p);
      const failedDep = (c.manifest.dependsOn ?? []).find(
        (d) => this.plugins.get(d)?.state !== 'active',
      );
      if (failedDep !== undefined) {
        void c.instance.stop(0);
        this.record({
          ...p,
          instance: undefined,
          state: 'failed',
          error: `plugin ${c.e.file}: depends on "${failedDep}", which failed`,
          dependencyProblem: true,
        });
        continue;
      }
      try {
        await c.instance.init(this.opts.config?.[p.id] ?? {}, this.opts.workspace);
        p.loadMs = performance.now() - (started.get(c.e.file) ?? performance.now());
        if (c.instance.failed) throw c.instance.failed;
        p.state = 'active';
        this.opts.logger.info('plugin loaded', {
          plugin: p.id,
          version: p.version,
          ms: Math.round(p.loadMs * 10) / 10,
        });
        this.record(p);
      } catch (err) {
        void c.instance.stop(0);
        this.record({
          ...p,
          instance: undefined,
          state: 'failed',
          error: toRuneError(err).message,
        });
      }
    }
  }

  private instance(file: string, worker: PluginRunner): PluginInstance {
    const instance: PluginInstance = new PluginInstance({
      file,
      worker,
      logger: this.opts.logger.child({ plugin: path.basename(file) }),
      memoryMb: this.opts.limits.memoryMb,
      initTimeoutMs: this.opts.limits.initTimeoutMs,
      hooks: {
        register: (r) => this.register(instance, r),
        exec: (c, a, o) => this.exec(instance, c, a, o),
        crashed: (err) => this.crashed(instance, err),
      },
    });
    return instance;
  }

  private blank(e: PluginEntry, m: Manifest): Plugin {
    return {
      id: m.id,
      version: m.version,
      file: e.file,
      origin: e.origin,
      state: 'active',
      dependsOn: m.dependsOn ?? [],
      capabilities: m.capabilities ?? [],
      tools: [],
      providers: [],
      commands: [],
      loadMs: 0,
      calls: 0,
      errors: 0,
      manifest: m,
    };
  }

  private failedPlugin(e: PluginEntry, error: string, id: string): Plugin {
    return {
      id,
      version: '?',
      file: e.file,
      origin: e.origin,
      state: 'failed',
      error,
      dependsOn: [],
      capabilities: [],
      tools: [],
      providers: [],
      commands: [],
      loadMs: 0,
      calls: 0,
      errors: 0,
    };
  }

  private record(p: Plugin): void {
    // A failed load of a file replaces whatever that file held before.
    for (const [id, old] of this.plugins)
      if (old.file === p.file && id !== p.id) this.plugins.delete(id);
    this.plugins.set(p.id, p);
    if (p.state === 'failed') {
      metrics.counter(METRICS.errors).inc({ type: 'plugin_failed', area: 'plugin' });
      this.opts.logger.error('plugin failed', { plugin: p.id, file: p.file, error: p.error });
    }
    const info = this.info(p);
    for (const fn of [...this.listeners]) {
      try {
        fn(info);
      } catch {
        // a listener's failure must not stop loading
      }
    }
  }

  private info(p: Plugin): PluginInfo {
    const { instance: _i, manifest: _m, dependencyProblem: _d, ...info } = p;
    return { ...info, tools: [...p.tools], providers: [...p.providers], commands: [...p.commands] };
  }

  private async stopAll(): Promise<void> {
    const all = [...this.plugins.values()];
    // Dependents first, so nothing is left running on a stopped dependency.
    const order = orderPlugins(all.map((p) => ({ id: p.id, dependsOn: p.dependsOn, p }))).order;
    const rest = all.filter((p) => !order.some((o) => o.p === p));
    for (const p of [...order.map((o) => o.p)].reverse().concat(rest)) await p.instance?.stop();
    this.plugins.clear();
  }

  // --- hot reload --------------------------------------------------------------

  /** Stops the plugins of `files` and their dependents, then loads them again. */
  private async reloadFiles(files: Set<string>): Promise<void> {
    const affected = reloadSet(this.plugins.values(), files);
    for (const p of affected) {
      await p.instance?.stop();
      this.plugins.delete(p.id);
    }
    const existing = new Set(discoverPlugins(this.opts.sources).map((e) => e.file));
    const entries: PluginEntry[] = [];
    const origin = (f: string): PluginEntry['origin'] =>
      [...affected].find((p) => p.file === f)?.origin ??
      discoverPlugins(this.opts.sources).find((e) => e.file === f)?.origin ??
      'config';
    for (const f of new Set([...files, ...[...affected].map((p) => p.file)])) {
      if (existing.has(f)) entries.push({ file: f, origin: origin(f) });
    }
    this.opts.logger.info('reloading plugins', { files: entries.map((e) => e.file) });
    await this.load(entries);
  }

  // --- registrations and calls ------------------------------------------------

  private pluginOf(instance: PluginInstance): Plugin | undefined {
    for (const p of this.plugins.values()) if (p.instance === instance) return p;
    return undefined;
  }

  private register(instance: PluginInstance, r: Registration): Disposable {
    const p = this.pluginOf(instance);
    if (!p) throw new RuneError('plugin', 'registration from a plugin that is not loaded');
    switch (r.kind) {
      case 'tool': {
        const port = this.opts.tools?.();
        const d = port ? port.register(this.toolDef(p, instance, r.spec)) : undefined;
        p.tools.push(r.spec.name);
        return toDisposable(() => {
          d?.dispose();
          p.tools = p.tools.filter((t) => t !== r.spec.name);
        });
      }
      case 'provider': {
        const port = this.opts.providers?.();
        const d = port?.register(new PluginProviderProxy(r.spec, instance, p, this.opts.limits));
        if (!port) {
          this.opts.logger.warn(
            'plugin provider not selectable: no provider registry was given to the plugin manager',
            {
              plugin: p.id,
              provider: r.spec.id,
            },
          );
        }
        p.providers.push(r.spec.id);
        return toDisposable(() => {
          d?.dispose();
          p.providers = p.providers.filter((x) => x !== r.spec.id);
        });
      }
      case 'command':
        p.commands.push(r.spec.name);
        return toDisposable(() => {
          p.commands = p.commands.filter((x) => x !== r.spec.name);
        });
    }
  }

  private toolDef(p: Plugin, instance: PluginInstance, spec: ToolSpec): ToolDefinition {
    const timeoutMs = spec.timeoutMs ?? this.opts.limits.toolTimeoutMs;
    return {
      name: spec.name,
      ...(spec.annotations?.title ? { title: spec.annotations.title } : {}),
      description: spec.description,
      inputSchema: toZodShape(spec.inputSchema),
      annotations: {
        ...(spec.annotations?.readOnlyHint !== undefined
          ? { readOnlyHint: spec.annotations.readOnlyHint }
          : {}),
        ...(spec.annotations?.destructiveHint !== undefined
          ? { destructiveHint: spec.annotations.destructiveHint }
          : {}),
      },
      handler: async (args, ctx) =>
        toToolOutput(
          await this.track(p, () =>
            instance.call('tool', spec.name, args, { signal: ctx.signal, timeoutMs }),
          ),
        ),
    };
  }

  /** Calls a tool through the registry as MCP clients and chat do (tests and benchmarks). */
  callTool(name: string, args: unknown, signal?: AbortSignal): Promise<unknown> {
    for (const p of this.plugins.values()) {
      if (p.state === 'active' && p.instance && p.tools.includes(name)) {
        const spec = p.manifest?.tools?.find((t) => t.name === name);
        const timeoutMs = spec?.timeoutMs ?? this.opts.limits.toolTimeoutMs;
        return this.track(p, () => p.instance!.call('tool', name, args, { signal, timeoutMs }));
      }
    }
    return Promise.reject(new NotFoundError(`No plugin tool named "${name}".`));
  }

  private async track<T>(p: Plugin, fn: () => Promise<T>): Promise<T> {
    p.calls++;
    try {
      return await fn();
    } catch (err) {
      p.errors++;
      throw err;
    }
  }

  private crashed(instance: PluginInstance, err: RuneError): void {
    const p = this.pluginOf(instance);
    if (!p) return;
    metrics.counter(METRICS.errors).inc({ type: err.code, area: 'plugin' });
    this.record({
      ...p,
      instance: undefined,
      state: 'failed',
      error: `plugin ${p.file}: ${err.message}`,
    });
  }

  private async exec(
    instance: PluginInstance,
    command: string,
    args: string[],
    opts: Record<string, unknown>,
  ): Promise<unknown> {
    const p = this.pluginOf(instance);
    // Checked here, not only in the worker: plugin code can post messages itself.
    if (!p?.capabilities.includes('exec')) {
      throw new RuneError(
        'denied',
        `Plugin "${p?.id ?? '?'}" may not run commands: add "exec" to its capabilities.`,
      );
    }
    const timeoutMs = Math.min(
      typeof opts.timeoutMs === 'number' ? opts.timeoutMs : this.opts.limits.execTimeoutMs,
      this.opts.limits.execTimeoutMs,
    );
    const r = await runSandboxed(command, args, {
      workspace: this.opts.workspace,
      // As in the plugin's own process: home hidden but for the plugin folders, and only
      // the environment its manifest names.
      hide: [os.homedir()],
      readable: this.sourceDirs(),
      env: pluginEnv(p.manifest?.env ?? []),
      network: p.capabilities.includes('network'),
      timeoutMs,
      memoryMb: this.opts.limits.execMemoryMb ?? 2048,
      input: typeof opts.input === 'string' ? opts.input : undefined,
      ...(this.opts.bwrap === false ? { bwrap: null } : {}),
    });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, sandboxed: r.sandboxed };
  }
}
