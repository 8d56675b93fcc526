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
      const body = server.requestsTo('generate').at(-1)!.body as Record<string, unknown>;
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
