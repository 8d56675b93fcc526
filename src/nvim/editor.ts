/**
 * The Editor port implemented with the `neovim` client. Every call passes
 * user input as API arguments (or as arguments to fixed Lua functions in
 * lua/rune/editor.lua); no Ex command or Lua chunk is ever built from input,
 * except by the opt-in raw tools whose whole point is to run one.
 */
import type { NeovimClient } from 'neovim';
import { NotFoundError, StateError } from '../core/errors.js';
import type {
  BufferInfo,
  CursorInfo,
  Diagnostic,
  Editor,
  LineEdit,
  Location,
  Position,
  Selection,
  SymbolInfo,
} from '../tools/editor.js';
import { joinPieces } from '../core/text-pieces.js';

const API = 'require("rune.editor")';

interface Queued {
  fn: string;
  args: unknown[];
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export class NvimEditor implements Editor {
  constructor(private readonly nvim: NeovimClient) {}

  private queued: Queued[] = [];

  /**
   * Calls an accessor of lua/rune/editor.lua. The calls a tool makes together (a
   * buffer, the roots and the text) leave in one request: one round trip to Neovim
   * and one Lua chunk instead of one each.
   */
  private call<T>(fn: string, args: unknown[] = []): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ fn, args, resolve: resolve as (v: unknown) => void, reject });
      if (this.queued.length === 1) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const calls = this.queued;
    this.queued = [];
    if (calls.length === 1) {
      const [c] = calls as [Queued];
      this.run(c.fn, c.args).then(c.resolve, c.reject);
      return;
    }
    (this.run('batch', [calls.map((c) => [c.fn, c.args])]) as Promise<[boolean, unknown][]>).then(
      (answers) =>
        calls.forEach((c, i) => {
          const [ok, value] = answers[i] ?? [false, 'no answer'];
          if (ok) c.resolve(value ?? null);
          else c.reject(new Error(String(value)));
        }),
      (err: unknown) => calls.forEach((c) => c.reject(err)),
    );
  }

  private run(fn: string, args: unknown[]): Promise<unknown> {
    return this.nvim.lua(`return ${API}.${fn}(...)`, args as never);
  }

  async roots(): Promise<string[]> {
    return this.call<string[]>('roots');
  }

  async listBuffers(): Promise<BufferInfo[]> {
    return this.call<BufferInfo[]>('buffers');
  }

  async buffer(id: number): Promise<BufferInfo | undefined> {
    return nilToUndefined(await this.call<BufferInfo | null>('buffer', [id]));
  }

  async bufferForPath(
    path: string,
    opts?: { create?: boolean; listed?: boolean },
  ): Promise<BufferInfo | undefined> {
    return nilToUndefined(
      await this.call<BufferInfo | null>('buffer_for_path', [
        path,
        opts?.create === true,
        opts?.listed !== false,
      ]),
    );
  }

  async release(bufferId: number): Promise<void> {
    await this.call('release', [bufferId]);
  }

  async getLines(bufferId: number, start: number, end: number): Promise<string[]> {
    try {
      return (await this.nvim.request('nvim_buf_get_lines', [
        bufferId,
        start,
        end,
        false,
      ])) as string[];
    } catch (err) {
      throw new NotFoundError(`Cannot read buffer ${bufferId}: ${messageOf(err)}`);
    }
  }

  async getText(bufferId: number, start: number, end: number): Promise<string> {
    try {
      // Slices of lines (lua/rune/editor.lua), kept as pieces for the JSON of an answer.
      return joinPieces(await this.call<string[]>('text', [bufferId, start, end]), '\n');
    } catch (err) {
      throw new NotFoundError(`Cannot read buffer ${bufferId}: ${messageOf(err)}`);
    }
  }

  async setLines(bufferId: number, edits: LineEdit[], expectTick: number): Promise<void> {
    const res = await this.call<string | null>('set_lines', [bufferId, edits, expectTick]);
    if (typeof res === 'string' && res) throw new StateError(res);
  }

  async save(bufferId: number): Promise<void> {
    const res = await this.call<string | null>('save', [bufferId]);
    if (typeof res === 'string' && res) throw new StateError(res);
  }

  cursor(): Promise<CursorInfo> {
    return this.call<CursorInfo>('cursor');
  }

  async selection(): Promise<Selection | undefined> {
    return nilToUndefined(await this.call<Selection | null>('selection'));
  }

  diagnostics(bufferId?: number): Promise<Diagnostic[]> {
    return this.call<Diagnostic[]>('diagnostics', [bufferId ?? null]);
  }

  async open(path: string, line?: number): Promise<BufferInfo> {
    const info = await this.call<BufferInfo | string>('open', [path, line ?? null]);
    if (typeof info === 'string') throw new StateError(info);
    return info;
  }

  symbols(bufferId: number): Promise<SymbolInfo[]> {
    return this.call<SymbolInfo[]>('symbols', [bufferId]);
  }

  definition(bufferId: number, position: Position): Promise<Location[]> {
    return this.call<Location[]>('definition', [bufferId, position.line, position.character]);
  }

  async command(cmd: string): Promise<string> {
    const out = (await this.nvim.request('nvim_exec2', [cmd, { output: true }])) as {
      output?: string;
    };
    return out.output ?? '';
  }

  lua(code: string): Promise<unknown> {
    return this.nvim.lua(code, []);
  }
}

function nilToUndefined<T>(v: T | null | undefined): T | undefined {
  return v === null || v === undefined ? undefined : v;
}

function messageOf(err: unknown): string {
  if (Array.isArray(err)) return String(err[1]);
  return err instanceof Error ? err.message : String(err);
}
