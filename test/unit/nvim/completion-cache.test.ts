import { describe, expect, it } from 'vitest';
import { AnswerCache, type Suggestions } from '../../../src/nvim/completion/cache.js';
import { afterAccepting, buildFim, type CursorContext } from '../../../src/nvim/completion/text.js';
import type { Provider } from '../../../src/providers/types.js';

const provider = { id: 'p' } as Provider;
const answer = (...items: string[]): Suggestions => ({
  provider,
  items,
  completions: items.map((text) => ({ text })),
});
const here = { buf: 1, row: 0 };

describe('AnswerCache', () => {
  it('serves an answer only for the exact context it was computed for', () => {
    const c = new AnswerCache(8);
    c.put(here, 'let x = ', ';', answer('foo()'));
    expect(c.get('let x = ', ';')?.items).toEqual(['foo()']);
    expect(c.get('let x = ', '')).toBeUndefined();
    expect(c.get('const x = ', ';')).toBeUndefined();
  });

  it('serves the rest of an answer when the text typed since is its start', () => {
    const c = new AnswerCache(8);
    c.put(here, 'let x = ', ';', answer('foo()', 'bar()'));
    const hit = c.get('let x = fo', ';');
    expect(hit?.items).toEqual(['o()']);
    expect(hit?.completions).toEqual([{ text: 'foo()' }]);
    // Typed past the end, or something else: no answer.
    expect(c.get('let x = foo()', ';')).toBeUndefined();
    expect(c.get('let x = q', ';')).toBeUndefined();
  });

  it('forgets the least recently used answer beyond its size, and keeps nothing at size 0', () => {
    const c = new AnswerCache(2);
    c.put(here, 'a', '', answer('1'));
    c.put(here, 'b', '', answer('2'));
    c.get('a', '');
    c.put(here, 'c', '', answer('3'));
    expect(c.size).toBe(2);
    expect(c.has('a', '')).toBe(true);
    expect(c.has('b', '')).toBe(false);
    const off = new AnswerCache(0);
    off.put(here, 'a', '', answer('1'));
    expect(off.size).toBe(0);
  });

  it('lists the rows of a buffer that answers were computed for', () => {
    const c = new AnswerCache(4);
    c.put({ buf: 3, row: 7 }, 'a', '', answer('1'));
    c.put({ buf: 3, row: 7 }, 'b', '', answer('2'));
    c.put({ buf: 3, row: 9 }, 'c', '', answer('3'));
    c.put({ buf: 4, row: 1 }, 'd', '', answer('4'));
    expect(c.rows(3)).toEqual([7, 9]);
    expect(c.rows(4)).toEqual([1]);
    expect(c.rows(5)).toEqual([]);
  });
});

describe('afterAccepting', () => {
  const ctx: CursorContext = {
    tick: 1,
    above: ['one', 'two'],
    before: '  x = ',
    after: ';',
    below: ['three'],
    filetype: 'c',
    filename: 'a.c',
    commentstring: '// %s',
    snippets: [],
  };
  const fim = (c: CursorContext) =>
    buildFim(c, { maxPrefixChars: 6000, maxSuffixChars: 2000, maxSnippetChars: 0 });

  it('gives the request the editor would send once the suggestion is in the buffer', () => {
    expect(fim(afterAccepting(ctx, 'f(1)', 120))).toEqual({
      prefix: 'one\ntwo\n  x = f(1)',
      suffix: ';\nthree',
    });
    const multi = afterAccepting(ctx, 'f(\n    1,\n  )', 120);
    expect(fim(multi)).toEqual({ prefix: 'one\ntwo\n  x = f(\n    1,\n  )', suffix: ';\nthree' });
    expect(multi.above).toEqual(['one', 'two', '  x = f(', '    1,']);
  });

  it('keeps at most prefix_lines whole lines above, as the editor reads them', () => {
    const multi = afterAccepting(ctx, 'a\nb\nc', 3);
    expect(multi.above).toEqual(['two', '  x = a', 'b']);
    expect(afterAccepting(ctx, 'a\nb\nc\nd', 3).above).toEqual(['  x = a', 'b', 'c']);
  });
});
