/**
 * Line diffs for edit review: proposed edits become hunks the user accepts or
 * rejects one by one, and the accepted ones become line edits. Hand-written
 * because none of the installed dependencies offers a line diff, and the need
 * is small: hunks over whole lines.
 */
import { BadRequestError } from '../core/errors.js';
import type { LineEdit, Range } from './editor.js';
import type { Hunk } from './registry.js';

/**
 * The hunks turning `a` into `b` (Myers' O(ND) algorithm, no context lines).
 * Past `maxD` differences (default 2000) the middle becomes one hunk.
 */
export function diffLines(a: readonly string[], b: readonly string[], maxD = 2000): Hunk[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (
    suf < a.length - pre &&
    suf < b.length - pre &&
    a[a.length - 1 - suf] === b[b.length - 1 - suf]
  ) {
    suf++;
  }
  const A = a.slice(pre, a.length - suf);
  const B = b.slice(pre, b.length - suf);
  const n = A.length;
  const m = B.length;
  if (n === 0 && m === 0) return [];
  const max = n + m;
  // Past this many differences a single hunk is as readable and far cheaper.
  const limit = Math.min(max, maxD);
  const v = new Map<number, number>([[1, 0]]);
  const trace: Map<number, number>[] = [];
  let found = false;
  for (let d = 0; d <= limit && !found; d++) {
    trace.push(new Map(v));
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && (v.get(k - 1) ?? -1) < (v.get(k + 1) ?? -1))
          ? (v.get(k + 1) ?? 0)
          : (v.get(k - 1) ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && A[x] === B[y]) {
        x++;
        y++;
      }
      v.set(k, x);
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }
  if (!found) return [{ start: pre, oldLines: A.slice(), newLines: B.slice() }];
  // Walk back through the trace to recover the edit script as (x, y) moves.
  const ops: ('=' | '-' | '+')[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d]!;
    const k = x - y;
    const prevK =
      k === -d || (k !== d && (vd.get(k - 1) ?? -1) < (vd.get(k + 1) ?? -1)) ? k + 1 : k - 1;
    const prevX = vd.get(prevK) ?? 0;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push('=');
      x--;
      y--;
    }
    if (d > 0) {
      if (x === prevX) {
        ops.push('+');
        y--;
      } else {
        ops.push('-');
        x--;
      }
    }
  }
  ops.reverse();
  const hunks: Hunk[] = [];
  let ai = 0;
  let bi = 0;
  let cur: Hunk | undefined;
  for (const op of ops) {
    if (op === '=') {
      if (cur) hunks.push(cur);
      cur = undefined;
      ai++;
      bi++;
    } else {
      cur ??= { start: pre + ai, oldLines: [], newLines: [] };
      if (op === '-') cur.oldLines.push(A[ai++]!);
      else cur.newLines.push(B[bi++]!);
    }
  }
  if (cur) hunks.push(cur);
  return hunks;
}

/** The line edits for the accepted hunks (indexes into `hunks`). */
export function acceptedEdits(hunks: readonly Hunk[], accepted: readonly number[]): LineEdit[] {
  const set = new Set(accepted);
  return hunks
    .filter((_, i) => set.has(i))
    .map((h) => ({ start: h.start, end: h.start + h.oldLines.length, lines: h.newLines }));
}

/** A text edit as tools receive it: a character range and its replacement. */
export interface TextEdit {
  range: Range;
  newText: string;
}

/**
 * Applies character-range edits to `lines` and returns the new lines. Edits
 * must not overlap; positions past a line's end (or past the last line) are
 * clamped. Only the lines an edit touches are split into characters, so a
 * small edit in a large buffer stays cheap.
 */
