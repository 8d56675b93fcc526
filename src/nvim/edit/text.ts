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
 * What the buffer shows while the answer streams: the answer as it came, less an
 * opening fence line and anything that may turn out to be the closing fence (it is
 * held back until the next line shows it is code).
 */
export function liveText(answer: string): string {
  let text = answer.replace(/\r\n/g, '\n');
  const first = text.indexOf('\n');
  if (FENCE.test(first < 0 ? text : text.slice(0, first))) {
    text = first < 0 ? '' : text.slice(first + 1);
  }
  const lastNl = text.lastIndexOf('\n');
  const tail = text.slice(lastNl + 1);
  if (/^\s*[`~]/.test(tail)) text = text.slice(0, lastNl + 1);
  const m = /\n\s*(`{3,}|~{3,})\s*\n?$/.exec(text);
  if (m) text = text.slice(0, m.index + 1);
  return text;
}

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
  const hunks = diffLines(original, current);
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
