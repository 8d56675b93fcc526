/**
 * The llamacpp provider as a user runs it: the built host (dist/), spawned by the Lua
 * layer in a real headless Neovim, against a real llama-server with the tiny model
 * (test/helpers/llama.ts). Every byte is one token, so the prompt token count the host
 * recorded says which prompt the server built.
 */
import { execFileSync } from 'node:child_process';
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
import { startHfHub } from '../helpers/hf-hub.js';
import { alive, parserCmds, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';

let srv: LlamaServer;
beforeAll(async () => {
  srv = await startLlama();
});
afterAll(async () => {
  await srv.stop();
});

/** Appends at the cursor line, waits for the tiny model's ghost text, and returns the usage rows. */
async function ghostUsage(t: TestNvim): Promise<{ provider: string; inputTokens: number }[]> {
  await t.nvim.input('A');
  await expect
    .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 15000 })
    .toBe('4242');
  return t.lua('return require("rune.host").request("rune.providers.usage")');
}

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
    const usage = await ghostUsage(t);
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
    const usage = await ghostUsage(t);
    expect(usage).toMatchObject([
      {
        inputTokens: tinyTokens(
          '<|repo_name|>myproject\n<|file_sep|>main.py\nYANKED = 1\n' +
            '<|file_sep|>filename\n<|fim_prefix|>def f(<|fim_suffix|>\n)\nYANKED = 1<|fim_middle|>',
        ),
      },
    ]);
  });

  it('sends the lines you edited lately, in another buffer, as input_extra', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-llama-'));
    const t = await startNvim({
      setup: `require('rune').setup({
        providers = { llamacpp = { url = '${srv.url}' } },
        -- No request made ahead (cache_entries = 0): usage counts the one prompt asserted.
        completion = { debounce_ms = 0, max_tokens = 4, cache_entries = 0, context_buffers = { enabled = true } },
      })`,
    });
    // Another filetype, so the buffer is not sent as an open buffer of the same filetype.
    await t.lua(`
      vim.o.hidden = true
      vim.cmd.cd(${JSON.stringify(dir)})
      vim.cmd.edit('notes.txt')
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'XDITED = 1' })
      vim.api.nvim_win_set_cursor(0, { 1, 0 })
    `);
    await t.nvim.input('rE');
    await waitFor(
      async () => (await t.lua<string>('return vim.api.nvim_get_current_line()')) === 'EDITED = 1',
      5000,
      'the edit',
    );
    await t.lua(`
      vim.cmd.edit('main.py'); vim.bo.filetype = 'python'
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def f(', ')' })
      vim.api.nvim_win_set_cursor(0, { 1, 0 })
    `);
    const usage = await ghostUsage(t);
    expect(usage).toMatchObject([
      {
        inputTokens: tinyTokens(
          '<|repo_name|>myproject\n<|file_sep|>notes.txt\nEDITED = 1\n' +
            '<|file_sep|>filename\n<|fim_prefix|>def f(<|fim_suffix|>\n)<|fim_middle|>',
        ),
      },
    ]);
  });

  it('ends the ghost text where llama-server stops it for indentation (n_indent)', async () => {
    // This model answers "x\n y\n y…": its second line is indented less than the cursor line.
    const lines = await startLlama({ model: 'lines' });
    try {
      const t = await startNvim({
        setup: `require('rune').setup({
          providers = { llamacpp = { url = '${lines.url}' } },
          completion = { debounce_ms = 0, max_tokens = 30, cache_entries = 0 },
        })`,
      });
      await t.lua(`
        vim.bo.filetype = 'python'
        vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def f():', '  ' })
        vim.api.nvim_win_set_cursor(0, { 2, 1 })
      `);
      await t.nvim.input('A');
      await expect
        .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 15000 })
        .toBe('x');
      await t.close();
    } finally {
      await lines.stop();
    }
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

  it('runs llama-server itself with serve, shows its start in place, and stops it when Neovim quits', async () => {
    // A copy under a unique name, so its server is the one process whose arguments name it.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-serve-'));
    const model = path.join(dir, 'served.gguf');
    fs.copyFileSync(tinyModel(), model);
    const t = await startNvim({ setup: serveSetup(model) });
    expect(ours(model)).toBeUndefined();
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
    const pid = ours(model);
    expect(pid).toBeDefined();
    // One progress message, updated in place: started, loading (the server's log line
    // "load_model: loading model" or /health 503), ready.
    const seen = await t.lua<Seen[]>('return _G.seen');
    expect(seen.map((s) => [s.key, s.status, s.title])).toEqual([
      ['serve.llamacpp', 'running', 'llama-server (llamacpp)'],
      ['serve.llamacpp', 'running', 'llama-server (llamacpp)'],
      ['serve.llamacpp', 'success', 'llama-server (llamacpp)'],
    ]);
    expect(seen.map((s) => s.text)).toEqual([
      'starting (served.gguf)',
      'loading the model',
      expect.stringMatching(/^ready \(\d+\.\d s\)$/),
    ]);
    await t.nvim.input('<Esc>');
    await t.nvim.command('checkhealth rune');
    const health = (
      await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
    ).join('\n');
    expect(health).toContain(`started by Rune (pid ${pid})`);
    await t.close();
    await waitFor(() => !alive(pid!), 15000, 'llama-server to stop with the host');
  });

  it('serve.hf_repo: llama-server downloads the repo from HF_ENDPOINT, then answers', async () => {
    const hub = await startHfHub('rune/tiny-GGUF', 'tiny-Q8_0.gguf', tinyModel());
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hf-'));
    try {
      const t = await startNvim({
        env: { HF_ENDPOINT: hub.endpoint, LLAMA_CACHE: cache },
        setup: `_G.seen = {}
          local p = require('rune.progress')
          local orig = p.update
          p.update = function(k, x) table.insert(_G.seen, x.text); orig(k, x) end
          require('rune').setup({
            providers = { llamacpp = { serve = {
              hf_repo = 'rune/tiny-GGUF:Q8_0', bin = '${LLAMA_SERVER}', args = { '-c', '4096', '-np', '1' },
            } } },
            completion = { debounce_ms = 0, max_tokens = 4 },
          })`,
      });
      await t.lua(
        "vim.bo.filetype = 'python'; vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'x = (' })",
      );
      await t.nvim.input('A');
      await expect
        .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 20000 })
        .toBe('4242');
      expect(hub.requests.map((r) => r.replace(/[0-9a-f]{40}/, '<commit>'))).toEqual([
        'GET /api/models/rune/tiny-GGUF/refs',
        'GET /api/models/rune/tiny-GGUF/tree/<commit>?recursive=true',
        'HEAD /rune/tiny-GGUF/resolve/<commit>/tiny-Q8_0.gguf',
        'GET /rune/tiny-GGUF/resolve/<commit>/tiny-Q8_0.gguf',
      ]);
      // In the server's Hugging Face cache, as the hub's tools lay it out.
      const snapshots = path.join(cache, 'models--rune--tiny-GGUF', 'snapshots');
      const [commit] = fs.readdirSync(snapshots);
      const got = fs.readFileSync(path.join(snapshots, commit!, 'tiny-Q8_0.gguf'));
      expect(got.equals(fs.readFileSync(tinyModel()))).toBe(true);
      const seen = await t.lua<string[]>('return _G.seen');
      expect(seen[0]).toBe('starting (rune/tiny-GGUF:Q8_0)');
      expect(seen.at(-1)).toMatch(/^ready/);
      await t.close();
    } finally {
      await hub.close();
    }
  });

  it('cancelling the start of a served llama-server kills it and the chat says so', async () => {
    // A named pipe as the model: the real server listens, answers /health with 503
    // "Loading model", and waits for the file's bytes, which never come.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-serve-'));
    const model = path.join(dir, 'stuck.gguf');
    execFileSync('mkfifo', [model]);
    const t = await startNvim({ setup: serveSetup(model), preCmds: parserCmds() });
    const buf = await askHi(t);
    await waitFor(
      async () =>
        (await t.lua<Seen[]>('return _G.seen')).some((s) => s.text === 'loading the model'),
      20000,
      'the server to be loading the model',
    );
    const pid = ours(model);
    expect(pid).toBeDefined();
    // What cancelling the progress message does on 0.12 (its Progress event), and what a
    // user of any version can call.
    await t.lua("require('rune.progress').cancel('serve.llamacpp')");
    await waitFor(() => !alive(pid!), 15000, 'the starting llama-server to be killed');
    const seen = await waitFor(
      async () => {
        const s = await t.lua<Seen[]>('return _G.seen');
        return s.at(-1)?.status === 'cancel' ? s : undefined;
      },
      15000,
      'the cancelled progress',
    );
    expect(seen!.map((s) => s.text)).toEqual([
      'starting (stuck.gguf)',
      'loading the model',
      'cancelled',
    ]);
    const lines = await waitFor(
      async () => {
        const l = (
          await t.lua<string[]>('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', [buf])
        ).join('\n');
        return l.includes('was cancelled') ? l : undefined;
      },
      15000,
      'the chat to say why it has no answer',
    );
    expect(lines).toContain(
      'The start of the llama-server of provider "llamacpp" was cancelled; the next request starts it again.',
    );
    await t.close();
  });
});

interface Seen {
  key: string;
  title: string;
  text: string;
  status: string;
}

/** A setup() that serves `model` and records every progress update in _G.seen. */
function serveSetup(model: string): string {
  return `_G.seen = {}
      local p = require('rune.progress')
      local orig = p.update
      p.update = function(k, x) table.insert(_G.seen, vim.tbl_extend('force', { key = k }, x)); orig(k, x) end
      require('rune').setup({
        providers = { llamacpp = { serve = {
          model = '${model}', bin = '${LLAMA_SERVER}', args = { '-c', '4096', '-np', '1' },
        } } },
        completion = { debounce_ms = 0, max_tokens = 4 },
        chat = { start_insert = false },
      })`;
}

/** The pid of the one process whose arguments name `model`. */
function ours(model: string): number | undefined {
  for (const e of fs.readdirSync('/proc')) {
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.includes(model)) return Number(e);
    } catch {
      // gone
    }
  }
  return undefined;
}
