import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startNvim } from '../helpers/nvim.js';
import { startOllamaServer } from '../helpers/servers/index.js';

describe('inline completion through the spawned host (dist/)', () => {
  it('starts the host on the first keys, shows the answer, and reports in :checkhealth', async () => {
    const server = await startOllamaServer();
    try {
      server.script('generate', () => ({ text: 'printf("hi");' }));
      const t = await startNvim({
        setup: `require('rune').setup({
          providers = { ollama = { url = '${server.url}' } },
          completion = { debounce_ms = 0 },
        })`,
      });
      await t.lua(`vim.bo.filetype = 'c'; vim.api.nvim_buf_set_lines(0, 0, -1, false, { '  ' })`);
      await t.nvim.input('A');
      try {
        await expect
          .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 15000 })
          .toBe('printf("hi");');
      } catch (e) {
        // Say why: the host's state and its log.
        const info = await t.lua<{ state: string; log_file: string }>(
          'return require("rune.host").info()',
        );
        const log = fs.existsSync(info.log_file) ? fs.readFileSync(info.log_file, 'utf8') : '';
        throw new Error(`${(e as Error).message}\nhost: ${info.state}\n${log}`);
      }
      // The first request is the one for the keys typed (later ones ask ahead, as if accepted).
      const body = server.requestsTo('generate')[0]!.body as Record<string, unknown>;
      expect(body).toMatchObject({ prompt: '  ', suffix: '\n' });
      await t.nvim.input('<Tab><Esc>');
      await expect
        .poll(() => t.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'))
        .toEqual(['  printf("hi");']);
      await t.nvim.command('checkhealth rune');
      const text = (
        await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
      ).join('\n');
      expect(text).toMatch(/rune: completion/);
      expect(text).toMatch(/provider: ollama \(ollama\)/);
      expect(text).toMatch(/[1-9]\d* shown/);
    } finally {
      await server.close();
    }
  });
});

describe('inline completion debounce (spawned host, default debounce_ms)', () => {
  it('asks the provider once for a burst of keys', async () => {
    const server = await startOllamaServer();
    try {
      // The answer names the prompt it was asked for, so the ghost text says which request won.
      server.script('generate', (req) => ({
        text: `for:${String((req.body as { prompt: string }).prompt).trim()}`,
      }));
      // No completion option at all: debounce_ms is the default.
      const t = await startNvim({
        setup: `require('rune').setup({ providers = { ollama = { url = '${server.url}' } } })`,
      });
      expect(await t.lua('return require("rune").config().completion.debounce_ms')).toBe(150);
      await t.lua(`vim.bo.filetype = 'c'; vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'x' })`);
      await t.nvim.input('A');
      await expect
        .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 15000 })
        .toBe('for:x');
      // Requests made ahead (the context as if the shown suggestion were accepted) carry the
      // answer's text in their prompt; only the requests for typed text count here.
      const typed = () =>
        server
          .requestsTo('generate')
          .filter((r) => !String((r.body as { prompt: string }).prompt).includes('for:')).length;
      const before = typed();
      // Eight keys typed 10 ms apart (a fast typist), each its own change in Neovim.
      await t.lua(`local keys, i = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h' }, 0
        local function step()
          i = i + 1
          vim.api.nvim_feedkeys(keys[i], 'n', false)
          if i < #keys then vim.defer_fn(step, 10) end
        end
        step()`);
      await expect
        .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 15000 })
        .toBe('for:xabcdefgh');
      expect(typed() - before).toBe(1);
    } finally {
      await server.close();
    }
  });
});
