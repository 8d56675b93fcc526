import { describe, expect, it } from 'vitest';
import {
  buildFim,
  cleanSuggestions,
  clipEnd,
  clipStart,
  overlapLength,
  type CursorContext,
} from '../../src/nvim/completion/text.js';
import { parseCompletionConfig } from '../../src/nvim/completion/config.js';
import { ConfigError } from '../../src/core/errors.js';

function ctx(over: Partial<CursorContext> = {}): CursorContext {
  return {
    tick: 1,
    above: [],
    before: '',
    after: '',
    below: [],
    filetype: 'c',
    filename: 'main.c',
    commentstring: '// %s',
    snippets: [],
    ...over,
  };
}

const limits = { maxPrefixChars: 1000, maxSuffixChars: 1000, maxSnippetChars: 0 };

describe('completion text', () => {
  it('joins the lines around the cursor into prefix and suffix', () => {
    expect(
      buildFim(ctx({ above: ['a', 'b'], before: 'c', after: 'd', below: ['e', 'f'] }), limits),
    ).toEqual({ prefix: 'a\nb\nc', suffix: 'd\ne\nf' });
    expect(buildFim(ctx({ before: 'x' }), limits)).toEqual({ prefix: 'x', suffix: '' });
  });

  it('clips the prefix from the start and the suffix from the end, at line boundaries', () => {
    expect(clipStart('line one\nline two\nthree', 12)).toBe('three');
    expect(clipStart('abcdef', 3)).toBe('def');
    expect(clipEnd('one\ntwo\nthree', 9)).toBe('one\ntwo');
    expect(clipEnd('abcdef', 3)).toBe('abc');
    const { prefix, suffix } = buildFim(
      ctx({ above: Array(100).fill('0123456789'), before: 'x', below: Array(100).fill('y') }),
      { maxPrefixChars: 50, maxSuffixChars: 10, maxSnippetChars: 0 },
    );
    expect(prefix.length).toBeLessThanOrEqual(50);
    expect(prefix.endsWith('0123456789\nx')).toBe(true);
    expect(suffix).toBe('\ny\ny\ny\ny');
  });

  it('puts snippets of other buffers before the prefix, as comments, within their budget', () => {
    const { prefix } = buildFim(
      ctx({
        before: 'int x = ',
        snippets: [{ filename: 'util.c', lines: ['int helper(void);'] }],
      }),
      { ...limits, maxSnippetChars: 200 },
    );
    expect(prefix).toBe('// Path: util.c\n// int helper(void);\n// Path: main.c\nint x = ');
    const none = buildFim(
      ctx({ before: 'y', snippets: [{ filename: 'u.c', lines: ['z'] }] }),
      limits,
    );
    expect(none.prefix).toBe('y');
  });

  it('cuts what repeats the text after the cursor, CRs, and trailing blank lines', () => {
    expect(overlapLength('a, b)', ');\n}')).toBe(1);
    expect(overlapLength('f(x);', ');\n}')).toBe(2);
    expect(overlapLength('abc', 'xyz')).toBe(0);
    expect(cleanSuggestions(['a, b);'], ');\n}')).toEqual(['a, b']);
    expect(cleanSuggestions(['one\r\ntwo\r\n'], '')).toEqual(['one\ntwo']);
    expect(cleanSuggestions(['x\n\n  \n'], '')).toEqual(['x']);
    expect(cleanSuggestions(['  ', '', ')'], ')')).toEqual([]);
    expect(cleanSuggestions(['same', 'same', 'other'], '')).toEqual(['same', 'other']);
  });

  it('parses the completion section and names a bad key', () => {
    const c = parseCompletionConfig({ debounce_ms: 20, provider: null, keys: { accept: '<C-l>' } });
    expect(c.debounce_ms).toBe(20);
    expect(c.provider).toBeUndefined();
    expect(parseCompletionConfig([]).debounce_ms).toBeGreaterThanOrEqual(0);
    expect(() => parseCompletionConfig({ debounce_ms: -1 })).toThrow(ConfigError);
    expect(() => parseCompletionConfig({ context_buffers: { lines: 'x' } })).toThrow(
      /completion\.context_buffers\.lines/,
    );
  });
});
