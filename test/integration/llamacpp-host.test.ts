/**
 * The llamacpp provider as a user runs it: the built host (dist/), spawned by the Lua
 * layer in a real headless Neovim, against a real llama-server with the tiny model
 * (test/helpers/llama.ts). Every byte is one token, so the prompt token count the host
 * recorded says which prompt the server built.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LLAMA_SERVER,
  startLlama,
  tinyModel,
  tinyTokens,
  type LlamaServer,
} from '../helpers/llama.js';
import { alive, parserCmds, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';

let srv: LlamaServer;
beforeAll(async () => {
  srv = await startLlama();
});
afterAll(async () => {
  await srv.stop();
});

/** Opens :RuneChat, asks "hi" and returns the chat buffer. */
async function askHi(t: TestNvim): Promise<number> {
  await t.nvim.command('RuneChat');
  const buf = (await waitFor(
    () =>
      t.lua<number | null>(
        'for _, b in ipairs(vim.api.nvim_list_bufs()) do if vim.b[b].rune_chat_id then return b end end return nil',
      ),
    15000,
    'the chat buffer',
  ))!;
  await t.lua('vim.api.nvim_buf_set_lines(..., -2, -1, false, { "hi" })', [buf]);
  await t.lua('require("rune.chat").submit(...)', [buf]);
  return buf;
}

