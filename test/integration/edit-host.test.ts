/**
 * :RuneEdit as users run it: the built plugin, the host spawned by the Lua
 * layer from dist/, the real Ollama provider talking to the wire double.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { startLlama } from '../helpers/llama.js';

async function editor(server: OllamaServer): Promise<TestNvim> {
  return startNvim({
    setup: `require('rune').setup({
      providers = { ollama = { url = '${server.url}', model = 'coder', retry = { max_attempts = 1 } } },
      completion = { enabled = false },
      mcp = { enabled = false },
    })`,
  });
}

const status = (t: TestNvim) =>
  t.lua<{ state: string; hunks: number } | null>('return require("rune.edit").status()');
const lines = (t: TestNvim) =>
  t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');

async function explain(t: TestNvim, err: unknown): Promise<never> {
  const info = await t.lua<{ state: string; log_file: string }>(
    'return require("rune.host").info()',
  );
  const log = fs.existsSync(info.log_file) ? fs.readFileSync(info.log_file, 'utf8') : '';
  throw new Error(`${(err as Error).message}\nhost: ${info.state}\n${log}`);
}

describe(':RuneEdit through the spawned host (dist/)', () => {
  it('rewrites the Visual selection through <Plug>(RuneEdit), records usage, and accepting is one undo step', async () => {
    const server = await startOllamaServer();
    try {
      server.enqueue('chat', {
        text: ['```python\n', 'def add(a: int, b: int) -> int:\n', '    return a + b\n', '```'],
        usage: { input: 42, output: 9 },
      });
      const t = await editor(server);
      await t.lua(`vim.bo.filetype = 'python'
        vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'import os', 'def add(a, b):', '    return a + b', '', 'print(add(1, 2))' })
        vim.bo.modified = false
        vim.keymap.set('x', ',e', '<Plug>(RuneEdit)')`);
      // As typed, quickly: select lines 2-3, the mapping asks for the instruction, which is
      // already in the typeahead when the mapping runs.
      await t.nvim.input('jVj,eadd type hints<CR>');
      try {
        await waitFor(async () => (await status(t))?.state === 'review', 20000, 'the review');
      } catch (err) {
        await explain(t, err);
      }
      const body = server.requestsTo('chat')[0]!.body as {
        model: string;
        messages: { role: string; content: string }[];
      };
      expect(body.model).toBe('coder');
      expect(body.messages.at(-1)!.content).toContain(
        'Instruction: add type hints\n\nFile: [No Name] (python)\n<before>\nimport os\n</before>\n<rewrite>\ndef add(a, b):\n    return a + b\n</rewrite>',
      );
      expect(await lines(t)).toEqual([
        'import os',
        'def add(a: int, b: int) -> int:',
        '    return a + b',
        '',
        'print(add(1, 2))',
      ]);
      expect(await status(t)).toEqual({ state: 'review', hunks: 1 });
      await t.nvim.input('gA');
      await waitFor(async () => (await status(t)) === null, 5000, 'the end of the edit');
      expect(await t.lua('return vim.bo.modified')).toBe(true);
      await t.nvim.input('u');
      await waitFor(async () => (await lines(t))[1] === 'def add(a, b):', 5000, 'the undo');
      expect(await t.lua('return vim.bo.modified')).toBe(false);
      const usage = await t.lua<{ provider: string; inputTokens: number; outputTokens: number }[]>(
        'return require("rune.host").request("rune.providers.usage")',
      );
      expect(usage).toContainEqual(
        expect.objectContaining({ provider: 'ollama', inputTokens: 42, outputTokens: 9 }),
      );
      await t.nvim.command('checkhealth rune');
      const health = (await lines(t)).join('\n');
      expect(health).toContain(
        ':RuneEdit and 7 prompts: /explain /fix /tests /docs /review /simplify /commit',
      );
    } finally {
      await server.close();
    }
  });

  it(':RuneEdit! /commit writes a commit message from the staged diff into a gitcommit buffer', async () => {
    const server = await startOllamaServer();
    try {
      server.enqueue('chat', { text: 'Greet the world\n\nThe program said nothing.\n' });
      const t = await editor(server);
      const dir = fs.mkdtempSync(path.join(t.home, 'repo-'));
      const env = {
        ...process.env,
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_CONFIG_SYSTEM: '/dev/null',
      };
      execFileSync('git', ['init', '-q'], { cwd: dir, env });
      fs.writeFileSync(path.join(dir, 'hello.sh'), 'echo hello\n');
      execFileSync('git', ['add', 'hello.sh'], { cwd: dir, env });
      await t.nvim.command(`edit ${path.join(dir, '.git', 'COMMIT_EDITMSG')}`);
      await t.lua('vim.bo.filetype = "gitcommit"');
      await t.nvim.command('RuneEdit! /commit');
      try {
        await waitFor(async () => (await status(t))?.state === 'review', 20000, 'the review');
      } catch (err) {
        await explain(t, err);
      }
      const sent = (
        server.requestsTo('chat')[0]!.body as { messages: { content: string }[] }
      ).messages.at(-1)!.content;
      expect(sent).toContain('Write a commit message for the staged changes');
      expect(sent).toContain('diff --git a/hello.sh b/hello.sh');
      expect(sent).toContain('+echo hello');
      // A blank line is a place for new code, not lines to rewrite.
      expect(sent).toContain('<insert-here/>');
      expect(sent).not.toContain('<rewrite>');
      await t.nvim.input('gA');
      await waitFor(async () => (await status(t)) === null, 5000, 'the end of the edit');
      expect(await lines(t)).toEqual(['Greet the world', '', 'The program said nothing.']);
    } finally {
      await server.close();
    }
  });
});

describe(':RuneEdit against the real llama-server', () => {
  it('streams a rewrite from llama-server (OpenAI-compatible), and reject all restores everything', async () => {
    const llama = await startLlama({ ctx: 2048 });
    try {
      const t = await startNvim({
        setup: `require('rune').setup({
          providers = { llama = { kind = 'openai', url = '${llama.url}/v1', model = 'tiny',
            retry = { max_attempts = 1 } } },
          completion = { enabled = false },
          mcp = { enabled = false },
        })`,
      });
      const original = ['local function add(a, b)', '  return a + b', 'end'];
      await t.lua('vim.api.nvim_buf_set_lines(0, 0, -1, false, ...) vim.bo.modified = false', [
        original,
      ]);
      const before = await t.lua('return vim.fn.undotree().entries');
      await t.nvim.command('1,3RuneEdit add a comment');
      const log = await t.lua<string>('return require("rune.host").info().log_file');
      const ended = () =>
        (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { msg: string; status?: string; chars?: number })
          .find((l) => l.msg === 'edit written');
      const written = (await waitFor(ended, 30000, 'the edit to end'))!;
      expect(written.status).toBe('done');
      expect(written.chars).toBeGreaterThan(0);
      // The tiny model answers "OK": a rewrite that differs, so the review waits; rejecting it
      // restores everything.
      expect(await status(t)).toBeTruthy();
      await t.nvim.input('gR');
      await waitFor(async () => (await status(t)) === null, 5000, 'the end of the edit');
      expect(await lines(t)).toEqual(original);
      expect(await t.lua('return vim.bo.modified')).toBe(false);
      expect(await t.lua('return vim.fn.undotree().entries')).toEqual(before);
    } finally {
      await llama.stop();
    }
  });
});
