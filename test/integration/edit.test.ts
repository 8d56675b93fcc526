/**
 * :RuneEdit in a real headless Neovim: the rewrite streams into the buffer as a
 * live diff (read from the screen), then accept all, reject all, hunk by hunk;
 * the undo history and 'modified' afterwards; cancel mid-stream; the user's
 * edits during the stream. The provider talks HTTP to the Ollama wire double.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  startAnthropicServer,
  startOllamaServer,
  type OllamaServer,
} from '../helpers/servers/index.js';
import { waitFor } from '../helpers/nvim.js';
import { ollamaAt, Screen, startChat, type ChatHarness } from './chat-helpers.js';
import { editModule } from '../../src/nvim/edit/index.js';

/** 50 lines; line 8 has a tab, trailing spaces and non-ASCII text (restored byte for byte). */
const ORIGINAL = Array.from({ length: 50 }, (_, i) =>
  i === 7 ? '\tlocal x = "é ✓"  ' : `line ${i + 1}`,
);
/** The 40 selected lines (5-44) as the model rewrites them: one changed, one removed, one added. */
const REWRITTEN = (() => {
  const sel = ORIGINAL.slice(4, 44);
  sel[5] = 'LINE 10 changed';
  sel.splice(15, 1); // line 20 goes
  sel.splice(25, 0, 'inserted after 30'); // after line 30 (index 25 once line 20 is gone)
  return sel;
})();
const ACCEPTED = [...ORIGINAL.slice(0, 4), ...REWRITTEN, ...ORIGINAL.slice(44)];

/** The answer as a model sends it: fenced, in small deltas. */
function deltas(): string[] {
  const text = '```lua\n' + REWRITTEN.join('\n') + '\n```\n';
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 7) out.push(text.slice(i, i + 7));
  return out;
}

interface Editor {
  c: ChatHarness;
  server: OllamaServer;
  file: string;
  buf: number;
}

async function open(): Promise<Editor> {
  const server = await startOllamaServer();
  const c = await startChat({
    providers: { local: ollamaAt(server.url) },
    modules: [editModule()],
  });
  const file = path.join(c.t.home, 'code.lua');
  fs.writeFileSync(file, ORIGINAL.join('\n') + '\n');
  await c.t.nvim.command(`edit ${file}`);
  // Some history of the user's own, saved: the edit must leave it as it is.
  await c.t.nvim.input('ggA!<Esc>');
  await waitFor(async () => (await lines(c))[0] === 'line 1!', 5000, 'the typed change');
  await c.t.nvim.input('u');
  await waitFor(async () => (await lines(c))[0] === 'line 1', 5000, 'the undo');
  await c.t.nvim.command('write');
  const buf = await c.t.lua<number>('return vim.api.nvim_get_current_buf()');
  return { c, server, file, buf };
}

const lines = (c: ChatHarness) =>
  c.t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
const status = (c: ChatHarness) =>
  c.t.lua<{ state: string; hunks: number } | null>('return require("rune.edit").status()');
const undoState = (c: ChatHarness) =>
  c.t.lua<{ seq_cur: number; seq_last: number; entries: unknown[]; modified: boolean }>(
    'local u = vim.fn.undotree() return { seq_cur = u.seq_cur, seq_last = u.seq_last, entries = u.entries, modified = vim.bo.modified }',
  );

async function review(e: Editor): Promise<void> {
  await waitFor(async () => (await status(e.c))?.state === 'review', 10000, 'the review');
}

