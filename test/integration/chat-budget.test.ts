/**
 * The context budget, end to end with the real spawned host (dist/): `#file`
 * and `#buffer` together get at most `chat.max_context_chars`; a huge file is
 * cut, and the user is told what was cut.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startOllamaServer } from '../helpers/servers/index.js';
import { startNvim, waitFor } from '../helpers/nvim.js';
import { ollamaAt, parserCmds } from './chat-helpers.js';

describe('chat context budget (real host)', () => {
  it('cuts #buffer and a huge #file to chat.max_context_chars together, and says what was cut', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'ok' });
    const t0 = await startNvim();
    const proj = fs.mkdtempSync(path.join(t0.home, 'proj-'));
    await t0.close();
    fs.mkdirSync(proj, { recursive: true });
    fs.mkdirSync(path.join(proj, '.git'));
    // 8 MiB: far over the budget; only its start may be read.
    fs.writeFileSync(path.join(proj, 'big.log'), 'x'.repeat(8 * 1024 * 1024));
    fs.writeFileSync(path.join(proj, 'small.lua'), `${'-- a\n'.repeat(20)}`);
    const config = {
      providers: { local: ollamaAt(server.url) },
      chat: { start_insert: false, max_context_chars: 1000 },
    };
    const t = await startNvim({
      setup: `vim.fn.chdir(${JSON.stringify(proj)}) require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
      preCmds: parserCmds(),
    });
    await t.nvim.command(`edit ${path.join(proj, 'small.lua')}`);
    await t.nvim.command('RuneChat');
    await t.lua(
      'vim.api.nvim_buf_set_lines(0, -2, -1, false, { "what is in #buffer #file:big.log" })',
    );
    await t.lua('require("rune.chat").submit()');
    await waitFor(() => server.requestsTo('chat').length === 1, 20000, 'the chat request');
    const body = server.requestsTo('chat')[0]!.body as {
      messages: { role: string; content: string }[];
    };
    const user = body.messages.find((m) => m.role === 'user')!.content;
    // The buffer (20 lines, 99 characters) comes first; the file gets the 901 left, and
    // only 4 bytes per character of it were read.
    const left = 1000 - 99;
    const read = left * 4 + 4;
    expect(user).toContain(`<context name="#buffer small.lua">\n${'-- a\n'.repeat(20)}</context>`);
    expect(user).toContain(
      `<context name="#file:big.log">\n${'x'.repeat(left)}\n… (cut: ${read - left} more characters and ${8 * 1024 * 1024 - read} more bytes not sent)\n</context>`,
    );
    expect(user.length).toBeLessThan(2000);
    const messages = await waitFor(
      async () => {
        const m = (await t.nvim.commandOutput('messages')) as string;
        return m.includes('max_context_chars') ? m : '';
      },
      10000,
      'the notice',
    );
    expect(messages).toContain(
      '(rune) context over chat.max_context_chars (1000): #file:big.log: the first 901 characters were sent;',
    );
    // The context block is written with the answer's first text.
    const lines = await waitFor(
      async () => {
        const l = await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
        return l.some((x) => x.startsWith('<details>')) ? l : undefined;
      },
      10000,
      'the context block',
    );
    expect(lines).toContain(
      '<details><summary>context: #buffer small.lua, #file:big.log (cut)</summary>',
    );
    await server.close();
  });
});
