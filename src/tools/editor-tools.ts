/**
 * The editor tools: typed tools over the Editor port. Lines are 1-based and
 * inclusive in `start_line`/`end_line`; `range` objects are LSP-style
 * (0-based line and character). File paths stay inside the workspace roots.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { DisposableStore, type Disposable } from '../core/disposable.js';
import { AbortError, BadRequestError, DeniedError, NotFoundError } from '../core/errors.js';
import type { BufferInfo, Editor } from './editor.js';
import {
  acceptedEdits,
  applyTextEdits,
  applyUnifiedDiff,
  diffLines,
  searchReplace,
  textLines,
  unifiedDiff,
} from './diff.js';
import { resolveInRoots, visibleInRoots } from './paths.js';
import { searchInWorker, type SearchJob } from './search.js';
import {
  jsonResult,
  type CallToolResult,
  type ToolContext,
  type ToolRegistry,
} from './registry.js';

export interface EditorToolOptions {
  /** Also register `nvim_command` and `nvim_lua` (raw Ex and Lua). Off unless the user turns it on. */
  unsafe?: boolean;
  /**
   * Also register zeke's tool names (`fs.read`, `fs.write`, `fs.list`, `diff.apply`,
   * `diff.generate`, `ping`).
   */
  zekeAliases?: boolean;
}

/** Most lines one read returns; the result says where the next page starts. */
export const PAGE_LINES = 2000;
const MAX_PAGE_LINES = 20000;
const MAX_FILE_BYTES = 8 * 1024 * 1024;

const RO = { readOnlyHint: true, destructiveHint: false, openWorldHint: false } as const;

const bufferRef = z
  .union([z.number().int().min(0), z.string().min(1)])
  .optional()
  .describe('Buffer id, or a file path inside the workspace; the current buffer when omitted.');
const position = z.object({
  line: z.number().int().min(0).describe('0-based line'),
  character: z.number().int().min(0).describe('0-based character in the line'),
});
const range = z.object({ start: position, end: position });
const lineArgs = {
  start_line: z.number().int().min(1).optional().describe('First line, 1-based (default 1).'),
  end_line: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe(`Last line, inclusive (default: ${PAGE_LINES} lines after start_line).`),
};