// A real model server beside two Neovims and hosts on a shared machine: generous deadlines.
describe('llamacpp provider through the spawned host (dist/)', { timeout: 90_000 }, () => {
  it('shows ghost text from /infill with the suffix and other buffers as input_extra', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-llama-'));
    const t = await startNvim({
      setup: `require('rune').setup({
        providers = { llamacpp = { url = '${srv.url}' } },
        -- No request made ahead (cache_entries = 0): usage counts the one prompt asserted.
        completion = { debounce_ms = 0, max_tokens = 4, cache_entries = 0, context_buffers = { enabled = true } },
      })`,
    });
    await t.lua(`
      vim.o.hidden = true
      vim.cmd.cd(${JSON.stringify(dir)})
      vim.cmd.edit('util.py'); vim.bo.filetype = 'python'
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def g(): pass' })
      vim.cmd.edit('main.py'); vim.bo.filetype = 'python'
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def f(', ')' })
      vim.api.nvim_win_set_cursor(0, { 1, 0 })
    `);
    await t.nvim.input('A');
    await expect
      .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 15000 })
      .toBe('4242');
    const usage = await t.lua<{ provider: string; inputTokens: number }[]>(
      'return require("rune.host").request("rune.providers.usage")',
    );
    // The server's repo-level FIM prompt: the other buffer as a file, then prefix and suffix.
    expect(usage).toMatchObject([
      {
        provider: 'llamacpp',
        inputTokens: tinyTokens(
          '<|repo_name|>myproject\n<|file_sep|>util.py\ndef g(): pass\n' +
            '<|file_sep|>filename\n<|fim_prefix|>def f(<|fim_suffix|>\n)<|fim_middle|>',
        ),
      },
    ]);
    await t.nvim.input('<Tab><Esc>');
    await expect
      .poll(() => t.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'))
      .toEqual(['def f(4242', ')']);
    await t.nvim.command('checkhealth rune');
    const text = (await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).join(
      '\n',
    );
    expect(text).toMatch(/llamacpp \(llamacpp\): reachable at .*context 4096 tokens.*\/infill/);
  });

  it('sends what you yanked as input_extra', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-llama-'));
    const t = await startNvim({
      setup: `require('rune').setup({
        providers = { llamacpp = { url = '${srv.url}' } },
        -- No request made ahead (cache_entries = 0): usage counts the one prompt asserted.
        completion = { debounce_ms = 0, max_tokens = 4, cache_entries = 0, context_buffers = { enabled = true } },
      })`,
    });
    await t.lua(`
      vim.cmd.cd(${JSON.stringify(dir)})
      vim.cmd.edit('main.py'); vim.bo.filetype = 'python'
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def f(', ')', 'YANKED = 1' })
      vim.api.nvim_win_set_cursor(0, { 3, 0 })
    `);
    await t.nvim.input('yy');
    await t.lua('vim.api.nvim_win_set_cursor(0, { 1, 0 })');
    await t.nvim.input('A');
    await expect
      .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 15000 })
      .toBe('4242');
    const usage = await t.lua<{ inputTokens: number }[]>(
      'return require("rune.host").request("rune.providers.usage")',
    );
    expect(usage).toMatchObject([
      {
        inputTokens: tinyTokens(
          '<|repo_name|>myproject\n<|file_sep|>main.py\nYANKED = 1\n' +
            '<|file_sep|>filename\n<|fim_prefix|>def f(<|fim_suffix|>\n)\nYANKED = 1<|fim_middle|>',
        ),
      },
    ]);
  });

  it(':RuneChat answers from a 4,096-token llama-server with the default tools on', async () => {
    const t = await startNvim({
      setup: `require('rune').setup({
        providers = { llamacpp = { url = '${srv.url}' } },
        chat = { start_insert = false },
      })`,
      preCmds: parserCmds(),
    });
    const buf = await askHi(t);
    const lines = () =>
      t.lua<string[]>('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', [buf]);
    try {
      await waitFor(
        async () => {
          const l = await lines();
          return l.at(-1) === '' && l.at(-2) === '## You' && l.includes('OK');
        },
        15000,
        'the answer',
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${(await lines()).join('\n')}`);
    }
  });

  it(':RuneChat offers no tools to a model whose chat template cannot take them', async () => {
    const plain = await startLlama({ args: ['--chat-template', 'chatml'] });
    try {
      const t = await startNvim({
        setup: `require('rune').setup({
          providers = { llamacpp = { url = '${plain.url}' } },
          chat = { start_insert = false },
        })`,
        preCmds: parserCmds(),
      });
      const buf = await askHi(t);
      const info = await t.lua<{ log_file: string }>('return require("rune.host").info()');
      await waitFor(
        () =>
          fs.existsSync(info.log_file) &&
          fs.readFileSync(info.log_file, 'utf8').includes('chat tools not offered'),
        15000,
        'the host to leave the tools out',
      );
      await waitFor(
        async () =>
          (
            await t.lua<string[]>('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', [buf])
          ).includes('OK'),
        15000,
        'the answer',
      );
    } finally {
      await plain.stop();
    }
  });

  it('runs llama-server itself with serve, and stops it when Neovim quits', async () => {
    // A copy under a unique name, so its server is the one process whose arguments name it.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-serve-'));
    const model = path.join(dir, 'served.gguf');
    fs.copyFileSync(tinyModel(), model);
    const ours = () => {
      for (const e of fs.readdirSync('/proc')) {
        try {
          const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
          if (cmd.includes(model)) return Number(e);
        } catch {
          // gone
        }
      }
      return undefined;
    };
    const t = await startNvim({
      setup: `_G.notes = {}
      vim.notify = function(m) table.insert(_G.notes, m) end
      require('rune').setup({
        providers = { llamacpp = { serve = {
          model = '${model}', bin = '${LLAMA_SERVER}', args = { '-c', '4096', '-np', '1' },
        } } },
        completion = { debounce_ms = 0, max_tokens = 4 },
      })`,
    });
    expect(ours()).toBeUndefined();
    await t.lua(
      "vim.bo.filetype = 'python'; vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'x = (' })",
    );
    await t.nvim.input('A');
    try {
      await expect
        .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 20000 })
        .toBe('4242');
    } catch (e) {
      const info = await t.lua<{ log_file: string }>('return require("rune.host").info()');
      const log = fs.existsSync(info.log_file) ? fs.readFileSync(info.log_file, 'utf8') : '';
      throw new Error(`${(e as Error).message}\n${log.slice(-3000)}`);
    }
    const pid = ours();
    expect(pid).toBeDefined();
    // The user saw it start and become ready.
    const notes = await t.lua<string[]>('return _G.notes');
    expect(notes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\(rune\) starting the llama-server of provider "llamacpp"/),
        expect.stringMatching(/^\(rune\) the llama-server of provider "llamacpp" is ready/),
      ]),
    );
    await t.nvim.input('<Esc>');
    await t.nvim.command('checkhealth rune');
    const health = (
      await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
    ).join('\n');
    expect(health).toContain(`started by Rune (pid ${pid})`);
    await t.close();
    await waitFor(() => !alive(pid!), 15000, 'llama-server to stop with the host');
  });
});
