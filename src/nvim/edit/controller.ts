/**
 * `:RuneEdit`: asks the chat provider to rewrite lines of a buffer (or to write
 * new code into it) and streams the answer into the buffer itself, coalesced by
 * a StreamWriter, with the live diff against the original drawn beside it. The
 * Lua side (lua/rune/edit.lua) owns the region in the buffer (extmark-anchored,
 * so the user's edits elsewhere move it) and the review that follows: accept
 * or reject all, or hunk by hunk, and the undo history. This file decides what
 * is asked and what is drawn.
 */
import type { NeovimClient } from 'neovim';
import { z } from 'zod';
import * as path from 'node:path';
import {
  BadRequestError,
  NotFoundError,
  StateError,
  isAbort,
  toRuneError,
} from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ChatConfig } from '../chat/controller.js';
import { metrics, METRICS } from '../../core/metrics.js';
import type { ProviderRegistry, Usage } from '../../providers/types.js';
import { execLua } from '../chat/lua.js';
import { StreamWriter } from '../chat/stream-writer.js';
import { collectContext, parseContextRefs, promptWithContext } from '../chat/context.js';
import { errorLine } from '../chat/render.js';
import { blockAt, namedFile, place, sentCode, type SentCode } from './apply.js';
import { expandPrompt, findPrompt, promptFacts, type Prompt } from '../prompts.js';
import {
  EDIT_SYSTEM,
  editPrompt,
  extractCode,
  liveDiff,
  LiveText,
  type EditMode,
  type LiveDiff,
} from './text.js';

/** What lua/rune/edit.lua sends with `rune.edit.start`. */
export const startSchema = z.object({
  buf: z.number().int(),
  root: z.string().min(1),
  name: z.string(),
  filetype: z.string(),
  /** First row of the region (0-based). */
  row: z.number().int().min(0),
  /** The region's lines (none for `:RuneEdit!`). */
  lines: z.array(z.string()),
  before: z.array(z.string()),
  after: z.array(z.string()),
  mode: z.enum(['rewrite', 'insert']),
  instruction: z.string(),
});
export type StartArgs = z.infer<typeof startSchema>;

/** What lua/rune/edit.lua sends with `rune.edit.apply`: the chat buffer and the row of the block. */
export const applySchema = z.object({
  chat: z.number().int(),
  row: z.number().int().min(0),
  root: z.string().min(1),
});
export type ApplyArgs = z.infer<typeof applySchema>;

/** What :RuneEdit reads of the `chat` section. */
export type EditConfig = Pick<ChatConfig, 'provider' | 'model' | 'frame_ms' | 'max_context_chars'>;

export interface EditControllerOptions {
  nvim: NeovimClient;
  logger: Logger;
  registry: () => ProviderRegistry;
  prompts: () => readonly Prompt[];
  /** The system prompt's additions (project instructions), read per edit. */
  instructions?: (root: string) => Promise<string | undefined>;
  config: EditConfig;
}

interface Active {
  buf: number;
  abort: AbortController;
  done: Promise<void>;
}

export class EditController {
  private readonly active = new Map<number, Active>();
  private nextId = 1;

  constructor(private readonly opts: EditControllerOptions) {}

