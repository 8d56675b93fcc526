/**
 * The prompt library and the #git words, in a real headless Neovim: each
 * built-in prompt sends what it promises (the request body the Ollama wire
 * double received), from the chat and from :RuneEdit; user prompts with
 * placeholders; #git and #gitlog in a temporary git repository.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor } from '../helpers/nvim.js';
import { ollamaAt, startChat, type ChatHarness } from './chat-helpers.js';
import { editModule } from '../../src/nvim/edit/index.js';

const CODE = ['local M = {}', 'function M.add(a, b)', '  return a + b', 'end', 'return M'];

type Body = { system?: string; messages: { role: string; content: string }[] };
const lastUser = (server: OllamaServer) => {
  const body = server.requestsTo('chat').at(-1)!.body as Body;
  return body.messages.filter((m) => m.role === 'user').at(-1)!.content;
};

/** A project with a git repository holding math.lua, opened in Neovim with a diagnostic on line 3. */
async function project(
  server: OllamaServer,
  extra: Record<string, unknown> = {},
): Promise<{ c: ChatHarness; dir: string }> {
  const c = await startChat({
    providers: { local: ollamaAt(server.url) },
    modules: [editModule()],
    setup: extra,
  });
  const dir = fs.mkdtempSync(path.join(c.t.home, 'proj-'));
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_SYSTEM: '/dev/null' },
    });
  git('init', '-q');
  git('config', 'user.name', 'Ada');
  git('config', 'user.email', 'ada@example.com');
  fs.writeFileSync(path.join(dir, 'math.lua'), CODE.join('\n') + '\n');
  git('add', 'math.lua');
  git('commit', '-q', '-m', 'Add the math module');
  await c.t.nvim.command(`cd ${dir}`);
  await c.t.nvim.command('edit math.lua');
  await c.t.lua(
    `local ns = vim.api.nvim_create_namespace('test')
     vim.diagnostic.set(ns, 0, { { lnum = 2, col = 2, message = 'boom: a may be nil', severity = 1, source = 'lsp' },
       { lnum = 4, col = 0, message = 'outside the range', severity = 2 } })`,
  );
  return { c, dir };
}

const PROMISES: Record<string, string> = {
  explain: 'Explain what this code from math.lua does',
  fix: 'Fix the problems in this code from math.lua',
  tests: 'Write unit tests for this code from math.lua',
  docs: 'Add documentation comments to this code from math.lua, in the usual style for lua',
  review: 'Review this code from math.lua',
  simplify: 'Simplify this code from math.lua',
};

describe('prompt library in the chat', () => {
  for (const [name, promise] of Object.entries(PROMISES)) {
    it(`/${name} sends its prompt with the selected code`, async () => {
      const server = await startOllamaServer();
      server.enqueue('chat', { text: 'ok' });
      const { c } = await project(server);
      await c.t.nvim.command(`2,4RuneChat /${name}`);
      await waitFor(() => server.requestsTo('chat').length === 1, 5000, 'the request');
      const sent = lastUser(server);
      expect(sent).toContain(promise);
      expect(sent).toContain('```lua\nfunction M.add(a, b)\n  return a + b\nend\n```');
      if (name === 'fix') {
        // Only the diagnostics of the selected lines.
        expect(sent).toContain('math.lua:3:3: ERROR: boom: a may be nil [lsp]');
        expect(sent).not.toContain('outside the range');
      }
      await c.idle();
      await server.close();
    });
  }

  it('/commit sends the staged diff (#git), and #gitlog the recent commits', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'Add subtraction' }, { text: 'ok' });
    const { c, dir } = await project(server);
    fs.appendFileSync(path.join(dir, 'math.lua'), 'function M.sub(a, b) return a - b end\n');
    execFileSync('git', ['add', 'math.lua'], { cwd: dir });
    await c.t.nvim.command('RuneChat /commit');
    await waitFor(() => server.requestsTo('chat').length === 1, 5000, 'the request');
    const sent = lastUser(server);
    expect(sent).toContain('Write a commit message for the staged changes');
    expect(sent).toContain(
      '<context name="#git (staged changes)">\ndiff --git a/math.lua b/math.lua',
    );
    expect(sent).toContain('+function M.sub(a, b) return a - b end');
    await c.idle();

    const buf = await c.chatBuf();
    await c.t.lua(
      'vim.api.nvim_buf_set_lines(..., -2, -1, false, { "what changed lately? #gitlog" })',
      [buf],
    );
    await c.t.lua('require("rune.chat").submit(...)', [buf]);
    await waitFor(() => server.requestsTo('chat').length === 2, 5000, 'the second request');
    expect(lastUser(server)).toMatch(
      /<context name="#gitlog \(last 20 commits\)">\n[0-9a-f]{7,} \d{4}-\d\d-\d\d Ada: Add the math module\n<\/context>/,
    );
    await c.idle();
    await server.close();
  });

  it('#git with nothing staged says what to do and sends nothing', async () => {
    const server = await startOllamaServer();
    const { c } = await project(server);
    await c.t.nvim.command('RuneChat');
    const buf = await c.chatBuf();
    await c.t.lua('vim.api.nvim_buf_set_lines(..., -2, -1, false, { "review #git" })', [buf]);
    await c.t.lua('require("rune.chat").submit(...)', [buf]);
    expect(await c.t.nvim.commandOutput('messages')).toMatch(
      /#git: nothing is staged in .*; stage your changes with git add first\./,
    );
    expect(server.requestsTo('chat')).toHaveLength(0);
    await server.close();
  });

  it("a user prompt from setup() fills its placeholders and keeps the user's words", async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'ok' });
    const { c } = await project(server, {
      prompts: {
        port: { text: 'Port this {filetype} from {file} to Python:\n{selection}', edit: 'rewrite' },
      },
    });
    await c.t.nvim.command('2,4RuneChat /port keep the names');
    await waitFor(() => server.requestsTo('chat').length === 1, 5000, 'the request');
    expect(lastUser(server)).toContain(
      'Port this lua from math.lua to Python:\nfunction M.add(a, b)\n  return a + b\nend\n\nkeep the names',
    );
    await c.idle();
    await server.close();
  });

  it('an unknown /prompt names the known ones', async () => {
    const server = await startOllamaServer();
    const { c } = await project(server);
    await expect(c.t.nvim.command('RuneChat /nope')).rejects.toThrow(
      '/nope: no such prompt; the prompts are /explain, /fix, /tests, /docs, /review, /simplify, /commit.',
    );
    expect(server.requestsTo('chat')).toHaveLength(0);
    await server.close();
  });
});

