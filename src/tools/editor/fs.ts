/** Tools that read the workspace's files on disk: read, list, follow (tail). */
import * as fs from 'node:fs';
import { z } from 'zod';
import type { Disposable } from '../../core/disposable.js';
import { NotFoundError } from '../../core/errors.js';
import { textLines } from '../diff.js';
import {
  jsonResult,
  type CallToolResult,
  type ToolContext,
  type ToolRegistry,
} from '../registry.js';
import { lineArgs, PAGE_LINES, RO, type EditorKit } from './kit.js';

/** `zeke` also registers zeke's names (`fs.read`, `fs.list`). */
export function registerFsTools(
  registry: ToolRegistry,
  kit: EditorKit,
  zeke: boolean,
): Disposable[] {
  const { safePath, page, pageResult, readWhole } = kit;

  const readFileRange = async (p: string, start?: number, end?: number) => {
    const { abs, text } = await readWhole(p);
    const lines = textLines(text);
    const { s, e } = page(lines.length, start, end);
    return pageResult({ path: abs }, lines.slice(s - 1, e).join('\n'), s, e, lines.length);
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

  const listDef = {
    description: 'Lists a directory inside the workspace.',
    inputSchema: {
      path: z.string().optional().describe('Directory; the workspace root when omitted.'),
    },
    annotations: RO,
    handler: (args: { path?: string }) => listDir(args.path),
  };

  const out = [
    registry.register({
      name: 'read_file',
      title: 'Read a file',
      description: `Reads a file inside the workspace from disk, ${PAGE_LINES} lines at a time.`,
      inputSchema: {
        path: z.string().describe('File path, relative to the workspace root.'),
        ...lineArgs,
      },
      annotations: RO,
      handler: (args: { path: string; start_line?: number; end_line?: number }) =>
        readFileRange(args.path, args.start_line, args.end_line),
    }),

    registry.register({ name: 'list_directory', title: 'List a directory', ...listDef }),

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
  ];
  if (!zeke) return out;
  return [
    ...out,
    // zeke's client (src/mcp/client.zig) uses the whole result as the file's content: no pages.
    registry.register({
      name: 'fs.read',
      description:
        "Reads a whole file inside the workspace and returns its text as is (zeke's fs.read).",
      inputSchema: { path: z.string().describe('File path, relative to the workspace root.') },
      annotations: RO,
      handler: async (args: { path: string }) => (await readWhole(args.path)).text,
    }),
    registry.register({
      name: 'fs.list',
      ...listDef,
      description: `${listDef.description} (zeke's name for list_directory)`,
    }),
  ];
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
