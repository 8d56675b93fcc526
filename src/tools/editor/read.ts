/** Tools that read what Neovim holds: buffers, the cursor, the selection, diagnostics; search. */
import { z } from 'zod';
import type { Disposable } from '../../core/disposable.js';
import { BadRequestError } from '../../core/errors.js';
import { visibleInRoots } from '../paths.js';
import type { Diagnostic } from '../editor.js';
import { jsonResult, type ToolRegistry } from '../registry.js';
import { searchInWorker, type SearchJob } from '../search.js';
import { bufferRef, lineArgs, PAGE_LINES, RO, type EditorKit } from './kit.js';

export function registerReadTools(registry: ToolRegistry, kit: EditorKit): Disposable[] {
  const { editor, page, pageResult, withReadBuffer, safePath } = kit;
  return [
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

    registry.register({
      name: 'get_cursor',
      title: 'Cursor position',
      description: 'The cursor: buffer, path, 0-based position and mode.',
      inputSchema: {},
      annotations: RO,
      handler: async () => jsonResult(await editor.cursor()),
    }),

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
          // By id: asked for together with the buffer check, returned only once it passed.
          let early: Promise<Diagnostic[]> | undefined;
          if (typeof args.buffer === 'number') {
            early = editor.diagnostics(args.buffer);
            early.catch(() => undefined);
          }
          return withReadBuffer(args.buffer, async (buf) =>
            jsonResult({ diagnostics: await (early ?? editor.diagnostics(buf.id)) }),
          );
        }
        const [roots, all] = await Promise.all([editor.roots(), editor.diagnostics()]);
        return jsonResult({ diagnostics: all.filter((d) => visibleInRoots(d.path, roots)) });
      },
    }),

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
  ];
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