export function applyTextEdits(lines: readonly string[], edits: readonly TextEdit[]): string[] {
  const last = Math.max(0, lines.length - 1);
  const lineAt = (n: number) => lines[n] ?? '';
  const clamp = (p: { line: number; character: number }) => {
    if (p.line < 0 || p.character < 0) throw new BadRequestError('Positions must not be negative.');
    if (p.line > last) return { line: last, character: cpLength(lineAt(last)) };
    return { line: p.line, character: Math.min(p.character, cpLength(lineAt(p.line))) };
  };
  const before = (a: { line: number; character: number }, b: { line: number; character: number }) =>
    a.line < b.line || (a.line === b.line && a.character < b.character);
  const spans = edits
    .map((e) => ({ from: clamp(e.range.start), to: clamp(e.range.end), text: e.newText }))
    .sort((p, q) => (before(p.from, q.from) ? -1 : before(q.from, p.from) ? 1 : 0));
  for (let i = 0; i < spans.length; i++) {
    const sp = spans[i]!;
    if (before(sp.to, sp.from)) throw new BadRequestError('An edit range ends before it starts.');
    if (i > 0 && before(sp.from, spans[i - 1]!.to)) {
      throw new BadRequestError('Edits overlap; send non-overlapping ranges.');
    }
  }
  const out: string[] = [];
  let cur = { line: 0, character: 0 };
  let partial = '';
  for (const sp of spans) {
    if (sp.from.line === cur.line) {
      partial += cpSlice(lineAt(cur.line), cur.character, sp.from.character);
    } else {
      out.push(partial + cpSlice(lineAt(cur.line), cur.character));
      for (let l = cur.line + 1; l < sp.from.line; l++) out.push(lineAt(l));
      partial = cpSlice(lineAt(sp.from.line), 0, sp.from.character);
    }
    const parts = sp.text.split('\n');
    partial += parts[0]!;
    for (const part of parts.slice(1)) {
      out.push(partial);
      partial = part;
    }
    cur = sp.to;
  }
  out.push(partial + cpSlice(lineAt(cur.line), cur.character));
  for (let l = cur.line + 1; l < lines.length; l++) out.push(lineAt(l));
  return out;
}

/**
 * The rows `from`..`to` (0-based, end exclusive) that `edits` touch in a buffer of
 * `lineCount` lines, and the edits moved to start at row `from`. A position past the
 * last line stands for the end of the last line, as `applyTextEdits` clamps it.
 */
export function editSpan(
  edits: readonly TextEdit[],
  lineCount: number,
): { from: number; to: number; edits: TextEdit[] } {
  const last = Math.max(0, lineCount - 1);
  const pin = (p: { line: number; character: number }) =>
    p.line > last ? { line: last, character: Number.MAX_SAFE_INTEGER } : p;
  const pinned = edits.map((e) => ({
    range: { start: pin(e.range.start), end: pin(e.range.end) },
    newText: e.newText,
  }));
  let from = last;
  let to = 0;
  for (const e of pinned) {
    from = Math.max(0, Math.min(from, e.range.start.line, e.range.end.line));
    to = Math.max(to, e.range.start.line, e.range.end.line);
  }
  const at = (p: { line: number; character: number }) => ({
    line: p.line < 0 ? p.line : p.line - from,
    character: p.character,
  });
  return {
    from,
    to: Math.min(to, last) + 1,
    edits: pinned.map((e) => ({
      range: { start: at(e.range.start), end: at(e.range.end) },
      newText: e.newText,
    })),
  };
}

// eslint-disable-next-line no-control-regex
const ASCII = /^[\u0000-\u007f]*$/;

function cpLength(s: string): number {
  return ASCII.test(s) ? s.length : Array.from(s).length;
}

function cpSlice(s: string, from: number, to?: number): string {
  return ASCII.test(s) ? s.slice(from, to) : Array.from(s).slice(from, to).join('');
}

/** Replaces `search` by `replace` (the first or every occurrence); throws when it is absent. */
export function searchReplace(
  lines: readonly string[],
  search: string,
  replace: string,
  all: boolean,
): string[] {
  const text = lines.join('\n');
  if (search === '') throw new BadRequestError('The search text is empty.');
  if (!text.includes(search)) {
    throw new BadRequestError(
      `The search text was not found: ${JSON.stringify(search.slice(0, 80))}. Read the buffer again and retry.`,
    );
  }
  const out = all ? text.split(search).join(replace) : text.replace(search, () => replace);
  return out.split('\n');
}

/**
 * Applies a unified diff (as `diff -u` or `git diff` prints it) to `lines`.
 * Context and removed lines must match; throws a BadRequestError naming the
 * first hunk that does not.
 */
