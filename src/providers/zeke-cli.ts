/**
 * zeke through its command line, for zeke.nvim users who have the `zeke` CLI and never run
 * `zeke serve` (zeke.nvim itself shells out: lua/zeke/cli.lua `stream_chat` runs
 * `zeke chat --stream "…"` with jobstart and stops it with jobstop).
 *
 * What the CLI prints, from zeke's source: everything goes through `std.debug.print`, which
 * is STDERR (src/main.zig, src/cli_streaming.zig); first the banner `⚡ ZEKE\n`
 * (src/root.zig `bufferedPrint`). Rune runs `zeke chat --stream --json <prompt>`: the chunks
 * then arrive raw as they stream, followed by `\n✅ Stream complete!\n`; a failure is one
 * line `{"type":"error","message":"Streaming failed: error.X"}` and, in JSON mode, no
 * fallback box (cli_streaming.zig `handleStreamingChatWithMode`). The exit code is 0 either
 * way. Plain `--stream` would wrap the answer in a box and a progress line.
 *
 * The prompt is one argument (no shell), the child gets its own process group, and
 * cancelling kills the whole group (the CLI may have children of its own).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { AbortError, BadRequestError, NotFoundError, RuneError } from '../core/errors.js';
import { which } from '../core/which.js';
import type { Adapter, AdapterHooks, CompleteResult } from './adapter.js';
import { mapCommon, malformed, type Who } from './errors.js';
import { FIM_SYSTEM, cleanFimAnswer, fimPrompt } from './fim-prompt.js';
import type { ChatEvent, ChatRequest, FimRequest, ModelInfo } from './types.js';
import { zekeNotice, zekePrompt } from './zeke-prompt.js';

export interface ZekeCliOptions {
  who: Who;
  /** The program to run (default: `zeke` on PATH). */
  command?: string;
  env?: NodeJS.ProcessEnv;
}

const BANNER = '⚡ ZEKE';
const END = '\n✅ Stream complete!\n';
const ERROR_START = '{"type":"error"';
/** Linux refuses a single argument longer than this (MAX_ARG_STRLEN). */
const MAX_ARG_BYTES = 128 * 1024 - 1;
const KILL_GRACE_MS = 1000;

/** The `zeke` program, or undefined when it is not on PATH. */
export function findZeke(
  opts: { command?: string; env?: NodeJS.ProcessEnv } = {},
): string | undefined {
  return which(opts.command ?? 'zeke', opts.env ?? process.env);
}

/** Turns the CLI's output into the answer's text, piece by piece. */
class OutputReader {
  private seenBanner = false;
  private pending = '';
  /** Whether `pending` starts at the start of a line. */
  private atLineStart = true;
  ended = false;
  error: string | undefined;

  get sawBanner(): boolean {
    return this.seenBanner;
  }

  /** Feeds output; returns the text that is now certainly part of the answer. */
  push(chunk: string): string {
    if (this.ended || this.error !== undefined) return '';
    this.pending += chunk;
    if (!this.seenBanner) {
      // Log lines may come before the banner; the answer starts after it.
      const at = this.pending.indexOf(`${BANNER}\n`);
      if (at < 0) return '';
      this.pending = this.pending.slice(at + BANNER.length + 1);
      this.seenBanner = true;
    }
    return this.drain(false);
  }

  /** The process is gone: whatever is left. */
  finish(): string {
    if (this.ended || this.error !== undefined || !this.seenBanner) return '';
    return this.drain(true);
  }

  private drain(final: boolean): string {
    const p = this.pending;
    const endAt = p.indexOf(END);
    const err = this.errorLine(p, final);
    if (endAt >= 0 || err) {
      const cut = Math.min(endAt >= 0 ? endAt : Infinity, err ? err.at : Infinity);
      this.pending = '';
      if (err && err.at === cut) {
        this.error = err.message;
        return p.slice(0, cut).replace(/\n$/, '');
      }
      this.ended = true;
      return p.slice(0, cut);
    }
    const n = final ? p.length : this.safeLength(p);
    const out = p.slice(0, n);
    this.pending = p.slice(n);
    if (out) this.atLineStart = out.endsWith('\n');
    return out;
  }

  /** A complete `{"type":"error",…}` line starting a line of `p`. */
  private errorLine(p: string, final: boolean): { at: number; message: string } | undefined {
    const starts = this.atLineStart ? [0] : [];
    for (let i = p.indexOf('\n'); i >= 0; i = p.indexOf('\n', i + 1)) starts.push(i + 1);
    for (const s of starts) {
      if (!p.startsWith(ERROR_START, s)) continue;
      const e = p.indexOf('\n', s);
      if (e < 0 && !final) continue;
      const line = p.slice(s, e >= 0 ? e : p.length).trim();
      try {
        const v = JSON.parse(line) as { type?: unknown; message?: unknown };
        if (v.type === 'error') {
          return { at: s, message: typeof v.message === 'string' ? v.message : line };
        }
      } catch {
        // not an error line after all
      }
    }
    return undefined;
  }

