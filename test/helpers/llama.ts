/**
 * A real llama.cpp `llama-server` (Debian's build, provisioned by
 * scripts/provision-llama.sh into .cache/llama) serving the tiny deterministic model
 * of test/fixtures/llama/make-model.py. What the model answers:
 *
 *   chat (the prompt ends with the assistant turn's header)  -> "OK", finish "stop"
 *   /infill (the prompt ends with <|fim_middle|>)            -> "4242…" up to the limit
 *   a raw completion of anything else                        -> "!"
 *
 * and every byte of text is one token, so prompt token counts tell what prompt the
 * server built. `startLlama()` runs one on a free loopback port and waits for /health.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT, waitFor } from './nvim.js';
import { freePort } from './ports.js';

const PREFIX = path.join(ROOT, '.cache', 'llama');
export const LLAMA_SERVER = path.join(PREFIX, 'bin', 'llama-server');
const SCRIPT = path.join(ROOT, 'test', 'fixtures', 'llama', 'make-model.py');

/**
 * The model file, made on first use (named by the generator's hash, written atomically).
 * `lines`: the variant whose /infill answer is "x\n y\n y…" (one-space-indented lines).
 */
export function tinyModel(variant: '' | 'lines' = ''): string {
  const hash = createHash('sha256').update(fs.readFileSync(SCRIPT)).digest('hex').slice(0, 12);
  const out = path.join(PREFIX, 'models', `rune-tiny${variant ? `-${variant}` : ''}-${hash}.gguf`);
  if (fs.existsSync(out)) return out;
  if (!fs.existsSync(LLAMA_SERVER)) {
    throw new Error(
      `llama-server is not provisioned at ${LLAMA_SERVER}: run scripts/setup.sh (or bash scripts/provision-llama.sh .cache/llama)`,
    );
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync(path.join(PREFIX, 'bin', 'python3'), [SCRIPT, tmp, ...(variant ? [variant] : [])], {
    stdio: 'pipe',
  });
  fs.renameSync(tmp, out);
  return out;
}

export interface LlamaServer {
  /** e.g. `http://127.0.0.1:40123` (no trailing slash, no /v1). */
  url: string;
  port: number;
  proc: ChildProcess;
  /** The server's log so far (stdout and stderr). */
  log(): string;
  /** The JSON of GET `path` (e.g. `/slots`, `/props`). */
  get<T = unknown>(p: string): Promise<T>;
  stop(): Promise<void>;
}

export interface LlamaOptions {
  /** The model variant (tinyModel()). */
  model?: '' | 'lines';
  /** Context size (`-c`); default 4096. */
  ctx?: number;
  /** Parallel slots (`-np`); default 1. */
  slots?: number;
  /** More arguments. */
  args?: string[];
}

export async function startLlama(opts: LlamaOptions = {}): Promise<LlamaServer> {
  const model = tinyModel(opts.model);
  const port = await freePort();
  const args = [
    '-m',
    model,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '-c',
    String(opts.ctx ?? 4096),
    '-np',
    String(opts.slots ?? 1),
    '--threads',
    '1',
    '--jinja',
    '--no-webui',
    ...(opts.args ?? []),
  ];
  const proc = spawn(LLAMA_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const get = async <T>(p: string): Promise<T> => {
    const res = await fetch(url + p);
    if (!res.ok) throw new Error(`GET ${p}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`llama-server exited: ${out}`);
        const res = await fetch(`${url}/health`);
        return res.ok;
      },
      30_000,
      'llama-server /health',
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${out.slice(-2000)}`);
  }
  return { url, port, proc, log: () => out, get, stop };
}

/** One slot of GET /slots, with the fields the tests read. */
export interface LlamaSlot {
  id: number;
  is_processing: boolean;
  next_token?: { n_decoded?: number }[] | { n_decoded?: number };
}

/** The tokens slot `id` decoded in its last (or current) task. */
export function decoded(slot: LlamaSlot): number {
  const nt = Array.isArray(slot.next_token) ? slot.next_token[0] : slot.next_token;
  return nt?.n_decoded ?? 0;
}

const SPECIAL =
  /<\|(?:endoftext|im_start|im_end|fim_prefix|fim_middle|fim_suffix|fim_pad|repo_name|file_sep)\|>/g;

/** How many tokens the tiny model's vocabulary makes of `prompt`: one per byte, one per special token. */
export function tinyTokens(prompt: string): number {
  return Buffer.byteLength(prompt.replace(SPECIAL, '\u0001'));
}