export function applyUnifiedDiff(lines: readonly string[], diff: string): string[] {
  const out = lines.slice();
  const parsed: { oldStart: number; remove: string[]; add: string[]; context: string[] }[] = [];
  const text = diff.replace(/\r\n/g, '\n').split('\n');
  let i = 0;
  while (i < text.length) {
    const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(text[i]!);
    i++;
    if (!m) continue;
    const oldLines: string[] = [];
    const newLines: string[] = [];
    let oldLeft = m[2] === undefined ? 1 : Number(m[2]);
    let newLeft = m[4] === undefined ? 1 : Number(m[4]);
    while (i < text.length && !text[i]!.startsWith('@@')) {
      const l = text[i]!;
      // Within the header's counts every line is the hunk's, even one that begins with `---`
      // or `+++` (a removed `-- comment` of Lua or SQL); past them (senders often miscount)
      // a file header ends the hunk.
      if (oldLeft <= 0 && newLeft <= 0) {
        if (l.startsWith('---') || l.startsWith('+++') || l.startsWith('diff ')) break;
      }
      if (l.startsWith(' ')) {
        oldLines.push(l.slice(1));
        newLines.push(l.slice(1));
        oldLeft--;
        newLeft--;
      } else if (l.startsWith('-')) {
        oldLines.push(l.slice(1));
        oldLeft--;
      } else if (l.startsWith('+')) {
        newLines.push(l.slice(1));
        newLeft--;
      } else if (l === '') {
        // A blank context line whose leading space was trimmed by the sender.
        if (i < text.length - 1) {
          oldLines.push('');
          newLines.push('');
          oldLeft--;
          newLeft--;
        }
      }
      i++;
    }
    parsed.push({
      oldStart: Math.max(0, Number(m[1]) - 1),
      remove: oldLines,
      add: newLines,
      context: [],
    });
  }
  if (parsed.length === 0) throw new BadRequestError('The diff has no hunks (no "@@ … @@" line).');
  let shift = 0;
  for (const [n, h] of parsed.entries()) {
    const at = findBlock(out, h.remove, h.oldStart + shift);
    if (at < 0) {
      throw new BadRequestError(
        `Hunk ${n + 1} of the diff does not match the file; read the file again and send a fresh diff.`,
      );
    }
    out.splice(at, h.remove.length, ...h.add);
    shift = at - h.oldStart + h.add.length - h.remove.length;
  }
  return out;
}

function findBlock(lines: readonly string[], block: readonly string[], near: number): number {
  const fits = (at: number) => block.every((l, j) => lines[at + j] === l);
  if (block.length === 0) return Math.min(near, lines.length);
  for (let d = 0; d < lines.length; d++) {
    if (near - d >= 0 && fits(near - d)) return near - d;
    if (near + d + block.length <= lines.length && fits(near + d)) return near + d;
    if (near - d < 0 && near + d >= lines.length) break;
  }
  return -1;
}

/** The lines of a text as files hold them: a final newline ends the last line. */
export function textLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * A unified diff (`diff -u` format, `context` lines around each change) turning `a` into
 * `b`; empty when they are equal. `applyUnifiedDiff(a, unifiedDiff(a, b))` is `b`.
 */
export function unifiedDiff(
  a: readonly string[],
  b: readonly string[],
  names = { from: 'a', to: 'b' },
  context = 3,
): string {
  const hunks = diffLines(a, b);
  if (hunks.length === 0) return '';
  const out = [`--- ${names.from}`, `+++ ${names.to}`];
  let shift = 0; // new-file lines minus old-file lines before the current group
  for (let g = 0; g < hunks.length;) {
    let last = g;
    while (
      last + 1 < hunks.length &&
      hunks[last + 1]!.start - (hunks[last]!.start + hunks[last]!.oldLines.length) <= 2 * context
    ) {
      last++;
    }
    const from = Math.max(0, hunks[g]!.start - context);
    const to = Math.min(a.length, hunks[last]!.start + hunks[last]!.oldLines.length + context);
    const body: string[] = [];
    let grow = 0;
    let i = from;
    for (let h = g; h <= last; h++) {
      const hk = hunks[h]!;
      for (; i < hk.start; i++) body.push(` ${a[i]!}`);
      for (const l of hk.oldLines) body.push(`-${l}`);
      for (const l of hk.newLines) body.push(`+${l}`);
      i += hk.oldLines.length;
      grow += hk.newLines.length - hk.oldLines.length;
    }
    for (; i < to; i++) body.push(` ${a[i]!}`);
    const oldCount = to - from;
    const newCount = oldCount + grow;
    const newFrom = from + shift;
    out.push(
      `@@ -${oldCount === 0 ? from : from + 1},${oldCount} +${newCount === 0 ? newFrom : newFrom + 1},${newCount} @@`,
      ...body,
    );
    shift += grow;
    g = last + 1;
  }
  return `${out.join('\n')}\n`;
}