  /** Starts an edit; resolves once the region is set up and the request sent. */
  async start(args: StartArgs): Promise<{ id: number }> {
    for (const a of this.active.values()) {
      if (a.buf === args.buf) {
        throw new StateError(
          'A Rune edit is already streaming in this buffer; stop it with <C-c> first.',
        );
      }
    }
    let mode: EditMode = args.mode;
    let row = args.row;
    let original = args.lines;
    let before = args.before;
    let instruction = args.instruction.trim();
    const found = findPrompt(this.opts.prompts(), instruction);
    if (found) {
      const { prompt } = found;
      if (prompt.edit === 'none') {
        throw new BadRequestError(
          `/${prompt.name} answers in the chat, not in the buffer: select the lines and run :RuneChat /${prompt.name}.`,
        );
      }
      const facts = await promptFacts(
        this.opts.nvim,
        args.buf,
        args.root,
        args.lines.length
          ? { line1: args.row + 1, line2: args.row + args.lines.length }
          : undefined,
      );
      instruction = expandPrompt(found, facts);
      if (prompt.edit === 'insert' && mode === 'rewrite' && args.lines.some((l) => l.trim())) {
        // New code goes after the lines it is about; the lines stay as they are.
        mode = 'insert';
        row = args.row + args.lines.length;
        before = [...args.before, ...args.lines].slice(-40);
        original = [];
      }
    }
    if (!instruction) {
      throw new BadRequestError(
        'Say what to change: :RuneEdit {instruction}, or a prompt such as :RuneEdit /fix.',
      );
    }
    // An empty (blank) range is a place to write new code.
    const writeNew = mode === 'insert' || original.every((l) => !l.trim());
    const context = await collectContext(parseContextRefs(instruction), {
      nvim: this.opts.nvim,
      root: args.root,
      sourceBuf: args.buf,
      selection: original.length
        ? {
            buf: args.buf,
            name: args.name,
            filetype: args.filetype,
            line1: row + 1,
            line2: row + original.length,
            lines: [...original],
          }
        : undefined,
      maxChars: this.opts.config.max_context_chars,
    });
    const provider = this.opts.registry().get('chat', this.opts.config.provider);
    const model =
      this.opts.config.model ??
      this.opts
        .registry()
        .list()
        .find((p) => p.id === provider.id)?.model;
    const extra = await this.opts.instructions?.(args.root);
    const system = extra ? `${EDIT_SYSTEM}\n\n${extra}` : EDIT_SYSTEM;
    const content = promptWithContext(
      editPrompt({
        mode: writeNew ? 'insert' : 'rewrite',
        instruction,
        file: relName(args.name, args.root),
        filetype: args.filetype,
        lines: original,
        before,
        after: args.after,
      }),
      context,
    );

    const id = this.nextId++;
    const ok = await execLua<boolean>(this.opts.nvim, 'return require("rune.edit")._begin(...)', [
      id,
      args.buf,
      row,
      original,
      `${provider.id}${model ? `/${model}` : ''}`,
    ]);
    if (!ok) throw new StateError('The buffer is gone.');

    const abort = new AbortController();
    const active: Active = { buf: args.buf, abort, done: Promise.resolve() };
    this.active.set(id, active);
    let written = '';
    const writer = new StreamWriter(
      (delta) => {
        written += delta;
        const lines = written.split('\n');
        const diff = liveDiff(original, lines.slice(0, -1), false);
        return execLua<boolean>(this.opts.nvim, 'return require("rune.edit")._write(...)', [
          id,
          delta,
          diff,
        ]);
      },
      {
        frameMs: this.opts.config.frame_ms,
        onGone: (err) => {
          if (err) this.opts.logger.warn('edit buffer write failed', { err });
          abort.abort(new StateError('The buffer was closed.'));
        },
      },
    );
    const log = this.opts.logger;
    active.done = (async () => {
      const live = new LiveText();
      let usage: Usage | undefined;
      let result:
        | { status: 'done'; lines: string[]; diff: LiveDiff }
        | { status: 'cancelled' }
        | { status: 'error'; message: string };
      try {
        for await (const ev of provider.chat(
          { ...(model ? { model } : {}), system, messages: [{ role: 'user', content }] },
          { signal: abort.signal },
        )) {
          if (ev.type === 'text') {
            writer.push(live.push(ev.delta));
          } else if (ev.type === 'done') {
            usage = ev.usage;
          }
          if (abort.signal.aborted) break;
        }
        if (abort.signal.aborted) throw abort.signal.reason;
        await writer.flush();
        const lines = extractCode(live.text);
        result = { status: 'done', lines, diff: liveDiff(original, lines, true) };
      } catch (err) {
        if (isAbort(err) || abort.signal.aborted) {
          result = { status: 'cancelled' };
        } else {
          metrics.counter(METRICS.errors).inc({ type: toRuneError(err).code, area: 'edit' });
          log.error('edit failed', { provider: provider.id, err });
          result = {
            status: 'error',
            message: errorLine(err, provider.id).replace(/^> \[!ERROR\] /, ''),
          };
        }
      }
      writer.close();
      this.active.delete(id);
      log.info('edit written', {
        id,
        status: result.status,
        writes: writer.writes,
        chars: writer.chars,
        ...(usage ? { usage } : {}),
      });
      await execLua(this.opts.nvim, 'return require("rune.edit")._done(...)', [id, result]).catch(
        (err: unknown) => log.warn('edit buffer write failed', { err }),
      );
    })();
    return { id };
  }

