/**
 * A `llama-server` Rune runs for the user (`providers.<id>.serve`): started on first use
 * on a free loopback port, ready once /health answers 200 (it answers 503 while the model
 * loads), started again on the next request if it died, stopped with the host.
 *
 * The child gets the host's environment without anything that looks like a secret
 * (names with KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL or AUTH): API keys stay with Rune.
 * Its output goes to the log, never to the host's stdout (the RPC channel).
 *
 * While it starts, `progress` hears where it is: `starting`, then `loading the model` once
 * the server says so — its log line `load_model: loading model '…'`, or /health answering
 * 503 "Loading model" (llama.cpp tools/server/server.cpp: the HTTP server listens before
 * the model loads) — then `ready`, `failed` or `cancel`. `cancel()` kills a server that is
 * still starting; the requests waiting for it fail with a StateError saying so.
 */
import { expandHome } from '../core/home.js';
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  ConfigError,
  ProviderUnavailableError,
  StateError,
  throwIfAborted,
} from '../core/errors.js';
import type { Logger } from '../core/log.js';

export interface LlamaServeOptions {
  /** The provider id, for messages. */
  id: string;
  /** A .gguf file (`-m`). */
  model?: string;
  /**
   * A Hugging Face repo (`org/name[:quant]`, `-hf`): the server downloads it into its cache
   * (from `HF_ENDPOINT`, default huggingface.co) unless it is there already.
   */
  hfRepo?: string;
  /** More arguments for llama-server, e.g. `{ '-c', '8192' }`. */
  args?: string[];
  /** The executable (default `llama-server`, found on PATH). */
  bin?: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** How long the model may take to load (default 10 minutes: a download may come first). */
  startTimeoutMs?: number;
  /** Tells the user the server exited (it starts again on the next request). */
  notify?: (message: string, level?: 'info' | 'warn') => void;
  /** Where a start is, updated in place for the user; `cancel` stops that start. */
  progress?: (p: ServeProgress, cancel: () => void) => void;
}

/** One update of a start's progress (lua/rune/progress.lua draws it). */
export interface ServeProgress {
  title: string;
  text: string;
  status: 'running' | 'success' | 'failed' | 'cancel';
}

/** What llama-server prints when it begins to read the model file (server-context.cpp). */
const LOADING_LINE = /load_model: loading model/;
/** Every this long, a start still loading says for how long. */
const STILL_LOADING_MS = 10_000;

const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH/i;
const KEEP_LINES = 20;

