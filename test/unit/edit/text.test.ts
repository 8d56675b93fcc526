import { describe, expect, it } from 'vitest';
import { LiveText, extractCode, liveDiff, editPrompt } from '../../../src/nvim/edit/text.js';
import { blockAt, locate, namedFile, place, sentCode } from '../../../src/nvim/edit/apply.js';
import {
  BUILTIN_PROMPTS,
  expandPrompt,
  findPrompt,
  promptLibrary,
} from '../../../src/nvim/prompts.js';
import { ConfigError, NotFoundError } from '../../../src/core/errors.js';

const stream = (deltas: string[]) => {
  const live = new LiveText();
  return deltas.map((d) => live.push(d)).join('');
};

describe('LiveText', () => {
  it('drops an opening fence line and never shows the closing fence', () => {
    expect(stream(['``', '`lua\nlocal a', ' = 1\n``', '`\n'])).toBe('local a = 1\n');
  });

  it('holds back a line starting with a backtick until it turns out to be code', () => {
    const live = new LiveText();
    expect(live.push('a\n`x')).toBe('a\n');
    expect(live.push('` + 1\nb')).toBe('`x` + 1\nb');
  });

  it('passes an answer without fences through as it comes', () => {
    expect(stream(['local', ' a\n', 'b'])).toBe('local a\nb');
  });
});

describe('extractCode', () => {
  it('takes the fenced block out of prose, or the whole answer', () => {
    expect(extractCode('Here:\n\n```lua\nx = 1\n```\nDone.')).toEqual(['x = 1']);
    expect(extractCode('x = 1\ny = 2\n')).toEqual(['x = 1', 'y = 2']);
    expect(extractCode('')).toEqual([]);
    expect(extractCode('```\nunclosed\n')).toEqual(['unclosed']);
  });
});

describe('liveDiff', () => {
  it('shows the old lines the stream has not reached as pending, and removed once done', () => {
    const old = ['a', 'b', 'c'];
    expect(liveDiff(old, ['a'], false)).toEqual({ hunks: [], pending: ['b', 'c'] });
    expect(liveDiff(old, ['a', 'B'], false)).toEqual({
      hunks: [{ row: 1, add: 1, del: [] }],
      pending: ['b', 'c'],
    });
    expect(liveDiff(old, ['a', 'B', 'c'], true)).toEqual({
      hunks: [{ row: 1, add: 1, del: ['b'] }],
      pending: [],
    });
  });
});

describe('editPrompt', () => {
  it('marks the lines to rewrite, or the place to insert', () => {
    const base = { instruction: 'go', file: 'a.lua', filetype: 'lua', before: ['x'], after: [] };
    expect(editPrompt({ ...base, mode: 'rewrite', lines: ['y'] })).toContain(
      '<before>\nx\n</before>\n<rewrite>\ny\n</rewrite>',
    );
    expect(editPrompt({ ...base, mode: 'insert', lines: [] })).toContain('<insert-here/>');
  });
});

describe('apply helpers', () => {
  it('finds the file a block names in its fence or on the line before', () => {
    expect(namedFile('lua src/a.lua', '')).toBe('src/a.lua');
    expect(namedFile('lua', 'In `src/b.lua`:')).toBe('src/b.lua');
    expect(namedFile('lua', 'Here is the fix:')).toBeUndefined();
  });

  it('locates a block by its lines, ignoring indentation, not line numbers', () => {
    const text = ['x', 'function f()', '    return 1', 'end', 'y'];
    expect(locate(text, ['function f()', '  return 2', 'end'])).toEqual({ start: 1, end: 4 });
    expect(locate(text, ['nothing', 'alike'])).toBeUndefined();
  });

  it('flags a conflict when the selected lines changed since they were sent', () => {
    const sent = { kind: 'selection' as const, name: 'a', line1: 2, lines: ['f()', 'g()'] };
    expect(place(['x', 'f()', 'g()'], ['f(1)', 'g()'], sent)).toEqual({
      region: { start: 1, end: 3 },
      conflict: false,
    });
    expect(place(['x', 'f()', 'g(2)'], ['f(1)', 'g()'], sent)?.conflict).toBe(true);
  });

  it('reads the block at a row and the code its question sent from the chat text', () => {
    const chat = [
      '## You',
      'fix',
      '',
      '<details><summary>context: #selection a.lua:2-3</summary>',
      '',
      '#selection a.lua:2-3:',
      '',
      '```lua',
      'f()',
      '```',
      '',
      '</details>',
      '',
      '## Rune (x)',
      '',
      '```lua',
      'f(1)',
      '```',
    ];
    expect(sentCode(chat, 16)).toEqual([
      { kind: 'selection', name: 'a.lua', line1: 2, lines: ['f()'] },
    ]);
    expect(blockAt(chat, 16)).toEqual({ info: 'lua', lines: ['f(1)'], lineBefore: '## Rune (x)' });
    expect(blockAt(chat, 8)).toBeUndefined();
  });
});

describe('prompt library', () => {
  it('finds /name on a line and fills the placeholders', () => {
    const lib = promptLibrary({});
    const found = findPrompt(lib, '#selection\n/fix keep names')!;
    expect(found.prompt.name).toBe('fix');
    const text = expandPrompt(found, {
      selection: 'f()',
      filetype: 'lua',
      file: 'a.lua',
      diagnostics: 'a.lua:1:1: ERROR: x',
    });
    expect(text).toBe(
      '#selection\n\nFix the problems in this code from a.lua. Its diagnostics:\na.lua:1:1: ERROR: x\n\n```lua\nf()\n```\n\nkeep names',
    );
    expect(findPrompt(lib, 'no prompt here')).toBeUndefined();
    expect(() => findPrompt(lib, '/nope')).toThrow(NotFoundError);
  });

  it('lets setup() add and replace prompts, and names a bad one', () => {
    const lib = promptLibrary({ fix: { text: 'mine' }, port: { text: 'p', edit: 'none' } });
    expect(lib.find((p) => p.name === 'fix')!.text).toBe('mine');
    expect(lib.find((p) => p.name === 'port')!.edit).toBe('none');
    expect(lib.length).toBe(BUILTIN_PROMPTS.length + 1);
    expect(() => promptLibrary({ Bad: { text: 'x' } })).toThrow(ConfigError);
    expect(() => promptLibrary({ ok: { text: '' } })).toThrow(/prompts\.ok\.text/);
  });
});
