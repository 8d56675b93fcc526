/**
 * Applying a code block from a chat answer to the file it names or came from.
 * Pure functions: which file the block is for (its fence, the line before it,
 * or the context its question sent), where in the file's current text it goes
 * (by matching its lines, not line numbers), and whether that text changed
 * since the model saw it.
 */
import { diffLines } from '../../tools/diff.js';
import { CONTEXT_OPEN, CONTEXT_CLOSE, USER_HEADER } from '../chat/render.js';

/** Code the question that led to an answer sent along: a selection, a buffer or a file. */
export interface SentCode {
  kind: 'selection' | 'buffer' | 'file';
  /** The name as the chat shows it (relative to the project root, or absolute). */
  name: string;
  /** For a selection: its first line (1-based). */
  line1?: number;
  lines: string[];
}

/**
 * The code sent with the question above `row` of a chat buffer, read back from
 * the folded context block the chat shows (render.ts writes it).
 */
export function sentCode(chat: readonly string[], row: number): SentCode[] {
  let q = -1;
  for (let i = Math.min(row, chat.length - 1); i >= 0; i--) {
    if (chat[i] === USER_HEADER) {
      q = i;
      break;
    }
  }
  if (q < 0) return [];
  const out: SentCode[] = [];
  let i = q + 1;
  while (i < chat.length && !chat[i]!.startsWith(CONTEXT_OPEN)) {
    if (chat[i]!.startsWith('## ')) return [];
    i++;
  }
  for (; i < chat.length && chat[i] !== CONTEXT_CLOSE; i++) {
    const label =
      /^#(selection) (.+):(\d+)-\d+:$/.exec(chat[i]!) ??
      /^#(buffer) (.+):$/.exec(chat[i]!) ??
      /^#(file):(.+):$/.exec(chat[i]!);
    if (!label) continue;
    const fence = /^(`{3,})/.exec(chat[i + 2] ?? '');
    if (!fence) continue;
    const end = chat.findIndex((l, k) => k > i + 2 && l === fence[1]);
    if (end < 0) continue;
    out.push({
      kind: label[1] as SentCode['kind'],
      name: label[2]!,
      ...(label[3] ? { line1: Number(label[3]) } : {}),
      lines: chat.slice(i + 3, end),
    });
    i = end;
  }
  return out;
}

/**
 * A file name the block itself gives: in its fence (```lua src/a.lua, ```src/a.lua,
 * ```lua:src/a.lua) or on the line before it (`src/a.lua`:, File: src/a.lua).
 */
export function namedFile(info: string, lineBefore: string): string | undefined {
  const words = info
    .trim()
    .split(/[\s:]+/)
    .filter(Boolean);
  const inFence = words.find((w) => /[./]/.test(w));
  if (inFence) return inFence;
  const m =
    /`([^`\s]+\.[\w]+)`/.exec(lineBefore) ??
    /(?:^|\s)([\w./-]+\/[\w.-]+|[\w-]+\.\w+):?\s*$/.exec(lineBefore);
  return m?.[1];
}

/** A region of lines, 0-based, end exclusive. */
export interface Region {
  start: number;
  end: number;
}

/** Where `lines` sit exactly in `text` (the occurrence nearest `near`), or undefined. */
export function findExact(
  text: readonly string[],
  lines: readonly string[],
  near = 0,
): Region | undefined {
  if (lines.length === 0) return undefined;
  let best: Region | undefined;
  for (let i = 0; i + lines.length <= text.length; i++) {
    if (lines.every((l, k) => text[i + k] === l)) {
      if (!best || Math.abs(i - near) < Math.abs(best.start - near)) {
        best = { start: i, end: i + lines.length };
      }
    }
  }
  return best;
}

const norm = (s: string) => s.trim();

/**
 * Where `block` goes in `text`: the region that starts at a line equal (ignoring
 * indentation) to the block's first line found in the text and ends at one equal
 * to its last such line, whose lines resemble the block's most. Undefined when no
 * region resembles it at least half.
 */
export function locate(text: readonly string[], block: readonly string[]): Region | undefined {
  const B = text.map(norm);
  const K = block.map(norm);
  const has = new Set(B);
  const p = K.findIndex((l) => l && has.has(l));
  let q = -1;
  for (let k = K.length - 1; k >= 0; k--) {
    if (K[k] && has.has(K[k]!)) {
      q = k;
      break;
    }
  }
  if (p < 0) return undefined;
  let best: (Region & { score: number }) | undefined;
  for (let i = 0; i < B.length; i++) {
    if (B[i] !== K[p]) continue;
    const maxEnd = Math.min(B.length, i + 2 * K.length + 10);
    for (let j = i; j < maxEnd; j++) {
      if (B[j] !== K[q]) continue;
      const a = B.slice(i, j + 1);
      const changed = diffLines(a, K).reduce(
        (n, h) => n + h.oldLines.length + h.newLines.length,
        0,
      );
      const score = (a.length + K.length - changed) / (a.length + K.length);
      if (!best || score > best.score) best = { start: i, end: j + 1, score };
    }
  }
  return best && best.score >= 0.5 ? { start: best.start, end: best.end } : undefined;
}

/** How a block goes into the current text, and whether that text changed since the model saw it. */
export interface Placement {
  region: Region;
  /** The lines in the region now differ from those the model was sent (it saw an older text). */
  conflict: boolean;
}

/**
 * Places `block` in `now` (the buffer's current lines). `sent` is what the
 * model saw of this file, when the question sent it. Undefined when the block
 * cannot be placed.
 */
export function place(
  now: readonly string[],
  block: readonly string[],
  sent: SentCode | undefined,
): Placement | undefined {
  if (sent?.kind === 'selection') {
    const near = (sent.line1 ?? 1) - 1;
    const same = findExact(now, sent.lines, near);
    if (same) return { region: same, conflict: false };
    const moved = locate(now, sent.lines) ?? locate(now, block);
    return moved ? { region: moved, conflict: true } : undefined;
  }
  let region = locate(now, block);
  // A block about as long as the file, that matches nowhere in part: the whole file.
  if (!region && block.length >= now.length * 0.6) region = { start: 0, end: now.length };
  if (!region) return undefined;
  if (!sent) return { region, conflict: false };
  const then = locate(sent.lines, block);
  const before = then ? sent.lines.slice(then.start, then.end) : sent.lines;
  const current = now.slice(region.start, region.end);
  const conflict = before.length !== current.length || before.some((l, k) => l !== current[k]);
  return { region, conflict };
}

/** A fenced code block of a chat answer. */
export interface ChatBlock {
  /** What follows the opening fence (language, maybe a file name). */
  info: string;
  lines: string[];
  /** The line before the opening fence. */
  lineBefore: string;
}

/**
 * The fenced block of an answer that holds `row` (the fences included), pairing
 * fences from the answer's header down, so the text between two blocks is never
 * taken for one. Undefined when `row` is not inside a block of an answer.
 */
export function blockAt(chat: readonly string[], row: number): ChatBlock | undefined {
  let top = -1;
  for (let i = Math.min(row, chat.length - 1); i >= 0; i--) {
    if (chat[i]!.startsWith('## ')) {
      top = chat[i] === USER_HEADER ? -1 : i;
      break;
    }
  }
  if (top < 0) return undefined;
  for (let i = top + 1; i < chat.length && !chat[i]!.startsWith('## '); i++) {
    const open = /^(`{3,}|~{3,})(.*)$/.exec(chat[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < chat.length && chat[end]!.trim() !== open[1]) end++;
    if (row >= i && row <= end) {
      let b = i - 1;
      while (b > top && !chat[b]!.trim()) b--;
      return { info: open[2]!.trim(), lines: chat.slice(i + 1, end), lineBefore: chat[b] ?? '' };
    }
    i = end;
  }
  return undefined;
}
