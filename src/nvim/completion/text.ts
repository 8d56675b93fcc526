/**
 * Pure text work of inline completion: building the fill-in-the-middle request
 * from the lines around the cursor, and cleaning what the provider answers.
 */
import type { FimRequest } from '../../providers/types.js';

/** What the Lua side reads around the cursor in one call (`rune.completion._context`). */
export interface CursorContext {
  tick: number;
  /** Whole lines above the cursor line (at most `prefix_lines`). */
  above: string[];
  /** The cursor line before the cursor (clipped to the prefix budget). */
  before: string;
  /** The cursor line after the cursor (clipped to the suffix budget). */
  after: string;
  /** Whole lines below the cursor line (at most `suffix_lines`). */
  below: string[];
  filetype: string;
  filename: string;
  /** The buffer's 'commentstring', used to frame snippets from other buffers. */
  commentstring: string;
  /** Snippets from other open buffers of the same filetype. */
  snippets: { filename: string; lines: string[] }[];
}

export interface FimLimits {
  maxPrefixChars: number;
  maxSuffixChars: number;
  maxSnippetChars: number;
}

/** Keeps the last `max` characters, starting at a line boundary when one is in reach. */
export function clipStart(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(text.length - max);
  const nl = cut.indexOf('\n');
  return nl >= 0 && nl < cut.length - 1 ? cut.slice(nl + 1) : cut;
}

/** Keeps the first `max` characters, ending at a line boundary when one is in reach. */
export function clipEnd(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const nl = cut.lastIndexOf('\n');
  return nl > 0 ? cut.slice(0, nl) : cut;
}

/** Frames `line` as a comment with a Vim 'commentstring' such as `// %s` or `<!-- %s -->`. */
function comment(commentstring: string, line: string): string {
  const cs = commentstring.includes('%s') ? commentstring : '# %s';
  return cs.replace('%s', line).trimEnd();
}

/**
 * The prefix and suffix for a fill-in-the-middle request, within the limits. Snippets
 * from other buffers lead the prefix as comments, and come as `extra` too (for servers
 * with a field of their own for them).
 */
export function buildFim(
  ctx: CursorContext,
  limits: FimLimits,
): Pick<FimRequest, 'prefix' | 'suffix' | 'extra' | 'extraInPrefix'> {
  const above = ctx.above.length ? ctx.above.join('\n') + '\n' : '';
  const prefix = clipStart(above + ctx.before, limits.maxPrefixChars);
  const below = ctx.below.length ? '\n' + ctx.below.join('\n') : '';
  const suffix = clipEnd(ctx.after + below, limits.maxSuffixChars);
  if (ctx.snippets.length && limits.maxSnippetChars > 0) {
    let budget = limits.maxSnippetChars;
    const parts: string[] = [];
    const extra: { filename: string; text: string }[] = [];
    for (const s of ctx.snippets) {
      const header = comment(ctx.commentstring, `Path: ${s.filename}`);
      const body = s.lines.map((l) => comment(ctx.commentstring, l)).join('\n');
      const block = clipEnd(`${header}\n${body}`, budget);
      if (!block) break;
      parts.push(block);
      extra.push({ filename: s.filename, text: clipEnd(s.lines.join('\n'), budget) + '\n' });
      budget -= block.length + 1;
      if (budget <= 0) break;
    }
    if (parts.length) {
      const self = comment(ctx.commentstring, `Path: ${ctx.filename}`);
      const lead = `${parts.join('\n')}\n${self}\n`;
      return { prefix: lead + prefix, suffix, extra, extraInPrefix: lead.length };
    }
  }
  return { prefix, suffix };
}

/**
 * The longest `k` such that `text` ends with the first `k` characters of
 * `suffix`: the part of a suggestion that repeats what already follows the
 * cursor (typically closing brackets and quotes).
 */
export function overlapLength(text: string, suffix: string): number {
  const max = Math.min(text.length, suffix.length);
  for (let k = max; k > 0; k--) {
    if (text.endsWith(suffix.slice(0, k))) return k;
  }
  return 0;
}

/**
 * Turns provider answers into ghost-text suggestions: CRLF and CR become LF
 * (Neovim lines carry no line ending), text that repeats what follows the
 * cursor is cut off, trailing blank lines go, and empty or duplicate
 * suggestions are dropped.
 */
export function cleanSuggestions(texts: string[], suffix: string): string[] {
  const out: string[] = [];
  for (const raw of texts) {
    let text = raw.replace(/\r\n?/g, '\n');
    text = text.slice(0, text.length - overlapLength(text, suffix));
    // Trailing blank lines would only show as empty ghost lines.
    text = text.replace(/(\n[ \t]*)+$/, '');
    if (/\S/.test(text) && !out.includes(text)) out.push(text);
  }
  return out;
}

/**
 * The context as the editor would read it once `text` is inserted at the
 * cursor (the suggestion accepted): the same lines after the cursor, the
 * inserted lines added above it, at most `prefixLines` whole lines above.
 */
export function afterAccepting(
  ctx: CursorContext,
  text: string,
  prefixLines: number,
): CursorContext {
  const lines = text.split('\n');
  if (lines.length === 1) return { ...ctx, before: ctx.before + text };
  const above = [...ctx.above, ctx.before + lines[0]!, ...lines.slice(1, -1)];
  return {
    ...ctx,
    above: above.slice(Math.max(0, above.length - prefixLines)),
    before: lines.at(-1)!,
  };
}