  /** How much of `p` can go out without cutting the end marker or an error line in two. */
  private safeLength(p: string): number {
    let hold = p.length;
    for (let k = Math.min(END.length - 1, p.length); k > 0; k--) {
      if (END.startsWith(p.slice(p.length - k))) {
        hold = p.length - k;
        break;
      }
    }
    const nl = p.lastIndexOf('\n');
    const lineAt = nl >= 0 ? nl + 1 : this.atLineStart ? 0 : -1;
    if (lineAt >= 0) {
      const line = p.slice(lineAt);
      if (line && (line.startsWith(ERROR_START) || ERROR_START.startsWith(line))) {
        hold = Math.min(hold, lineAt);
      }
    }
    return hold;
  }
}

export class ZekeCliAdapter implements Adapter {
  readonly kind = 'zeke';
  readonly url: string;

  constructor(private readonly opts: ZekeCliOptions) {
    this.url = opts.who.url;
  }

  /** The program, or a clear error saying how to get one. */
  program(): string {
    const p = findZeke(this.opts);
    if (!p) {
      throw new NotFoundError(
        `${this.opts.who.name}: \`zeke serve\` does not answer at ${this.opts.who.url} and no \`${this.opts.command ?? 'zeke'}\` program is on PATH for the zeke CLI. Start \`zeke serve\`, or install zeke (https://github.com/ghostkellz/zeke) so \`zeke\` is on the PATH Neovim was started with.`,
      );
    }
    return p;
  }

  async *chat(
    req: ChatRequest,
    _model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncGenerator<ChatEvent> {
    const { prompt, dropped } = zekePrompt(req);
    if (dropped > 0) yield { type: 'text', delta: zekeNotice(dropped) };
    for await (const delta of this.run(prompt, signal, hooks)) yield { type: 'text', delta };
    yield {
      type: 'done',
      usage: { inputTokens: 0, outputTokens: 0 },
      stopReason: 'end',
      model: 'zeke CLI',
    };
  }

  async complete(
    req: FimRequest,
    _model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    let text = '';
    for await (const d of this.run(`${FIM_SYSTEM}\n\n${fimPrompt(req)}`, signal, hooks)) text += d;
    return {
      completions: [{ text: cleanFimAnswer(text, req.stop) }],
      usage: { inputTokens: 0, outputTokens: 0 },
      model: 'zeke CLI',
    };
  }

  models(): Promise<ModelInfo[]> {
    // The CLI uses the model of zeke's own config; it has no flag to choose another.
    return Promise.resolve([]);
  }

  probe(): Promise<string> {
    return Promise.resolve(`through the zeke CLI at ${this.program()} (zeke serve is not running)`);
  }

  mapError(err: unknown): RuneError {
    return mapCommon(this.opts.who, err, (e) => malformed(this.opts.who, e));
  }

  /** Runs `zeke chat --stream --json prompt`, yielding the answer as it streams. */
  private async *run(
    prompt: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncGenerator<string> {
    if (signal.aborted) throw new AbortError();
    if (Buffer.byteLength(prompt) > MAX_ARG_BYTES) {
      throw new BadRequestError(
        `${this.opts.who.name}: the prompt is ${Buffer.byteLength(prompt)} bytes, more than one command-line argument can carry (128 KiB). Attach less context, or run \`zeke serve\`.`,
      );
    }
    const child = spawn(this.program(), ['chat', '--stream', '--json', prompt], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.opts.env ?? process.env,
    });
    const reader = new OutputReader();
    const queue: string[] = [];
    let wake: (() => void) | undefined;
    let exit: { code: number | null; sig: NodeJS.Signals | null } | undefined;
    let spawnError: Error | undefined;
    let tail = '';
    const poke = () => {
      wake?.();
      wake = undefined;
    };
    const onData = (d: Buffer) => {
      const s = d.toString('utf8');
      tail = (tail + s).slice(-600);
      const t = reader.push(s);
      if (t) queue.push(t);
      poke();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    // The program started: what follows is the wait for the answer, not a connection.
    child.once('spawn', () => hooks.headers());
    child.once('error', (err) => {
      spawnError = err;
      poke();
    });
    child.once('close', (code, sig) => {
      exit = { code, sig };
      const t = reader.finish();
      if (t) queue.push(t);
      poke();
    });
    const onAbort = () => killGroup(child);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal.aborted) throw new AbortError();
        if (spawnError) throw spawnError;
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (reader.error !== undefined) {
          throw new RuneError(
            'zeke_cli',
            `${this.opts.who.name}: the zeke CLI failed: ${reader.error}. Check zeke's own setup (\`zeke doctor\`, ~/.config/zeke/zeke.toml).`,
          );
        }
        if (reader.ended) return;
        if (exit) {
          if (signal.aborted) throw new AbortError();
          if (exit.code === 0 && reader.sawBanner) return;
          const how = exit.sig
            ? `was stopped by ${exit.sig}`
            : `exited with code ${String(exit.code)}`;
          throw new RuneError(
            'zeke_cli',
            `${this.opts.who.name}: the zeke CLI ${how}${reader.sawBanner ? '' : ' before printing an answer'}: ${tail.trim().slice(-300) || '(no output)'}`,
          );
        }
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (!exit) killGroup(child);
    }
  }
}

/** Stops the CLI and everything it started: TERM to its process group, KILL if it lingers. */
function killGroup(child: ChildProcess): void {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
  const pid = child.pid;
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  send('SIGTERM');
  // The group may outlive its leader: KILL it after the grace period either way.
  setTimeout(() => send('SIGKILL'), KILL_GRACE_MS).unref();
}
