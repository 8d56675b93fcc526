import type { NeovimClient } from 'neovim';
import type { InState } from '../core/lifecycle.js';
import type { Disposable } from '../core/disposable.js';
import { DisposableStore, toDisposable } from '../core/disposable.js';
import type { Logger } from '../core/log.js';
import { BadRequestError, RuneError, StateError, toRuneError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { metrics } from '../core/metrics.js';
import { HANDSHAKE_TRUST, parseHandshake, type EditorFacts } from './facts.js';
import { orderModules, type AnyModule, type ServiceOf } from './module.js';

export type { HostModule } from './module.js';

/**
 * The modules the host starts once ready: a list, or a function that loads them. The host
 * entry passes a function, so that the code of the features (and the libraries they use)
 * is loaded after the host has told Neovim it is ready, not on the way there.
 */
export type ModuleSource = readonly AnyModule[] | (() => Promise<readonly AnyModule[]>);

/** A handler for a request or notification sent by the Lua layer. */
export type Handler = (args: unknown[]) => unknown;

/** One line of `:checkhealth rune`, contributed by a module. */
export interface HealthItem {
  level: 'ok' | 'warn' | 'error' | 'info';
  message: string;
  advice?: string[];
}

/** What `:RuneStatus` shows. */
export interface HostStatus {
  state: 'starting' | 'ready' | 'shutting_down' | 'stopped';
  pid: number;
  uptime_ms: number;
  version: string;
  node: string;
  log_file: string | null;
  channel: number | null;
  modules: string[];
  /**
   * Requests the host sent Neovim after learning its channel until it was ready:
   * the handshake's one call for the config and the editor's facts, and whatever the
   * modules asked while starting (nothing, when all went well).
   */
  startup_requests: number | null;
}

export interface HostOptions {
  nvim: NeovimClient;
  logger: Logger;
  logFile: string | null;
  /** Called once the host has stopped, e.g. to exit the process. */
  onStopped?: (code: number) => void;
  /**
   * Answer requests and notifications arriving on the channel (default true).
   * The rplugin entry turns this off: there the node-client's plugin host owns
   * the channel and forwards Rune's calls through `RuneRequest`/`RuneNotify`.
   */
  listen?: boolean;
}

/**
 * Routes requests and notifications from Neovim to handlers. One dispatcher
 * lives for the whole process; handlers are added by modules as they start, just
 * after the host is ready: a request or notification for a method no module has
 * registered yet waits until the module registering it has started (completion
 * answers while the MCP server and the hub are still starting), and, for a method no
 * module registers, until they all have (then it gets "unknown request"). A request
 * that arrives before the handshake gets a clear error.
 */
class Dispatcher {
  private readonly requests = new Map<string, Handler>();
  private readonly notifications = new Map<string, Handler>();
  /** What came for a method not registered yet while the modules start, in the order it came. */
  private waiting: { method: string; request: boolean; go: () => void }[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly stateOf: () => HostStatus['state'],
    /** Whether the modules are starting (after ready, until they all have). */
    private readonly starting: () => boolean,
    /** How long a request may wait for the modules (host.start_timeout_ms). */
    private readonly waitMs: () => number,
  ) {}

  onRequest(method: string, fn: Handler): Disposable {
    this.requests.set(method, fn);
    return toDisposable(() => {
      if (this.requests.get(method) === fn) this.requests.delete(method);
    });
  }

  onNotification(method: string, fn: Handler): Disposable {
    this.notifications.set(method, fn);
    return toDisposable(() => {
      if (this.notifications.get(method) === fn) this.notifications.delete(method);
    });
  }

  /**
   * A module has started: what waited for a method it registered goes to its handler now,
   * in the order it came. Once `all` have started (or the start ended), everything waiting goes.
   */
  started(all: boolean): void {
    const go = all
      ? this.waiting
      : this.waiting.filter((w) => (w.request ? this.requests : this.notifications).has(w.method));
    if (!go.length) return;
    this.waiting = all ? [] : this.waiting.filter((w) => !go.includes(w));
    for (const w of go) w.go();
  }

  async request(method: string, args: unknown[]): Promise<unknown> {
    let fn = this.requests.get(method);
    if (!fn && this.starting()) {
      // Lua waits for the answer with Neovim blocked: a module whose start hangs must not
      // freeze the editor, so the wait ends as Lua's own wait for the host would.
      const ms = this.waitMs();
      let timer: NodeJS.Timeout | undefined;
      const entry = { method, request: true, go: () => undefined as void };
      const came = await new Promise<boolean>((resolve) => {
        entry.go = () => resolve(true);
        this.waiting.push(entry);
        timer = setTimeout(() => resolve(false), ms);
      });
      clearTimeout(timer);
      if (!came) {
        this.waiting = this.waiting.filter((w) => w !== entry);
        throw new StateError(
          `Rune's features are still starting after ${ms} ms (host.start_timeout_ms), so "${method}" cannot be answered yet; see :RuneLog for the one that hangs.`,
        );
      }
      fn = this.requests.get(method);
    }
    if (!fn) {
      const state = this.stateOf();
      if (state !== 'ready') {
        throw new StateError(`Rune's host is ${state.replace('_', ' ')}; try again in a moment.`);
      }
      throw new RuneError('unknown_method', `Unknown Rune request "${method}".`);
    }
    return await fn(args);
  }

  notify(method: string, args: unknown[]): void {
    if (!this.notifications.has(method) && this.starting()) {
      this.waiting.push({ method, request: false, go: () => this.deliver(method, args) });
      return;
    }
    this.deliver(method, args);
  }

  private deliver(method: string, args: unknown[]): void {
    const fn = this.notifications.get(method);
    if (!fn) {
      this.logger.warn('notification without handler', { method, state: this.stateOf() });
      return;
    }
    Promise.resolve()
      .then(() => fn(args))
      .catch((err: unknown) => this.logger.error('notification failed', { method, err }));
  }
}

/** Shared by every state: the process-wide facts. */
class HostCore {
  readonly startedAt = Date.now();
  state: HostStatus['state'] = 'starting';
  readonly dispatcher: Dispatcher;
  readonly modules = new DisposableStore();
  readonly moduleNames: string[] = [];
  channel: number | null = null;
  readonly health = new Map<string, () => Promise<HealthItem[]> | HealthItem[]>();
  config: Record<string, unknown> = {};
  facts: EditorFacts | undefined;
  /** The services of the modules that are on, by module (undefined for those that provide none). */
  readonly services = new Map<AnyModule, unknown>();
  /** Requests sent to Neovim so far (all of them: the counter costs an addition). */
  requests = 0;
  startupRequests: number | null = null;
  shutdown: Promise<void> | undefined;
  /** Aborted once Neovim is gone: nothing can finish against it, so the grace period ends. */
  readonly editorGone = new AbortController();
  /** The modules starting (after ready); undefined before the handshake and once they have. */
  starting: Promise<void> | undefined;

  constructor(readonly opts: HostOptions) {
    this.dispatcher = new Dispatcher(
      opts.logger,
      () => this.state,
      () => this.starting !== undefined,
      () => {
        const host = this.config?.host as { start_timeout_ms?: unknown } | undefined;
        return typeof host?.start_timeout_ms === 'number' ? host.start_timeout_ms : 10_000;
      },
    );
    type Send = (...a: unknown[]) => unknown;
    const transport = (opts.nvim as unknown as { transport?: { request?: Send } }).transport;
    if (transport && typeof transport.request === 'function') {
      const request = transport.request.bind(transport);
      transport.request = (...a: unknown[]) => {
        this.requests++;
        return request(...a);
      };
    }
  }

  status(): HostStatus {
    return {
      state: this.state,
      pid: process.pid,
      uptime_ms: Date.now() - this.startedAt,
      version: VERSION,
      node: process.version,
      log_file: this.opts.logFile,
      channel: this.channel,
      modules: [...this.moduleNames],
      startup_requests: this.startupRequests,
    };
  }
}

/**
 * A request whose arguments failed its handler's schema, as the caller's error: the
 * method, the argument and what was wrong (zod's error is not loaded to check its class).
 */
function badArguments(method: string, err: unknown): BadRequestError | undefined {
  if (!(err instanceof Error) || err.name !== 'ZodError') return undefined;
  const issue = (err as Error & { issues?: { path: PropertyKey[]; message: string }[] })
    .issues?.[0];
  if (!issue) return undefined;
  const where = issue.path.length ? ` at ${issue.path.map(String).join('.')}` : '';
  return new BadRequestError(`${method}: bad arguments${where}: ${issue.message}`, { cause: err });
}

/**
 * The host while it attaches to Neovim. Only `ready()` (or `fail()`) moves it on.
 */
export class StartingHost implements InState<'starting'> {
  readonly state = 'starting' as const;
  private readonly core: HostCore;

  constructor(opts: HostOptions) {
    this.core = new HostCore(opts);
    const { nvim, logger } = opts;
    if (opts.listen === false) return;
    nvim.on(
      'request',
      (method: string, args: unknown[], resp: { send(v: unknown, isError?: boolean): void }) => {
        this.core.dispatcher.request(method, args).then(
          (value) => resp.send(value ?? null),
          (err: unknown) => {
            const bad = badArguments(method, err);
            const e = toRuneError(bad ?? err);
            if (e.code === 'internal') logger.error('request failed', { method, err });
            // The caller's mistake, with the stack of the handler that refused it.
            else if (bad) logger.warn('request with bad arguments', { method, err });
            else logger.info('request refused', { method, code: e.code, message: e.message });
            resp.send(`${e.message}`, true);
          },
        );
      },
    );
    nvim.on('notification', (method: string, args: unknown[]) => {
      this.core.dispatcher.notify(method, args);
    });
  }

  get logger(): Logger {
    return this.core.opts.logger;
  }

  /**
   * Completes the handshake: learns the channel id, asks the Lua layer for the
   * config and the editor's facts in one call, and tells the Lua layer the host is
   * ready (`require('rune.host')._ready`); `onReady` then gets the ready host. Then it
   * loads and activates the modules (each after what it needs; a module list with a
   * cycle or a missing need throws before any starts). Requests for the modules'
   * methods that arrive meanwhile wait for them (see Dispatcher). Resolves once
   * every module has started or failed.
   */
  async ready(
    modules: ModuleSource,
    opts: { onReady?: (host: ReadyHost) => void } = {},
  ): Promise<ReadyHost> {
    const { nvim, logger } = this.core.opts;
    // A list given outright is checked before anything starts.
    const given = typeof modules === 'function' ? undefined : orderModules(modules);
    this.core.channel = await nvim.channelId;
    const before = this.core.requests;
    const hs = parseHandshake(
      await nvim.lua('return require("rune")._handshake(...)', [{ trust: [...HANDSHAKE_TRUST] }]),
    );
    this.core.config = hs.config;
    const facts = hs.facts;
    this.core.facts = facts;
    const host = new ReadyHost(this.core);
    this.core.state = 'ready';
    let started!: () => void;
    this.core.starting = new Promise<void>((resolve) => (started = resolve));
    // What these answer is complete only once the modules have started.
    host.onRequest('rune.status', async () => {
      await this.core.starting;
      return host.status();
    });
    host.onRequest('rune.ping', () => 'pong');
    host.onRequest('rune.health', async () => {
      await this.core.starting;
      return host.health();
    });
    host.onNotification('rune.cwd', ([cwd]) => {
      if (typeof cwd !== 'string' || !cwd || cwd === facts.cwd) return;
      facts.cwd = cwd;
      logger.info('working directory changed', { cwd });
    });
    // Not awaited before the modules start: Lua code run by the ready autocmd may already
    // ask something of them (its request waits for them, which waiting here would deadlock).
    const told = nvim.lua('require("rune.host")._ready(...)', [host.status()]);
    told.catch(() => {});
    try {
      logger.info('host ready', {
        pid: process.pid,
        channel: this.core.channel,
        version: VERSION,
        ...startCost(),
      });
      opts.onReady?.(host);
      const order = given ?? orderModules(await (modules as () => Promise<AnyModule[]>)());
      await this.activate(host, order);
      await told;
      // The handshake and whatever the modules asked while starting; not the `_ready` call.
      this.core.startupRequests = this.core.requests - before - 1;
      logger.info('modules started', { modules: this.core.moduleNames, ...startCost() });
    } finally {
      this.core.starting = undefined;
      this.core.dispatcher.started(true);
      started();
    }
    return host;
  }

  /** Activates `order` one by one; a module that fails is off (and so is what needs it). */
  private async activate(host: ReadyHost, order: readonly AnyModule[]): Promise<void> {
    const { nvim, logger } = this.core.opts;
    const { services, facts } = this.core;
    for (const m of order) {
      // A shutdown asked for while starting: start nothing more.
      if (this.core.state !== 'ready') return;
      const needs = m.needs as readonly AnyModule[];
      const off = needs.find((n) => !services.has(n));
      const fail = (err: unknown) => {
        logger.error('module failed to activate', { module: m.name, err });
        const message = `${m.name} is off: ${toRuneError(err).message}`;
        // A notification: telling the user costs the start no round trip.
        nvim.notify('nvim_exec_lua', [
          'require("rune.util").notify(..., vim.log.levels.ERROR)',
          [message],
        ]);
      };
      if (off) {
        fail(new StateError(`it needs ${off.name}, which is off`));
        continue;
      }
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      try {
        const activation = await m.activate({
          host,
          nvim,
          logger: logger.child({ module: m.name }),
          metrics,
          config: m.config(this.core.config),
          facts: facts!,
          needs: Object.fromEntries(needs.map((n) => [n.name, services.get(n)])),
        });
        this.core.modules.add(activation);
        services.set(m, activation.service);
        this.core.moduleNames.push(m.name);
        this.core.dispatcher.started(false);
        const cpu = process.cpuUsage(cpu0);
        logger.debug('module started', {
          module: m.name,
          ms: Math.round(performance.now() - t0),
          cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
        });
      } catch (err) {
        fail(err);
      }
    }
  }

  /** Gives up before becoming ready. */
  fail(err: unknown): StoppedHost {
    this.core.opts.logger.error('host failed to start', { err });
    this.core.state = 'stopped';
    this.core.opts.onStopped?.(1);
    return new StoppedHost(this.core);
  }
}

/** The host attached and serving. Everything that needs Neovim takes this type. */
export class ReadyHost implements InState<'ready'> {
  readonly state = 'ready' as const;

  constructor(private readonly core: HostCore) {}

  get nvim(): NeovimClient {
    return this.core.opts.nvim;
  }
  get logger(): Logger {
    return this.core.opts.logger;
  }

  /** Aborted once Neovim has exited or was killed: a module's disposal then hurries. */
  get editorGone(): AbortSignal {
    return this.core.editorGone.signal;
  }

  /** The user's `setup()` options as the Lua layer validated them; each module parses its part. */
  get config(): Readonly<Record<string, unknown>> {
    return this.core.config;
  }

  /** What the editor told the host in the handshake (the cwd follows `:cd`). */
  get facts(): EditorFacts {
    return this.core.facts!;
  }

  /** The service `module` provides, while it is on. */
  service<M extends AnyModule>(module: M): ServiceOf<M> | undefined {
    return this.core.services.get(module) as ServiceOf<M> | undefined;
  }

  status(): HostStatus {
    return this.core.status();
  }

  /** Adds a section to `:checkhealth rune`. */
  addHealth(section: string, check: () => Promise<HealthItem[]> | HealthItem[]): Disposable {
    this.core.health.set(section, check);
    return toDisposable(() => this.core.health.delete(section));
  }

  /** Runs every module's health checks; a check that throws reports an error, never fails the rest. */
  async health(): Promise<{ name: string; items: HealthItem[] }[]> {
    const out: { name: string; items: HealthItem[] }[] = [];
    for (const [name, check] of this.core.health) {
      try {
        out.push({ name, items: await check() });
      } catch (err) {
        out.push({ name, items: [{ level: 'error', message: toRuneError(err).message }] });
      }
    }
    return out;
  }

  /** Runs the request handler for `method` as if Neovim had sent it. */
  dispatch(method: string, args: unknown[]): Promise<unknown> {
    return this.core.dispatcher.request(method, args);
  }

  /** Runs the notification handler for `method` as if Neovim had sent it. */
  dispatchNotification(method: string, args: unknown[]): void {
    this.core.dispatcher.notify(method, args);
  }

  /** Serves `vim.rpcrequest(chan, method, ...)`; the handler's value (or error) is the answer. */
  onRequest(method: string, fn: Handler): Disposable {
    return this.core.dispatcher.onRequest(method, fn);
  }

  /** Serves `vim.rpcnotify(chan, method, ...)`; errors are logged, never sent back. */
  onNotification(method: string, fn: Handler): Disposable {
    return this.core.dispatcher.onNotification(method, fn);
  }

  /**
   * Stops serving, in one ordered path: modules finish their work in flight
   * (at most `host.shutdown_grace_ms`; MCP calls still running are then
   * cancelled and their callers told), then each module is disposed in the
   * reverse order of activation and waited for (chats saved, hub servers and
   * plugins stopped, lock files removed), within a deadline; then the host
   * reports itself stopped. Calling it twice returns the same shutdown.
   *
   * `editorGone` says Neovim has exited or was killed: there is no grace then
   * (calls in flight are cancelled at once), even for a shutdown already
   * under way, so the host leaves within a second.
   */
  shutdown(reason: string, opts: { editorGone?: boolean } = {}): ShuttingDownHost {
    const { logger } = this.core.opts;
    if (opts.editorGone && !this.core.editorGone.signal.aborted) {
      if (this.core.shutdown) logger.info('neovim gone; ending the grace period', { reason });
      this.core.editorGone.abort();
    }
    if (this.core.shutdown) return new ShuttingDownHost(this.core, this.core.shutdown);
    this.core.state = 'shutting_down';
    logger.info('host shutting down', { reason, editor_gone: opts.editorGone === true });
    const starting = this.core.starting;
    this.core.shutdown = (async () => {
      // Modules still starting finish activating (nothing more starts), then stop with the
      // rest; one that never finishes is disposed of when it does (DisposableStore.add).
      if (starting && (await within(starting, DISPOSE_DEADLINE_MS)) === 'late') {
        logger.warn('modules still starting; stopping those that have', {
          ms: DISPOSE_DEADLINE_MS,
        });
      }
      const grace = await shutdownGrace(this.core.config);
      await this.core.modules.drain(grace, this.core.editorGone.signal);
      const end = await within(this.core.modules.disposeAsync(), DISPOSE_DEADLINE_MS);
      if (end === 'late') {
        logger.warn('modules did not stop in time; exiting anyway', { ms: DISPOSE_DEADLINE_MS });
      }
      this.core.state = 'stopped';
      logger.info('host stopped', { reason, code: 0 });
      this.core.opts.onStopped?.(0);
    })();
    return new ShuttingDownHost(this.core, this.core.shutdown);
  }
}

export class ShuttingDownHost implements InState<'shutting_down'> {
  readonly state = 'shutting_down' as const;
  constructor(
    private readonly core: HostCore,
    readonly done: Promise<void>,
  ) {}
  status(): HostStatus {
    return this.core.status();
  }
}

export class StoppedHost implements InState<'stopped'> {
  readonly state = 'stopped' as const;
  constructor(private readonly core: HostCore) {}
  status(): HostStatus {
    return this.core.status();
  }
}

/** How long modules may take to stop (servers closed, processes reaped) before the host exits anyway. */
const DISPOSE_DEADLINE_MS = 2000;

/** What the start has cost this process so far (bench/startup.mjs reads it from the log). */
function startCost(): { uptime_ms: number; cpu_ms: number } {
  const cpu = process.cpuUsage();
  return {
    uptime_ms: Math.round(process.uptime() * 1000),
    cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
  };
}

/** Waits for `p` at most `ms`: 'late' when it had not settled by then. */
async function within(p: Promise<unknown>, ms: number): Promise<'ok' | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    return await Promise.race([p.then(() => 'ok' as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `host.shutdown_grace_ms` from the config (its schema is loaded when first needed, not at start). */
async function shutdownGrace(config: Record<string, unknown>): Promise<number> {
  const [{ parseSection }, { hostConfigSchema }] = await Promise.all([
    import('../core/config.js'),
    import('./host-config.js'),
  ]);
  return parseSection('host', hostConfigSchema, config.host).shutdown_grace_ms;
}
