import { describe, expect, it, vi } from 'vitest';
import {
  PIECES_MIN,
  appendPieces,
  joinPieces,
  jsonChunks,
  piecesOf,
} from '../../../src/core/text-pieces.js';

/** Slices of lines as lua/rune/editor.lua sends them, with every character JSON escapes. */
function slices(n: number, line: string): string[] {
  const out: string[] = [];
  for (let s = 0; s < n; s++) {
    out.push(Array.from({ length: 512 }, (_, i) => `${s}:${i} ${line}`.padEnd(40, '.')).join('\n'));
  }
  return out;
}

describe('text pieces', () => {
  it('writes the same JSON as JSON.stringify, a long text escaped piece by piece', () => {
    const text = joinPieces(slices(6, 'a "quoted" \\ tab\t é ✓ 😀 \u0001 \u2028 end'), '\n');
    expect(text.length).toBeGreaterThan(PIECES_MIN);
    const full = appendPieces(text, '\n[lines 1-3072 of 9000; call again with start_line=3073]');
    const message = {
      jsonrpc: '2.0',
      id: 7,
      result: { content: [{ type: 'text', text: full }], structuredContent: { lineCount: 9000 } },
    };
    const want = JSON.stringify(message);
    const chunks = jsonChunks(message);
    expect(chunks.length).toBeGreaterThan(6);
    expect(chunks.join('')).toBe(want);
    expect(JSON.parse(chunks.join(''))).toEqual(message);
    // No chunk is as long as the text: none was built whole.
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(full.length / 4);
  });

  it('forgets a text once written, and leaves short and unknown texts to JSON.stringify', () => {
    const text = joinPieces(slices(4, 'x'), '\n');
    expect(piecesOf(text)).toHaveLength(7);
    expect(jsonChunks({ text }).length).toBeGreaterThan(1);
    expect(piecesOf(text)).toBeUndefined();
    expect(jsonChunks({ text })).toEqual([JSON.stringify({ text })]);

    const short = joinPieces(['a', 'b'], '\n');
    expect(piecesOf(short)).toBeUndefined();
    // The same characters built another way are the same text: found by content too.
    const again = joinPieces(slices(4, 'y'), '\n');
    const copy = slices(4, 'y').join('\n');
    expect(jsonChunks({ copy }).join('')).toBe(JSON.stringify({ copy }));
    expect(piecesOf(again)).toBeUndefined();
  });

  it('writes two long texts of one message, and a text split inside a surrogate pair', () => {
    const a = joinPieces(slices(4, 'a'), '\n');
    // 😀 cut between its halves: each piece escapes its half, together they are the pair.
    const big = 'z'.repeat(PIECES_MIN);
    const b = joinPieces([big + '\ud83d', '\ude00' + big], '');
    const message = { a, list: [1, { b }], n: null };
    const chunks = jsonChunks(message);
    expect(chunks.length).toBeGreaterThan(8);
    // The halves are written as escapes (\ud83d\ude00), which read back as the pair.
    expect(chunks.join('')).toBe(JSON.stringify(message).replace('\ud83d\ude00', '\\ud83d\\ude00'));
    expect(JSON.parse(chunks.join(''))).toEqual(message);
  });

  it('remembers only the last few texts', () => {
    const texts = Array.from({ length: 6 }, (_, i) => joinPieces(slices(4, `t${i}`), '\n'));
    expect(piecesOf(texts[0]!)).toBeUndefined();
    expect(piecesOf(texts[5]!)).toBeDefined();
  });

  it('forgets a text never written after a few seconds', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const old = joinPieces(slices(4, 'old'), '\n');
      vi.advanceTimersByTime(6_000);
      const fresh = joinPieces(slices(4, 'new'), '\n');
      expect(piecesOf(old)).toBeUndefined();
      expect(piecesOf(fresh)).toBeDefined();
    } finally {
      vi.useRealTimers();
    }
  });
});