describe(':RuneEdit live diff', () => {
  it('streams a 40-line rewrite into the buffer with the live diff on screen, then accept all is one undo step', async () => {
    const e = await open();
    const { c } = e;
    const screen = await Screen.attach(c.t, 100, 90);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const parts = deltas();
    e.server.enqueue('chat', {
      text: parts,
      stallAt: Math.floor(parts.length / 2),
      stallUntil: gate,
    });
    const before = await undoState(c);
    await c.t.nvim.command('5,44RuneEdit make it better');
    // Mid-stream: the new text is in the buffer, the old lines it has not reached
    // wait below it (dimmed), and the hint says how to stop.
    await waitFor(async () => (await lines(c)).includes('LINE 10 changed'), 5000, 'streamed text');
    await waitFor(
      () => screen.text().some((r) => r.includes('is writing') && r.includes('<C-c>')),
      5000,
      'the hint on screen',
    );
    await waitFor(() => screen.text().some((r) => r.trim() === 'line 44'), 5000, 'pending lines');
    const mid = await lines(c);
    expect(mid.slice(0, 4)).toEqual(ORIGINAL.slice(0, 4));
    expect(mid.slice(-6)).toEqual(ORIGINAL.slice(44));
    expect(mid).not.toContain('line 44'); // shown as a virtual line, not buffer text
    // The removed line 10 shows above its replacement.
    const rows = screen.text();
    const at = rows.findIndex((r) => r.includes('LINE 10 changed'));
    expect(rows[at - 1]).toContain('line 10');
    expect((await status(c))?.state).toBe('streaming');
    release();

    await review(e);
    expect(await lines(c)).toEqual(ACCEPTED);
    expect(await status(c)).toEqual({ state: 'review', hunks: 3 });
    await waitFor(
      () => screen.text().some((r) => r.includes('3 changes') && r.includes('ga accept')),
      5000,
      'the review hint',
    );
    // The request said what to do with which lines.
    const body = e.server.requestsTo('chat')[0]!.body as {
      messages: { role: string; content: string }[];
    };
    const user = body.messages.find((m) => m.role === 'user')!.content;
    expect(user).toContain('Instruction: make it better');
    expect(user).toContain(`<rewrite>\n${ORIGINAL.slice(4, 44).join('\n')}\n</rewrite>`);
    expect(user).toContain(`<before>\n${ORIGINAL.slice(0, 4).join('\n')}\n</before>`);

    await c.t.nvim.input('gA');
    await waitFor(async () => (await status(c)) === null, 5000, 'the end of the edit');
    expect(await lines(c)).toEqual(ACCEPTED);
    const after = await undoState(c);
    expect(after.modified).toBe(true);
    // Exactly one new undo step, on top of the user's own history.
    expect(after.seq_last).toBe(before.seq_last + 1);
    expect(after.seq_cur).toBe(after.seq_last);
    // No decorations are left.
    expect(await c.t.lua('return #vim.api.nvim_buf_get_extmarks(0, -1, 0, -1, {})')).toBe(0);
    // One `u` brings back the original, unmodified.
    await c.t.nvim.input('u');
    await waitFor(async () => (await lines(c))[9] === 'line 10', 5000, 'the undo');
    expect(await lines(c)).toEqual(ORIGINAL);
    expect((await undoState(c)).modified).toBe(false);
    await e.server.close();
  });

  it('reject all leaves the text, the undo history and modified as they were', async () => {
    const e = await open();
    const { c } = e;
    e.server.enqueue('chat', { text: deltas() });
    const before = await undoState(c);
    await c.t.nvim.command('5,44RuneEdit make it better');
    await review(e);
    await c.t.nvim.input('gR');
    await waitFor(async () => (await status(c)) === null, 5000, 'the end of the edit');
    expect(await lines(c)).toEqual(ORIGINAL);
    expect(fs.readFileSync(e.file, 'utf8')).toBe(ORIGINAL.join('\n') + '\n');
    expect(await undoState(c)).toEqual(before);
    await e.server.close();
  });

  it('walks hunk by hunk: ]h moves, gr rejects, ga accepts; the result is one undo step', async () => {
    const e = await open();
    const { c } = e;
    e.server.enqueue('chat', { text: deltas() });
    const before = await undoState(c);
    await c.t.nvim.command('5,44RuneEdit make it better');
    await review(e);
    await c.t.nvim.input('gg]h');
    await waitFor(
      async () => (await c.t.lua<number>('return vim.fn.line(".")')) === 10,
      5000,
      'the first hunk',
    );
    await c.t.nvim.input('gr');
    await waitFor(async () => (await status(c))?.hunks === 2, 5000, 'one hunk left');
    await c.t.nvim.input(']h');
    await waitFor(
      async () => (await c.t.lua<number>('return vim.fn.line(".")')) === 20,
      5000,
      'the second hunk',
    );
    await c.t.nvim.input('ga');
    await waitFor(async () => (await status(c))?.hunks === 1, 5000, 'one hunk left');
    await c.t.nvim.input(']hgr');
    await waitFor(async () => (await status(c)) === null, 5000, 'the end of the edit');
    // Only the removal of line 20 was kept.
    const expected = ORIGINAL.filter((l) => l !== 'line 20');
    expect(await lines(c)).toEqual(expected);
    const after = await undoState(c);
    expect(after.modified).toBe(true);
    // Exactly one new undo step, on top of the user's own history.
    expect(after.seq_last).toBe(before.seq_last + 1);
    expect(after.seq_cur).toBe(after.seq_last);
    await c.t.nvim.input('u');
    await waitFor(async () => (await lines(c)).length === 50, 5000, 'the undo');
    expect(await lines(c)).toEqual(ORIGINAL);
    await e.server.close();
  });

  it('<C-c> mid-stream aborts the request and restores the text byte for byte', async () => {
    const e = await open();
    const { c } = e;
    const parts = deltas();
    e.server.enqueue('chat', { text: parts, stallAt: Math.floor(parts.length / 2) });
    const before = await undoState(c);
    await c.t.nvim.command('5,44RuneEdit make it better');
    await waitFor(async () => (await lines(c)).includes('LINE 10 changed'), 5000, 'streamed text');
    await c.t.nvim.input('<C-c>');
    await e.server.waitForClose(1);
    await waitFor(async () => (await status(c)) === null, 5000, 'the end of the edit');
    expect(await lines(c)).toEqual(ORIGINAL);
    expect(await undoState(c)).toEqual(before);
    await c.t.nvim.command('write');
    expect(fs.readFileSync(e.file, 'utf8')).toBe(ORIGINAL.join('\n') + '\n');
    await e.server.close();
  });

  it("keeps the user's edit above the region made during the stream", async () => {
    const e = await open();
    const { c } = e;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const parts = deltas();
    e.server.enqueue('chat', {
      text: parts,
      stallAt: Math.floor(parts.length / 2),
      stallUntil: gate,
    });
    await c.t.nvim.command('5,44RuneEdit make it better');
    await waitFor(async () => (await lines(c)).includes('LINE 10 changed'), 5000, 'streamed text');
    // The user adds two lines at the top while the rewrite streams.
    await c.t.nvim.input('ggOlocal a = 1<CR>local b = 2<Esc>');
    await waitFor(async () => (await lines(c))[1] === 'local b = 2', 5000, 'the typed lines');
    release();
    await review(e);
    expect(await lines(c)).toEqual(['local a = 1', 'local b = 2', ...ACCEPTED]);
    await c.t.nvim.input('gR');
    await waitFor(async () => (await status(c)) === null, 5000, 'the end of the edit');
    expect(await lines(c)).toEqual(['local a = 1', 'local b = 2', ...ORIGINAL]);
    await e.server.close();
  });
});