  /**
   * Applies the code block at `row` of chat buffer `chat` to the file it names (or
   * whose code its question sent): opens the file, places the block by matching its
   * lines against the current text, and starts the same review as :RuneEdit. When
   * the text changed since the model saw it, the review says so and the diff is
   * against the current text. Nothing changes when the block cannot be placed.
   */
  async apply(args: ApplyArgs): Promise<{ id: number }> {
    const chat = (await this.opts.nvim.request('nvim_buf_get_lines', [
      args.chat,
      0,
      -1,
      false,
    ])) as string[];
    const block = blockAt(chat, args.row);
    if (!block) {
      throw new BadRequestError('Put the cursor inside a code block of an answer, then apply it.');
    }
    const sent = sentCode(chat, args.row);
    const named = namedFile(block.info, block.lineBefore);
    const abs = (name: string) => path.resolve(args.root, name);
    let target: string | undefined;
    let seen: SentCode | undefined;
    if (named) {
      target = abs(named);
      seen = sent.find((s) => abs(s.name) === target);
    } else {
      seen =
        sent.find((s) => s.kind === 'selection') ??
        sent.find((s) => s.kind === 'buffer') ??
        sent.find((s) => s.kind === 'file');
      if (seen) target = abs(seen.name);
    }
    if (!target) {
      throw new BadRequestError(
        'This block names no file and its question sent none: name it in the fence (```lua path/to/file.lua), or paste it yourself.',
      );
    }
    const buf = await execLua<number>(this.opts.nvim, 'return require("rune.edit")._show(...)', [
      target,
    ]);
    const now = (await this.opts.nvim.request('nvim_buf_get_lines', [
      buf,
      0,
      -1,
      false,
    ])) as string[];
    const file = relName(target, args.root);
    const placed = place(now, block.lines, seen);
    if (!placed) {
      throw new NotFoundError(
        `Cannot find where this block goes in ${file}: its lines match nothing there (the file changed, or the block is new code). Nothing was changed; select the lines and use :RuneEdit, or paste it yourself.`,
      );
    }
    const original = now.slice(placed.region.start, placed.region.end);
    const id = this.nextId++;
    const note = placed.conflict
      ? `CONFLICT: ${file} changed since the answer; the diff is against its current text`
      : undefined;
    const ok = await execLua<boolean>(this.opts.nvim, 'return require("rune.edit")._begin(...)', [
      id,
      buf,
      placed.region.start,
      original,
      'chat',
      note ?? null,
    ]);
    if (!ok) throw new StateError('The buffer is gone.');
    await execLua(this.opts.nvim, 'return require("rune.edit")._done(...)', [
      id,
      { status: 'done', lines: block.lines, diff: liveDiff(original, block.lines, true) },
    ]);
    this.opts.logger.info('chat block applied', { id, file, conflict: placed.conflict });
    return { id };
  }

  /** Stops the edit `id` (every edit when absent); true when one was stopped. */
  async stop(id?: number): Promise<boolean> {
    const targets = [...this.active.entries()].filter(([k]) => id === undefined || k === id);
    for (const [, a] of targets) a.abort.abort(new StateError('stopped'));
    await Promise.all(targets.map(([, a]) => a.done));
    return targets.length > 0;
  }

  /** Waits until every edit has ended (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.active.values()].map((a) => a.done));
  }

  dispose(): void {
    for (const a of this.active.values()) a.abort.abort(new StateError('host stopping'));
  }
}

function relName(name: string, root: string): string {
  if (!name) return '[No Name]';
  return name.startsWith(`${root}/`) ? name.slice(root.length + 1) : name;
}
