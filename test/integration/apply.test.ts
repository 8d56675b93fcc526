/**
 * Applying a code block from a chat answer to the file its question came
 * from, in a real headless Neovim: the block is placed by matching its lines,
 * reviewed like :RuneEdit, and a file that changed since the answer shows the
 * conflict before anything is accepted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startOllamaServer } from '../helpers/servers/index.js';
import { waitFor } from '../helpers/nvim.js';
import { ollamaAt, Screen, startChat, type ChatHarness } from './chat-helpers.js';
import { editModule } from '../../src/nvim/edit/index.js';

const CODE = ['local M = {}', '', 'function M.add(a, b)', '  return a + b', 'end', '', 'return M'];
const ANSWER =
  'Guard against nil:\n\n```lua\nfunction M.add(a, b)\n  return (a or 0) + (b or 0)\nend\n```\n\nThat is all.';

async function chatAbout(): Promise<{ c: ChatHarness; file: string; fileBuf: number }> {
  const server = await startOllamaServer();
  server.enqueue('chat', { text: ANSWER });
  const c = await startChat({
    providers: { local: ollamaAt(server.url) },
    modules: [editModule()],
  });
  const dir = fs.mkdtempSync(path.join(c.t.home, 'proj-'));
  fs.mkdirSync(path.join(dir, '.git'));
  const file = path.join(dir, 'math.lua');
  fs.writeFileSync(file, CODE.join('\n') + '\n');
  await c.t.nvim.command(`edit ${file}`);
  const fileBuf = await c.t.lua<number>('return vim.api.nvim_get_current_buf()');
  await c.t.nvim.command('3,5RuneChat make add safe');
  await c.idle();
  return { c, file, fileBuf };
}

/** Puts the cursor on the answer's code block in the chat window and presses the apply key. */
async function applyBlock(c: ChatHarness): Promise<void> {
  const buf = await c.chatBuf();
  const row = (await c.lines(buf)).indexOf('  return (a or 0) + (b or 0)') + 1;
  await c.t.lua(
    'local buf, row = ... for _, w in ipairs(vim.fn.win_findbuf(buf)) do vim.api.nvim_set_current_win(w) end vim.api.nvim_win_set_cursor(0, { row, 0 })',
    [buf, row],
  );
  await c.t.nvim.input('ga');
}

const status = (c: ChatHarness, buf: number) =>
  c.t.lua<{ state: string; hunks: number } | null>('return require("rune.edit").status(...)', [
    buf,
  ]);
const fileLines = (c: ChatHarness, buf: number) =>
  c.t.lua<string[]>('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', [buf]);

describe('apply a chat code block', () => {
  it('places the block where the selected lines are and reviews it; accepting writes it', async () => {
    const { c, fileBuf } = await chatAbout();
    await applyBlock(c);
    await waitFor(async () => (await status(c, fileBuf))?.state === 'review', 5000, 'the review');
    // The review happens in the file's window.
    expect(await c.t.lua('return vim.api.nvim_get_current_buf()')).toBe(fileBuf);
    expect(await fileLines(c, fileBuf)).toEqual([
      'local M = {}',
      '',
      'function M.add(a, b)',
      '  return (a or 0) + (b or 0)',
      'end',
      '',
      'return M',
    ]);
    const hint = await c.t.lua<string>(
      `for _, m in ipairs(vim.api.nvim_buf_get_extmarks(..., -1, 0, -1, { details = true })) do
         local vl = m[4].virt_lines
         if vl and vl[1][1][1]:find('accept') then return vl[1][1][1] end
       end`,
      [fileBuf],
    );
    expect(hint).not.toContain('CONFLICT');
    await c.t.nvim.input('gA');
    await waitFor(async () => (await status(c, fileBuf)) === null, 5000, 'the end');
    expect((await fileLines(c, fileBuf))[3]).toBe('  return (a or 0) + (b or 0)');
  });

  it('shows the conflict when the file changed since the answer, and changes nothing unless accepted', async () => {
    const { c, fileBuf } = await chatAbout();
    // The user changes the function (and adds a line above it) after the answer.
    await c.t.lua(
      `local b = ...
       vim.api.nvim_buf_set_lines(b, 3, 4, false, { '  return a + b + 0' })
       vim.api.nvim_buf_set_lines(b, 0, 0, false, { '-- math helpers' })`,
      [fileBuf],
    );
    const changed = await fileLines(c, fileBuf);
    const screen = await Screen.attach(c.t, 120, 40);
    await applyBlock(c);
    await waitFor(async () => (await status(c, fileBuf))?.state === 'review', 5000, 'the review');
    await waitFor(
      () => screen.text().some((r) => r.includes('CONFLICT: math.lua changed since the answer')),
      5000,
      'the conflict on screen',
    );
    // The user's newer line is what the block would remove: shown as removed (it
    // is no longer buffer text).
    expect(await fileLines(c, fileBuf)).not.toContain('  return a + b + 0');
    await waitFor(
      () => screen.text().some((r) => r.includes('  return a + b + 0')),
      5000,
      'the removed line on screen',
    );
    await c.t.nvim.input('gR');
    await waitFor(async () => (await status(c, fileBuf)) === null, 5000, 'the end');
    expect(await fileLines(c, fileBuf)).toEqual(changed);
  });

  it('says why and changes nothing when the block matches nothing in the file', async () => {
    const { c, fileBuf } = await chatAbout();
    await c.t.lua('vim.api.nvim_buf_set_lines(..., 0, -1, false, { "print(1)" })', [fileBuf]);
    await applyBlock(c);
    await waitFor(
      async () =>
        ((await c.t.nvim.commandOutput('messages')) as string).includes(
          'Cannot find where this block goes in math.lua',
        ),
      5000,
      'the message',
    );
    expect(await fileLines(c, fileBuf)).toEqual(['print(1)']);
    expect(await status(c, fileBuf)).toBe(null);
  });
});