describe(':RuneEdit ranges and modes', () => {
  it(':RuneEdit! writes new code below the cursor line and keeps the line', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'local b = 2\nlocal c = 3\n' });
    const c = await startChat({
      providers: { local: ollamaAt(server.url) },
      modules: [editModule()],
    });
    await c.t.lua('vim.api.nvim_buf_set_lines(0, 0, -1, false, { "local a = 1", "return a" })');
    await c.t.nvim.command('1');
    await c.t.nvim.command('RuneEdit! two more locals');
    await waitFor(async () => (await status(c))?.state === 'review', 5000, 'the review');
    const sent = (
      server.requestsTo('chat')[0]!.body as { messages: { content: string }[] }
    ).messages.at(-1)!.content;
    expect(sent).toContain(
      '<before>\nlocal a = 1\n</before>\n<insert-here/>\n<after>\nreturn a\n</after>',
    );
    await c.t.nvim.input('gA');
    await waitFor(async () => (await status(c)) === null, 5000, 'the end');
    expect(await lines(c)).toEqual(['local a = 1', 'local b = 2', 'local c = 3', 'return a']);
    await server.close();
  });

  it(':RuneEdit without a range rewrites the function around the cursor (treesitter), with an Anthropic provider', async () => {
    const server = await startAnthropicServer();
    server.enqueue('messages', { text: 'local function f()\n  return 2\nend' });
    const c = await startChat({
      providers: {
        claude: {
          kind: 'anthropic',
          url: server.url,
          api_key: 'sk-test',
          retry: { max_attempts: 1 },
        },
      },
      modules: [editModule()],
    });
    await c.t.lua(`vim.api.nvim_buf_set_lines(0, 0, -1, false,
      { "local x = 0", "local function f()", "  return 1", "end", "return f" })
      vim.bo.filetype = "lua"
      vim.treesitter.start(0, "lua")`);
    await c.t.nvim.command('3');
    await c.t.nvim.command('RuneEdit return two');
    await waitFor(async () => (await status(c))?.state === 'review', 5000, 'the review');
    const body = server.requestsTo('messages')[0]!.body as {
      system: string | { text: string }[];
      messages: { content: string | { text: string }[] }[];
    };
    const content = body.messages.at(-1)!.content;
    const text = typeof content === 'string' ? content : content.map((p) => p.text).join('');
    expect(text).toContain('<rewrite>\nlocal function f()\n  return 1\nend\n</rewrite>');
    expect(JSON.stringify(body.system)).toContain('Reply with the code only');
    await c.t.nvim.input('gA');
    await waitFor(async () => (await status(c)) === null, 5000, 'the end');
    expect(await lines(c)).toEqual([
      'local x = 0',
      'local function f()',
      '  return 2',
      'end',
      'return f',
    ]);
    await server.close();
  });
});
