/**
 * What the editor tools share: the argument shapes, the workspace rule for
 * paths and buffers, pages of lines, and the review-then-apply step of every
 * edit. Each tool module (read, edit, fs, lsp, raw) is written against one kit.
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { AbortError, BadRequestError, DeniedError, NotFoundError } from '../../core/errors.js';
import { appendPieces } from '../../core/text-pieces.js';
import type { BufferInfo, Editor } from '../editor.js';
import { acceptedEdits, diffLines } from '../diff.js';
import { resolveInRoots } from '../paths.js';
import { jsonResult, type CallToolResult, type ToolContext } from '../registry.js';

/** Most lines one read returns; the result says where the next page starts. */
export const PAGE_LINES = 2000;
const MAX_PAGE_LINES = 20000;
const MAX_FILE_BYTES = 8 * 1024 * 1024;

export const RO = { readOnlyHint: true, destructiveHint: false, openWorldHint: false } as const;

export const bufferRef = z
  .union([z.number().int().min(0), z.string().min(1)])
  .optional()
  .describe('Buffer id, or a file path inside the workspace; the current buffer when omitted.');
const position = z.object({
  line: z.number().int().min(0).describe('0-based line'),
  character: z.number().int().min(0).describe('0-based character in the line'),
});
export const range = z.object({ start: position, end: position });
export const lineArgs = {
  start_line: z.number().int().min(1).optional().describe('First line, 1-based (default 1).'),
  end_line: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe(`Last line, inclusive (default: ${PAGE_LINES} lines after start_line).`),
};

/** A buffer a call addresses, and the workspace file it holds ('' when it has no name). */
export interface Target {
  buf: BufferInfo;
  real: string;
}

export interface EditorKit {
  editor: Editor;
  /** The absolute path of `p`, refused when it is outside the workspace roots. */
  safePath(p: string): Promise<string>;
  /**
   * The buffer a call addresses: the current one, a buffer id, or a workspace
   * path. A buffer with a file name is held to the same rule as a path: the
   * file (links resolved) must be inside the workspace. `real` is that file.
   */
  resolveBuffer(ref: number | string | undefined): Promise<Target>;
  /**
   * Runs `fn` on the buffer a read-only call addresses. A path with no buffer
   * yet is loaded unlisted and wiped afterwards: reads leave nothing in the
   * user's buffer list, and a file that does not exist creates nothing.
   */
  withReadBuffer<T>(
    ref: number | string | undefined,
    fn: (buf: BufferInfo) => Promise<T>,
  ): Promise<T>;
  /** The lines `start`..`end` (1-based, inclusive) one page keeps of `total`. */
  page(total: number, start?: number, end?: number): { s: number; e: number };
  pageResult(
    meta: Record<string, unknown>,
    text: string,
    s: number,
    e: number,
    total: number,
  ): CallToolResult;
  /**
   * Shows the change as hunks, applies the accepted ones, and says what happened.
   * `oldLines` and `newLines` may be a part of the buffer that starts at row `offset`.
   */
  proposeAndApply(
    ctx: ToolContext,
    target: Target,
    newLines: string[],
    save: boolean,
    oldLines?: string[],
    offset?: number,
  ): Promise<CallToolResult>;
  /** The whole text of a workspace file that is not too big to read at once. */
  readWhole(p: string): Promise<{ abs: string; text: string }>;
}