/** The environment for the server: the host's, without secrets. */
export function serverEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !SECRET_NAME.test(k)));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export class LlamaServe {
  private proc: ChildProcess | undefined;
  private ready: Promise<string> | undefined;
  private port: number | undefined;
  private disposed = false;
  private readonly tail: string[] = [];
  private readonly onExit = () => this.proc?.kill('SIGTERM');
  /** The start under way, if one is. */
  private starting: { proc: ChildProcess; cancelled: boolean } | undefined;
  /** How many times the server was started (for :checkhealth and tests). */
  starts = 0;

  constructor(private readonly opts: LlamaServeOptions) {}

  /** The pid of the running server, if one runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The server's root URL, once it is ready; starts it (again) when needed. */
  url(signal?: AbortSignal): Promise<string> {
    throwIfAborted(signal);
    if (this.disposed) return Promise.reject(new StateError('The llama-server was stopped.'));
    this.ready ??= this.start().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /**
   * Stops a start under way: kills the server (it has nothing to save yet) and fails the
   * requests waiting for it. Returns whether a start was under way.
   */
  cancel(): boolean {
    const s = this.starting;
    if (!s || s.cancelled) return false;
    s.cancelled = true;
    if (this.proc === s.proc) this.proc = undefined;
    s.proc.kill('SIGKILL');
    return true;
  }

  /** Stops the server. */
  dispose(): void {
    this.disposed = true;
    process.removeListener('exit', this.onExit);
    this.proc?.kill('SIGTERM');
    this.proc = undefined;
    this.ready = undefined;
  }

  private get name(): string {
    return `llama-server of provider "${this.opts.id}"`;
  }

  private async start(): Promise<string> {
    this.port ??= await freePort();
    const bin = this.opts.bin ?? 'llama-server';
    const { hfRepo } = this.opts;
    const { model } = this.opts;
    const args = [
      ...(model !== undefined ? ['-m', expandHome(model)] : ['-hf', hfRepo ?? '']),
      '--host',
      '127.0.0.1',
      '--port',
      String(this.port),
      ...(this.opts.args ?? []),
    ];
    const log = this.opts.logger;
    log.info('starting llama-server', { provider: this.opts.id, bin, args });
    const t0 = Date.now();
    let told = t0;
    const title = `llama-server (${this.opts.id})`;
    let shown = '';
    const show = (text: string, status: ServeProgress['status'] = 'running') => {
      if (text === shown) return;
      shown = text;
      this.opts.progress?.({ title, text, status }, () => this.cancel());
    };
    let loading = false;
    const loadingNow = () => {
      if (loading) return;
      loading = true;
      told = Date.now();
      show('loading the model');
    };
    const proc = spawn(bin, args, {
      env: serverEnv(this.opts.env ?? process.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const start = { proc, cancelled: false };
    this.starting = start;
    this.proc = proc;
    show(`starting (${model !== undefined ? path.basename(model) : hfRepo})`);
    try {
      const url = await this.waitReady(proc, start, bin, t0, {
        loadingNow,
        still: () => {
          if (!loading || Date.now() - told < STILL_LOADING_MS) return;
          told = Date.now();
          show(`loading the model (${Math.round((told - t0) / 1000)} s)`);
        },
      });
      show(`ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`, 'success');
      return url;
    } catch (err) {
      if (start.cancelled) show('cancelled', 'cancel');
      else show(err instanceof Error ? err.message : String(err), 'failed');
      throw err;
    } finally {
      if (this.starting === start) this.starting = undefined;
    }
  }

  /** Spawned: keeps its output, and resolves with its url once /health says it is ready. */
  private async waitReady(
    proc: ChildProcess,
    start: { cancelled: boolean },
    bin: string,
    t0: number,
    on: { loadingNow: () => void; still: () => void },
  ): Promise<string> {
    const log = this.opts.logger;
    this.starts++;
    this.tail.length = 0;
    process.on('exit', this.onExit);
    const keep = (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (!line.trim()) continue;
        this.tail.push(line);
        if (this.tail.length > KEEP_LINES) this.tail.shift();
        if (LOADING_LINE.test(line)) on.loadingNow();
        log.debug('llama-server', { provider: this.opts.id, line });
      }
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    let failure: Error | undefined;
    proc.once('error', (err) => {
      failure = err;
    });
    proc.once('exit', (code, sig) => {
      process.removeListener('exit', this.onExit);
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.ready = undefined;
      if (!this.disposed) {
        this.opts.notify?.(
          `the ${this.name} exited${code !== null ? ` (code ${code})` : ''}; it starts again on the next request`,
          'warn',
        );
        log.warn('llama-server exited; it starts again on the next request', {
          provider: this.opts.id,
          code,
          signal: sig,
          output: this.tail.slice(-5).join('\n'),
        });
      }
    });
    const url = `http://127.0.0.1:${this.port}`;
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 600_000);
    for (;;) {
      if (start.cancelled) {
        throw new StateError(
          `The start of the ${this.name} was cancelled; the next request starts it again.`,
        );
      }
      if ((failure as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
        // Not worth a retry: it will not be there in a moment either.
        throw new ConfigError(
          `providers.${this.opts.id}.serve.bin`,
          `${bin} was not found, so Rune cannot start the ${this.name}. Install llama.cpp (llama-server) or set serve.bin to its path.`,
        );
      }
      if (failure || proc.exitCode !== null || proc.signalCode !== null) {
        const why = `it exited${proc.exitCode !== null ? ` with code ${proc.exitCode}` : ''}: ${this.tail.slice(-5).join(' | ') || failure?.message || 'no output'}`;
        throw new ProviderUnavailableError(`Could not start the ${this.name}: ${why}`, url);
      }
      if (this.disposed) throw new StateError('The llama-server was stopped.');
      const status = await fetch(`${url}/health`).then(
        async (r) => {
          await r.body?.cancel();
          return r.status;
        },
        () => 0,
      );
      if (status === 200) break;
      if (status === 503) on.loadingNow();
      if (Date.now() > deadline) {
        proc.kill('SIGTERM');
        throw new ProviderUnavailableError(
          `The ${this.name} did not become ready in time (the model may be too large, or still downloading): ${this.tail.slice(-3).join(' | ')}`,
          url,
        );
      }
      on.still();
      await new Promise((r) => setTimeout(r, 100));
    }
    log.info('llama-server ready', { provider: this.opts.id, url, pid: proc.pid });
    return url;
  }
}
