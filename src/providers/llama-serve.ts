/**
 * A `llama-server` Rune runs for the user (`providers.<id>.serve`): started on first use
 * on a free loopback port, ready once /health answers 200 (it answers 503 while the model
 * loads), started again on the next request if it died, stopped with the host.
 *
 * The child gets the host's environment without anything that looks like a secret
 * (names with KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL or AUTH): API keys stay with Rune.
 * Its output goes to the log, never to the host's stdout (the RPC channel).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ProviderUnavailableError, StateError, throwIfAborted } from '../core/errors.js';
import type { Logger } from '../core/log.js';

export interface LlamaServeOptions {
  /** The provider id, for messages. */
  id: string;
  /** A .gguf file, or a Hugging Face repo (`user/repo[:quant]`, downloaded by the server). */
  model: string;
  /** More arguments for llama-server, e.g. `{ '-c', '8192' }`. */
  args?: string[];
  /** The executable (default `llama-server`, found on PATH). */
  bin?: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** How long the model may take to load (default 10 minutes: a download may come first). */
  startTimeoutMs?: number;
  /** Progress for the user: starting, still loading (every 10 s), ready, exited. */
  notify?: (message: string, level?: 'info' | 'warn') => void;
}

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
    const model = this.opts.model;
    const local = model.endsWith('.gguf') || fs.existsSync(model);
    const args = [
      ...(local ? ['-m', model] : ['-hf', model]),
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
    this.opts.notify?.(`starting the ${this.name} (${model})…`);
    const proc = spawn(bin, args, {
      env: serverEnv(this.opts.env ?? process.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.starts++;
    this.tail.length = 0;
    process.on('exit', this.onExit);
    const keep = (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (!line.trim()) continue;
        this.tail.push(line);
        if (this.tail.length > KEEP_LINES) this.tail.shift();
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
      if (failure || proc.exitCode !== null || proc.signalCode !== null) {
        const why =
          (failure as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
            ? `${bin} was not found. Install llama.cpp (llama-server) or set serve.bin to its path.`
            : `it exited${proc.exitCode !== null ? ` with code ${proc.exitCode}` : ''}: ${this.tail.slice(-5).join(' | ') || failure?.message || 'no output'}`;
        throw new ProviderUnavailableError(`Could not start the ${this.name}: ${why}`, url);
      }
      if (this.disposed) throw new StateError('The llama-server was stopped.');
      const ok = await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) {
        proc.kill('SIGTERM');
        throw new ProviderUnavailableError(
          `The ${this.name} did not become ready in time (the model may be too large, or still downloading): ${this.tail.slice(-3).join(' | ')}`,
          url,
        );
      }
      if (Date.now() - told >= 10_000) {
        told = Date.now();
        this.opts.notify?.(
          `the ${this.name} is still loading the model (${Math.round((told - t0) / 1000)} s): ${this.tail.at(-1) ?? ''}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    this.opts.notify?.(`the ${this.name} is ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    log.info('llama-server ready', { provider: this.opts.id, url, pid: proc.pid });
    return url;
  }
}