describe('prompt library in :RuneEdit', () => {
  it(':RuneEdit /fix sends the range with its diagnostics and rewrites it', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', {
      text: 'function M.add(a, b)\n  return (a or 0) + b\nend\n',
    });
    const { c } = await project(server);
    await c.t.nvim.command('2,4RuneEdit /fix');
    await waitFor(
      async () =>
        (await c.t.lua<{ state: string } | null>('return require("rune.edit").status()'))?.state ===
        'review',
      5000,
      'the review',
    );
    const body = server.requestsTo('chat')[0]!.body as Body;
    const sent = lastUser(server);
    expect(body.messages[0]!.role).toBe('system');
    expect(body.messages[0]!.content).toContain('Reply with the code only');
    expect(sent).toContain(
      'Instruction: Fix the problems in this code from math.lua. Its diagnostics:\nmath.lua:3:3: ERROR: boom: a may be nil [lsp]',
    );
    expect(sent).toContain('<rewrite>\nfunction M.add(a, b)\n  return a + b\nend\n</rewrite>');
    await c.t.nvim.input('gA');
    await waitFor(
      async () => (await c.t.lua('return require("rune.edit").status()')) === null,
      5000,
      'the end',
    );
    expect(await c.lines(await c.t.lua<number>('return vim.api.nvim_get_current_buf()'))).toEqual([
      'local M = {}',
      'function M.add(a, b)',
      '  return (a or 0) + b',
      'end',
      'return M',
    ]);
    await server.close();
  });

  it(':RuneEdit /tests writes the tests after the range and keeps the range', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: '```lua\nassert(M.add(1, 2) == 3)\n```' });
    const { c } = await project(server);
    await c.t.nvim.command('2,4RuneEdit /tests');
    await waitFor(
      async () =>
        (await c.t.lua<{ state: string } | null>('return require("rune.edit").status()'))?.state ===
        'review',
      5000,
      'the review',
    );
    expect(lastUser(server)).toContain('<insert-here/>');
    await c.t.nvim.input('gA');
    await waitFor(
      async () => (await c.t.lua('return require("rune.edit").status()')) === null,
      5000,
      'the end',
    );
    expect(await c.t.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).toEqual([
      ...CODE.slice(0, 4),
      'assert(M.add(1, 2) == 3)',
      'return M',
    ]);
    await server.close();
  });

  it(':RuneEdit /explain says to use the chat', async () => {
    const server = await startOllamaServer();
    const { c } = await project(server);
    await expect(c.t.nvim.command('2,4RuneEdit /explain')).rejects.toThrow(
      '/explain answers in the chat, not in the buffer: select the lines and run :RuneChat /explain.',
    );
    expect(await c.t.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).toEqual(CODE);
    expect(server.requestsTo('chat')).toHaveLength(0);
    await server.close();
  });
});
