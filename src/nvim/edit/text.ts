/**
 * The text side of `:RuneEdit`: the request sent to the model, the code taken
 * out of its answer (models wrap code in Markdown fences even when told not
 * to), and the live diff drawn while the answer streams. Pure functions.
 */
import { diffLines } from '../../tools/diff.js';

/** `rewrite` replaces the lines; `insert` writes new code where the lines are (an empty range, or `:RuneEdit!`). */
export type EditMode = 'rewrite' | 'insert';

export const EDIT_SYSTEM =
  'You are Rune, a coding assistant inside the Neovim editor. You edit code in place. ' +
  'Reply with the code only: no explanation, no Markdown fences, nothing before or after it. ' +
  'Keep the indentation style of the surrounding code.';

export interface EditRequestText {
  mode: EditMode;
  instruction: string;
  /** The file's name relative to the project root (or `[No Name]`). */
  file: string;
  filetype: string;
  /** The lines to rewrite (empty for insert). */
  lines: readonly string[];
  /** Lines just above and below, for context. */
  before: readonly string[];
  after: readonly string[];
}

/** The user message of an edit request. */
export function editPrompt(r: EditRequestText): string {
  const lang = r.filetype ? ` (${r.filetype})` : '';
  const out = [`Instruction: ${r.instruction}`, '', `File: ${r.file}${lang}`];
  if (r.before.length) out.push('<before>', ...r.before, '</before>');
  if (r.mode === 'rewrite') {
    out.push('<rewrite>', ...r.lines, '</rewrite>');
  } else {
    out.push('<insert-here/>');
  }
  if (r.after.length) out.push('<after>', ...r.after, '</after>');
  out.push(
    '',
    r.mode === 'rewrite'
      ? 'Reply with the new text for the lines inside <rewrite> only.'
      : 'Reply with only the code to insert at <insert-here/>.',
  );
  return out.join('\n');
}

const FENCE = /^\s*(`{3,}|~{3,})/;

/**
 * Takes the code out of a whole answer: the body of its first fenced block
 * when there is one, else the answer itself. Returns the lines (without the
 * final newline); an empty answer is no lines.
 */
export function extractCode(answer: string): string[] {
  const lines = answer.replace(/\r\n/g, '\n').split('\n');
  const open = lines.findIndex((l) => FENCE.test(l));
  let body = lines;
  if (open >= 0) {
    const mark = FENCE.exec(lines[open]!)![1]!;
    const close = lines.findIndex((l, i) => i > open && l.trim() === mark);
    const prose = lines.slice(0, open).some((l) => l.trim());
    // A fence that opens the answer, or prose around one block: the block is the code.
    if (open === 0 || prose || close >= 0) {
      body = lines.slice(open + 1, close >= 0 ? close : undefined);
    }
  }
  while (body.length && body[body.length - 1] === '') body = body.slice(0, -1);
  return body;
}

/**
 * What the buffer shows while the answer streams: the answer as it comes, less an
 * opening fence line, and holding back a last line that may turn out to be the
 * closing fence until the text after it shows it is code. Incremental: each delta
 * costs about its own length, however long the answer grows.
 */
export class LiveText {
  private answer = '';
  private start: number | undefined;
  private shown = 0;

  /** Adds a delta; returns the text to append to what is shown (maybe empty). */
  push(delta: string): string {
    this.answer += delta.replace(/\r\n/g, '\n');
    const a = this.answer;
    if (this.start === undefined) {
      const nl = a.indexOf('\n');
      const first = nl < 0 ? a : a.slice(0, nl);
      if (nl < 0 && /^\s*[`~]*$/.test(first)) return '';
      this.start = FENCE.test(first) ? nl + 1 : 0;
      this.shown = this.start;
    }
    let end = a.length;
    const lastNl = a.lastIndexOf('\n');
    if (/^\s*[`~]/.test(a.slice(lastNl + 1))) end = lastNl + 1;
    else if (lastNl === a.length - 1) {
      const prevNl = a.lastIndexOf('\n', lastNl - 1);
      if (FENCE.test(a.slice(prevNl + 1, lastNl))) end = prevNl + 1;
    }
    if (end <= this.shown) return '';
    const out = a.slice(this.shown, end);
    this.shown = end;
    return out;
  }

  /** The whole answer so far. */
  get text(): string {
    return this.answer;
  }
}

const LIVE_MAX_D = 200;

/** One hunk as the Lua side draws it, in rows of the new text. */
export interface DrawHunk {
  /** First row of the hunk in the new text (0-based, relative to the region). */
  row: number;
  /** How many new lines the hunk has (highlighted as added). */
  add: number;
  /** The old lines it replaces (shown as virtual lines above `row`). */
  del: string[];
}

/** The live diff of the region: hunks, and the old lines the stream has not reached yet. */
export interface LiveDiff {
  hunks: DrawHunk[];
  pending: string[];
}

/**
 * Diffs the original lines against the complete lines streamed so far. The
 * old lines after the last line the stream has matched are `pending` (not yet
 * removed: the stream may still reach them); when `done`, they are removed.
 */
export function liveDiff(
  original: readonly string[],
  current: readonly string[],
  done: boolean,
): LiveDiff {
  // While streaming this runs once a frame: past a few hundred differences the
  // rest shows as one hunk rather than stall the stream.
  const hunks = diffLines(original, current, done ? undefined : LIVE_MAX_D);
  const out: DrawHunk[] = [];
  let shift = 0;
  let pending: string[] = [];
  for (const h of hunks) {
    const row = h.start + shift;
    shift += h.newLines.length - h.oldLines.length;
    const last = h === hunks[hunks.length - 1];
    if (!done && last && h.start + h.oldLines.length === original.length) {
      pending = h.oldLines;
      if (h.newLines.length) out.push({ row, add: h.newLines.length, del: [] });
      continue;
    }
    out.push({ row, add: h.newLines.length, del: h.oldLines });
  }
  return { hunks: out, pending };
}