export function editorKit(editor: Editor): EditorKit {
  const safePath = async (p: string) => resolveInRoots(p, await editor.roots());

  const resolveBuffer = async (ref: number | string | undefined): Promise<Target> => {
    if (typeof ref === 'string') {
      const real = await safePath(ref);
      const buf = await editor.bufferForPath(real, { create: true });
      if (!buf) throw new NotFoundError(`Cannot open ${ref} in a buffer.`);
      return { buf, real };
    }
    // The roots are asked for together with the buffer: one wait for Neovim instead of two.
    const roots = editor.roots();
    roots.catch(() => undefined);
    let buf: BufferInfo | undefined;
    if (ref === undefined) {
      buf = await editor.buffer((await editor.cursor()).bufferId);
      if (!buf) throw new NotFoundError('There is no current buffer.');
    } else {
      buf = await editor.buffer(ref);
      if (!buf)
        throw new NotFoundError(`No buffer ${ref}; call list_buffers to see the open ones.`);
    }
    return { buf, real: buf.path ? resolveInRoots(buf.path, await roots) : '' };
  };

  const withReadBuffer = async <T>(
    ref: number | string | undefined,
    fn: (buf: BufferInfo) => Promise<T>,
  ): Promise<T> => {
    if (typeof ref !== 'string') return fn((await resolveBuffer(ref)).buf);
    const real = await safePath(ref);
    const open = await editor.bufferForPath(real);
    if (open) return fn(open);
    const st = await fs.promises.stat(real).catch(() => undefined);
    if (!st) throw new NotFoundError(`${ref} does not exist.`);
    if (!st.isFile()) throw new BadRequestError(`${ref} is not a file; use list_directory.`);
    const temp = await editor.bufferForPath(real, { create: true, listed: false });
    if (!temp) throw new NotFoundError(`Cannot read ${ref}.`);
    try {
      return await fn(temp);
    } finally {
      await editor.release(temp.id);
    }
  };

  const page = (total: number, start?: number, end?: number) => {
    const s = Math.max(1, start ?? 1);
    const e = Math.min(total, end ?? s + PAGE_LINES - 1, s + MAX_PAGE_LINES - 1);
    return { s, e };
  };

  const pageResult = (
    meta: Record<string, unknown>,
    text: string,
    s: number,
    e: number,
    total: number,
  ): CallToolResult => {
    const next = e < total ? e + 1 : undefined;
    const structured = { ...meta, lineCount: total, startLine: s, endLine: e, nextStartLine: next };
    const note =
      next !== undefined
        ? `\n[lines ${s}-${e} of ${total}; call again with start_line=${next} for more]`
        : '';
    return {
      content: [{ type: 'text', text: appendPieces(text, note) }],
      structuredContent: structured,
    };
  };

  const proposeAndApply = async (
    ctx: ToolContext,
    { buf, real }: Target,
    newLines: string[],
    save: boolean,
    oldLines?: string[],
    offset = 0,
  ): Promise<CallToolResult> => {
    const old = oldLines ?? (await editor.getLines(buf.id, 0, buf.lineCount));
    const hunks = diffLines(old, newLines);
    for (const h of hunks) h.start += offset;
    const target = real || buf.name || `buffer ${buf.id}`;
    if (hunks.length === 0) return jsonResult({ applied: 0, hunks: 0, message: 'No change.' });
    const answer = await ctx.review({ target, hunks });
    if (answer.accepted.length === 0) {
      throw new DeniedError(`Every hunk of the edit to ${target} was rejected; nothing changed.`);
    }
    if (ctx.signal.aborted) throw new AbortError();
    await editor.setLines(buf.id, acceptedEdits(hunks, answer.accepted), buf.changedtick);
    if (save) await editor.save(buf.id);
    return jsonResult({
      applied: answer.accepted.length,
      hunks: hunks.length,
      rejected: hunks.length - answer.accepted.length,
      buffer: buf.id,
      path: buf.path,
      saved: save,
      message:
        `Applied ${answer.accepted.length} of ${hunks.length} hunk(s) to ${target}` +
        (save ? ' and saved it.' : ' (not saved; call save_buffer to write it).'),
    });
  };

  const readWhole = async (p: string): Promise<{ abs: string; text: string }> => {
    const abs = await safePath(p);
    const st = await fs.promises.stat(abs).catch(() => undefined);
    if (!st) throw new NotFoundError(`${p} does not exist.`);
    if (!st.isFile()) throw new BadRequestError(`${p} is not a file; use list_directory.`);
    if (st.size > MAX_FILE_BYTES) {
      throw new BadRequestError(
        `${p} is ${st.size} bytes, more than read_file reads; use tail_file or search.`,
      );
    }
    return { abs, text: await fs.promises.readFile(abs, 'utf8') };
  };

  return {
    editor,
    safePath,
    resolveBuffer,
    withReadBuffer,
    page,
    pageResult,
    proposeAndApply,
    readWhole,
  };
}