export function registerEditorTools(
  registry: ToolRegistry,
  editor: Editor,
  opts: EditorToolOptions = {},
): Disposable {
  const store = new DisposableStore();
  const safePath = async (p: string) => resolveInRoots(p, await editor.roots());

  /**
   * The buffer a call addresses: the current one, a buffer id, or a workspace
   * path. A buffer with a file name is held to the same rule as a path: the
   * file (links resolved) must be inside the workspace. `real` is that file.
   */
  const resolveBuffer = async (
    ref: number | string | undefined,
  ): Promise<{ buf: BufferInfo; real: string }> => {
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

  /**
   * Runs `fn` on the buffer a read-only call addresses. A path with no buffer
   * yet is loaded unlisted and wiped afterwards: reads leave nothing in the
   * user's buffer list, and a file that does not exist creates nothing.
   */
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

  const savable = async (ref: number | string | undefined) => {
    const r = await resolveBuffer(ref);
    if (!r.real) throw new BadRequestError(`Buffer ${r.buf.id} has no file name to save to.`);
    return r;
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
      content: [{ type: 'text', text: text + note }],
      structuredContent: structured,
    };
  };

  /** Shows the change as hunks, applies the accepted ones, and says what happened. */
  const proposeAndApply = async (
    ctx: ToolContext,
    { buf, real }: { buf: BufferInfo; real: string },
    newLines: string[],
    save: boolean,
    oldLines?: string[],
  ): Promise<CallToolResult> => {
    const old = oldLines ?? (await editor.getLines(buf.id, 0, buf.lineCount));
    const hunks = diffLines(old, newLines);
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

  /** The whole text of a workspace file that is not too big to read at once. */
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

  const readFileRange = async (p: string, start?: number, end?: number) => {
    const { abs, text } = await readWhole(p);
    const lines = textLines(text);
    const { s, e } = page(lines.length, start, end);
    return pageResult({ path: abs }, lines.slice(s - 1, e).join('\n'), s, e, lines.length);
  };

  const writeFile = async (ctx: ToolContext, p: string, content: string) => {
    const abs = await safePath(p);
    const st = await fs.promises.stat(abs).catch(() => undefined);
    if (st && !st.isFile()) throw new BadRequestError(`${p} is not a regular file.`);
    if (!st) await fs.promises.mkdir(path.dirname(abs), { recursive: true });
    const buf = await editor.bufferForPath(abs, { create: true });
    if (!buf) throw new NotFoundError(`Cannot open ${p} in a buffer.`);
    const lines = content.split('\n');
    if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
    return proposeAndApply(ctx, { buf, real: abs }, lines, true);
  };

  const listDir = async (p: string | undefined) => {
    const abs = await safePath(p ?? '.');
    const entries = await fs.promises.readdir(abs, { withFileTypes: true }).catch(() => {
      throw new NotFoundError(`${p ?? '.'} is not a readable directory.`);
    });
    return jsonResult({
      path: abs,
      entries: entries.slice(0, 5000).map((d) => ({
        name: d.name,
        type: d.isDirectory() ? 'directory' : d.isFile() ? 'file' : 'other',
      })),
    });
  };

  store.add(
    registry.register({
      name: 'list_buffers',
      title: 'List buffers',
      description: 'Lists the buffers open in Neovim: id, path, filetype, modified, line count.',
      inputSchema: {},
      annotations: RO,
      handler: async () => {
        const all = await editor.listBuffers();
        return jsonResult({ buffers: all.filter((b) => b.loaded || b.path) });
      },
    }),
  );

  store.add(
    registry.register({
      name: 'read_buffer',
      title: 'Read a buffer',
      description:
        `Reads a buffer's current text (including unsaved changes), ${PAGE_LINES} lines at a time; ` +
        'the result says where the next page starts.',
      inputSchema: { buffer: bufferRef, ...lineArgs },
      annotations: RO,
      handler: (args) => {
        // A buffer given by id: its text is asked for together with the buffer and the
        // roots (one wait for Neovim, not two). The range needs no line count: Neovim
        // clamps it to the same lines the page below keeps; it is returned only once
        // the buffer passed the workspace check.
        let early: Promise<string> | undefined;
        if (typeof args.buffer === 'number') {
          const want = page(Number.MAX_SAFE_INTEGER, args.start_line, args.end_line);
          early = editor.getText(args.buffer, want.s - 1, want.e);
          early.catch(() => undefined);
        }
        return withReadBuffer(args.buffer, async (buf) => {
          const { s, e } = page(buf.lineCount, args.start_line, args.end_line);
          const text = s <= e ? await (early ?? editor.getText(buf.id, s - 1, e)) : '';
          return pageResult(
            {
              buffer: buf.id,
              path: buf.path,
              changedtick: buf.changedtick,
              modified: buf.modified,
            },
            text,
            s,
            e,
            buf.lineCount,
          );
        });
      },
    }),
  );

  const readFileDef = {
    description: `Reads a file inside the workspace from disk, ${PAGE_LINES} lines at a time.`,
    inputSchema: {
      path: z.string().describe('File path, relative to the workspace root.'),
      ...lineArgs,
    },
    annotations: RO,
    handler: (args: { path: string; start_line?: number; end_line?: number }) =>
      readFileRange(args.path, args.start_line, args.end_line),
  };
  store.add(registry.register({ name: 'read_file', title: 'Read a file', ...readFileDef }));

  store.add(
    registry.register({
      name: 'get_cursor',
      title: 'Cursor position',
      description: 'The cursor: buffer, path, 0-based position and mode.',
      inputSchema: {},
      annotations: RO,
      handler: async () => jsonResult(await editor.cursor()),
    }),
  );

  store.add(
    registry.register({
      name: 'get_selection',
      title: 'Visual selection',
      description: 'The current (or last) visual selection: its range and text.',
      inputSchema: {},
      annotations: RO,
      handler: async () => {
        const sel = await editor.selection();
        return sel
          ? jsonResult(sel)
          : jsonResult({ selection: null, message: 'Nothing is selected.' });
      },
    }),
  );

  store.add(
    registry.register({
      name: 'get_diagnostics',
      title: 'Diagnostics',
      description:
        'Diagnostics (errors, warnings…) of one buffer, or of the whole workspace when no buffer is given.',
      inputSchema: {
        buffer: z
          .union([z.number().int().min(0), z.string().min(1)])
          .optional()
          .describe('Buffer id or path; every buffer when omitted.'),
      },
      annotations: RO,
      handler: async (args) => {
        if (args.buffer !== undefined) {
          return withReadBuffer(args.buffer, async (buf) =>
            jsonResult({ diagnostics: await editor.diagnostics(buf.id) }),
          );
        }
        const [roots, all] = await Promise.all([editor.roots(), editor.diagnostics()]);
        return jsonResult({ diagnostics: all.filter((d) => visibleInRoots(d.path, roots)) });
      },
    }),
  );

  store.add(
    registry.register({
      name: 'open_file',
      title: 'Open a file',
      description: 'Shows a workspace file in the current window, at a 1-based line when given.',
      inputSchema: {
        path: z.string().describe('File path, relative to the workspace root.'),
        line: z.number().int().min(1).optional(),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
      // Showing a file changes no data; asking each time would only get in the way.
      approval: 'auto',
      handler: async (args) => {
        const abs = await safePath(args.path);
        return jsonResult(await editor.open(abs, args.line));
      },
    }),
  );

  store.add(
    registry.register({
      name: 'edit_buffer',
      title: 'Edit a buffer',
      description:
        'Edits a buffer with text edits (LSP-style 0-based ranges) or search/replace pairs. ' +
        'The user reviews the change as a diff and accepts or rejects each hunk; the result ' +
        'says which were applied. The buffer is not saved.',
      inputSchema: {
        buffer: bufferRef,
        edits: z
          .array(z.object({ range, newText: z.string() }))
          .optional()
          .describe('Non-overlapping range replacements.'),
        replacements: z
          .array(
            z.object({
              search: z.string().min(1),
              replace: z.string(),
              all: z
                .boolean()
                .optional()
                .describe('Replace every occurrence (default: the first).'),
            }),
          )
          .optional(),
      },
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
      approval: 'review',
      handler: async (args, ctx) => {
        if (!args.edits?.length && !args.replacements?.length) {
          throw new BadRequestError('Give `edits` or `replacements`.');
        }
        const target = await resolveBuffer(args.buffer);
        const { buf } = target;
        const old = await editor.getLines(buf.id, 0, buf.lineCount);
        let lines = old;
        if (args.edits?.length) lines = applyTextEdits(lines, args.edits);
        for (const r of args.replacements ?? []) {
          lines = searchReplace(lines, r.search, r.replace, r.all ?? false);
        }
        return proposeAndApply(ctx, target, lines, false, old);
      },
    }),
  );

  const writeDef = {
    description:
      'Writes a whole file inside the workspace (creating it if needed). The user reviews the ' +
      'change as a diff hunk by hunk; the accepted hunks are written to disk.',
    inputSchema: {
      path: z.string().describe('File path, relative to the workspace root.'),
      content: z.string(),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
    approval: 'review' as const,
    handler: (args: { path: string; content: string }, ctx: ToolContext) =>
      writeFile(ctx, args.path, args.content),
  };
  store.add(registry.register({ name: 'write_file', title: 'Write a file', ...writeDef }));

  const diffDef = {
    description:
      'Applies a unified diff (`diff -u` / `git diff` format) to a workspace file, after the ' +
      'user reviews it hunk by hunk, and saves it.',
    inputSchema: { path: z.string(), diff: z.string() },
    annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
    approval: 'review' as const,
    handler: async (args: { path: string; diff: string }, ctx: ToolContext) => {
      const abs = await safePath(args.path);
      const buf = await editor.bufferForPath(abs, { create: true });
      if (!buf) throw new NotFoundError(`Cannot open ${args.path}.`);
      const lines = await editor.getLines(buf.id, 0, buf.lineCount);
      return proposeAndApply(
        ctx,
        { buf, real: abs },
        applyUnifiedDiff(lines, args.diff),
        true,
        lines,
      );
    },
  };
  store.add(registry.register({ name: 'apply_diff', title: 'Apply a diff', ...diffDef }));

  store.add(
    registry.register({
      name: 'save_buffer',
      title: 'Save a buffer',
      description: 'Writes a buffer to its file.',
      inputSchema: { buffer: bufferRef },
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
      // Checked before the user is asked: a save outside the workspace is refused unasked.
      prepare: async (args) => (await savable(args.buffer)).real,
      handler: async (args) => {
        const { buf, real } = await savable(args.buffer);
        await editor.save(buf.id);
        return jsonResult({ saved: true, buffer: buf.id, path: real });
      },
    }),
  );

  const listDef = {
    description: 'Lists a directory inside the workspace.',
    inputSchema: {
      path: z.string().optional().describe('Directory; the workspace root when omitted.'),
    },
    annotations: RO,
    handler: (args: { path?: string }) => listDir(args.path),
  };
  store.add(registry.register({ name: 'list_directory', title: 'List a directory', ...listDef }));

  store.add(
    registry.register({
      name: 'search',
      title: 'Search',
      description:
        'Searches the open buffers (with unsaved changes) or the workspace files for text or a ' +
        'JavaScript regular expression. Returns path, 1-based line and the line text. A search ' +
        'that runs longer than a few seconds (a regex that backtracks) is stopped with an error.',
      inputSchema: {
        query: z.string().min(1),
        regex: z.boolean().optional(),
        case_sensitive: z.boolean().optional(),
        scope: z.enum(['buffers', 'workspace']).optional().describe('Default: workspace.'),
        max_results: z.number().int().min(1).max(5000).optional(),
      },
      annotations: RO,
      handler: async (args, ctx) => {
        const flags = args.case_sensitive ? '' : 'i';
        let re: RegExp;
        try {
          re = new RegExp(args.regex ? args.query : escapeRe(args.query), flags);
        } catch (err) {
          throw new BadRequestError(`Invalid regular expression: ${(err as Error).message}`);
        }
        const max = args.max_results ?? 200;
        const job: SearchJob = { pattern: re.source, flags, max };
        if (args.scope === 'buffers') {
          job.buffers = [];
          for (const b of await editor.listBuffers()) {
            if (!b.loaded) continue;
            const lines = await editor.getLines(b.id, 0, b.lineCount);
            job.buffers.push({ path: b.path, buffer: b.id, lines });
          }
        } else {
          job.roots = await editor.roots();
        }
        // In a worker with a deadline: a caller's regex must not freeze the host.
        const matches = await searchInWorker(job, ctx.signal);
        return jsonResult({ matches, truncated: matches.length >= max });
      },
    }),
  );

  store.add(
    registry.register({
      name: 'lsp_symbols',
      title: 'Document symbols',
      description: 'Symbols of a buffer from its attached language servers.',
      inputSchema: { buffer: bufferRef },
      annotations: RO,
      handler: (args) =>
        withReadBuffer(args.buffer, async (buf) =>
          jsonResult({ symbols: await editor.symbols(buf.id) }),
        ),
    }),
  );

  store.add(
    registry.register({
      name: 'lsp_definition',
      title: 'Go to definition',
      description:
        'Where the symbol at a 0-based position is defined, from the attached language servers.',
      inputSchema: {
        buffer: bufferRef,
        line: z.number().int().min(0),
        character: z.number().int().min(0),
      },
      annotations: RO,
      handler: (args) =>
        withReadBuffer(args.buffer, async (buf) =>
          jsonResult({
            locations: await editor.definition(buf.id, {
              line: args.line,
              character: args.character,
            }),
          }),
        ),
    }),
  );

  store.add(
    registry.register({
      name: 'tail_file',
      title: 'Tail a file',
      description:
        'Follows a workspace file (a log): sends new lines as progress notifications until the ' +
        'call is cancelled, `max_seconds` pass or `max_lines` arrive; returns the lines seen.',
      inputSchema: {
        path: z.string(),
        lines: z
          .number()
          .int()
          .min(0)
          .max(1000)
          .optional()
          .describe('Lines of history first (default 10).'),
        max_seconds: z.number().min(0).max(3600).optional().describe('Default 300.'),
        max_lines: z.number().int().min(1).max(100000).optional(),
      },
      annotations: RO,
      handler: async (args, ctx) => tailFile(await safePath(args.path), args, ctx),
    }),
  );

  if (opts.zekeAliases !== false) {
    // zeke's client (src/mcp/client.zig) uses the whole result as the file's content: no pages.
    store.add(
      registry.register({
        name: 'fs.read',
        description:
          "Reads a whole file inside the workspace and returns its text as is (zeke's fs.read).",
        inputSchema: { path: z.string().describe('File path, relative to the workspace root.') },
        annotations: RO,
        handler: async (args: { path: string }) => (await readWhole(args.path)).text,
      }),
    );
    store.add(
      registry.register({
        name: 'fs.write',
        ...writeDef,
        description: `${writeDef.description} (zeke's name for write_file)`,
      }),
    );
    store.add(
      registry.register({
        name: 'fs.list',
        ...listDef,
        description: `${listDef.description} (zeke's name for list_directory)`,
      }),
    );
    store.add(
      registry.register({
        name: 'diff.apply',
        ...diffDef,
        description: `${diffDef.description} (zeke's name for apply_diff)`,
      }),
    );
    store.add(
      registry.register({
        name: 'diff.generate',
        description:
          "The unified diff (diff -u) turning the text `old` into `new` (zeke's diff.generate); " +
          'empty when they are equal. diff.apply takes it.',
        inputSchema: { old: z.string(), new: z.string() },
        annotations: RO,
        handler: (args: { old: string; new: string }) =>
          unifiedDiff(textLines(args.old), textLines(args.new)),
      }),
    );
    store.add(
      registry.register({
        name: 'ping',
        description: "Answers pong: zeke's check that the MCP server is there.",
        inputSchema: {},
        annotations: RO,
        handler: () => 'pong',
      }),
    );
  }

  if (opts.unsafe) {
    store.add(
      registry.register({
        name: 'nvim_command',
        title: 'Run an Ex command',
        description:
          'Runs a raw Ex command in Neovim and returns its output. Enabled by mcp.tools.unsafe.',
        inputSchema: { command: z.string().min(1) },
        annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
        approval: 'ask',
        handler: async (args) => editor.command(args.command),
      }),
    );
    store.add(
      registry.register({
        name: 'nvim_lua',
        title: 'Run Lua',
        description:
          'Runs a Lua chunk in Neovim and returns its value as JSON. Enabled by mcp.tools.unsafe.',
        inputSchema: { code: z.string().min(1) },
        annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
        approval: 'ask',
        handler: async (args) => jsonResult({ value: (await editor.lua(args.code)) ?? null }),
      }),
    );
  }

  return store;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function tailFile(
  file: string,
  args: { lines?: number; max_seconds?: number; max_lines?: number },
  ctx: ToolContext,
): Promise<CallToolResult> {
  let offset = 0;
  try {
    const text = await fs.promises.readFile(file, 'utf8');
    offset = Buffer.byteLength(text);
    const history = text.split('\n');
    if (history[history.length - 1] === '') history.pop();
    const first = history.slice(Math.max(0, history.length - (args.lines ?? 10)));
    if (first.length) ctx.progress({ progress: 0, message: first.join('\n') });
  } catch {
    throw new NotFoundError(`${file} does not exist or cannot be read.`);
  }
  const seen: string[] = [];
  const maxLines = args.max_lines ?? 10000;
  let partial = '';
  await new Promise<void>((resolve) => {
    let reading = false;
    let again = false;
    const done = () => {
      watcher.close();
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', done);
      resolve();
    };
    const read = async () => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          const st = await fs.promises.stat(file).catch(() => undefined);
          if (!st) continue;
          if (st.size < offset) offset = 0; // truncated or rotated
          if (st.size === offset) continue;
          const fh = await fs.promises.open(file, 'r');
          try {
            const buf = Buffer.alloc(st.size - offset);
            await fh.read(buf, 0, buf.length, offset);
            offset = st.size;
            const parts = (partial + buf.toString('utf8')).split('\n');
            partial = parts.pop() ?? '';
            if (parts.length) {
              seen.push(...parts);
              ctx.progress({ progress: seen.length, message: parts.join('\n') });
            }
          } finally {
            await fh.close();
          }
        } while (again);
      } finally {
        reading = false;
      }
      if (seen.length >= maxLines) done();
    };
    const watcher = fs.watch(file, () => void read());
    const timer = setTimeout(done, (args.max_seconds ?? 300) * 1000);
    ctx.signal.addEventListener('abort', done, { once: true });
    if (ctx.signal.aborted) done();
    void read();
  });
  return {
    content: [{ type: 'text', text: seen.join('\n') }],
    structuredContent: { path: file, lines: seen.length },
  };
}
