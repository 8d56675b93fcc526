/**
 * Tools that change text: every change is shown to the user as hunks and only
 * the accepted ones are applied (`EditorKit.proposeAndApply`); saving a buffer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { Disposable } from '../../core/disposable.js';
import { BadRequestError, NotFoundError } from '../../core/errors.js';
import {
  applyTextEdits,
  editSpan,
  applyUnifiedDiff,
  searchReplace,
  textLines,
  unifiedDiff,
} from '../diff.js';
import { jsonResult, type ToolContext, type ToolRegistry } from '../registry.js';
import { bufferRef, range, RO, type EditorKit } from './kit.js';

/** `zeke` also registers zeke's names (`fs.write`, `diff.apply`, `diff.generate`). */
export function registerEditTools(
  registry: ToolRegistry,
  kit: EditorKit,
  zeke: boolean,
): Disposable[] {
  const { editor, safePath, resolveBuffer, proposeAndApply } = kit;

  const savable = async (ref: number | string | undefined) => {
    const r = await resolveBuffer(ref);
    if (!r.real) throw new BadRequestError(`Buffer ${r.buf.id} has no file name to save to.`);
    return r;
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

  const out = [
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
        if (!args.replacements?.length) {
          // Range edits read only the lines they touch: a small edit costs the same in a
          // 10-line and a 10,000-line buffer.
          const { from, to, edits } = editSpan(args.edits!, buf.lineCount);
          const old = await editor.getLines(buf.id, from, to);
          return proposeAndApply(ctx, target, applyTextEdits(old, edits), false, old, from);
        }
        const old = await editor.getLines(buf.id, 0, buf.lineCount);
        let lines = old;
        if (args.edits?.length) lines = applyTextEdits(lines, args.edits);
        for (const r of args.replacements) {
          lines = searchReplace(lines, r.search, r.replace, r.all ?? false);
        }
        return proposeAndApply(ctx, target, lines, false, old);
      },
    }),

    registry.register({ name: 'write_file', title: 'Write a file', ...writeDef }),

    registry.register({ name: 'apply_diff', title: 'Apply a diff', ...diffDef }),

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
  ];
  if (!zeke) return out;
  return [
    ...out,
    registry.register({
      name: 'fs.write',
      ...writeDef,
      description: `${writeDef.description} (zeke's name for write_file)`,
    }),
    registry.register({
      name: 'diff.apply',
      ...diffDef,
      description: `${diffDef.description} (zeke's name for apply_diff)`,
    }),
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
  ];
}
