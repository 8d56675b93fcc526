/**
 * A state folder Rune cannot write to, end to end with the real spawned host
 * (dist/): the chat says once that it cannot save, and goes on in memory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startOllamaServer } from '../helpers/servers/index.js';
import { startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { ollamaAt, parserCmds } from './chat-helpers.js';

const bufferText = (t: TestNvim) =>
  t.lua<string>('return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\\n")');

describe('chat with a state folder that cannot be written (real host)', () => {
  it('says so once, with the reason, and the conversation goes on in memory', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'First answer.' });
    server.enqueue('chat', { text: 'Second answer.' });
    const config = {
      providers: { local: ollamaAt(server.url) },
      chat: { start_insert: false },
    };
    const t = await startNvim({
      setup: `require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
      preCmds: parserCmds(),
    });
    // Where the chats folder should be, a file: no write below it can succeed (even as root).
    const rune = path.join(t.home, 'state', 'nvim', 'rune');
    fs.mkdirSync(rune, { recursive: true });
    fs.writeFileSync(path.join(rune, 'chats'), 'not a folder');
    await t.nvim.command('RuneChat');
    await t.lua('vim.api.nvim_buf_set_lines(0, -2, -1, false, { "one" })');
    await t.lua('require("rune.chat").submit()');
    await waitFor(async () => (await bufferText(t)).includes('First answer.'), 20000, 'answer 1');
    await waitFor(async () => (await bufferText(t)).endsWith('## You\n'), 10000, 'idle');
    await t.lua('vim.api.nvim_buf_set_lines(0, -2, -1, false, { "two" })');
    await t.lua('require("rune.chat").submit()');
    await waitFor(async () => (await bufferText(t)).includes('Second answer.'), 20000, 'answer 2');
    // The second request carries the first exchange: the chat lives on in memory.
    const body = server.requestsTo('chat')[1]!.body as {
      messages: { role: string; content: string }[];
    };
    expect(body.messages.filter((m) => m.role !== 'system').map((m) => m.content)).toEqual([
      'one',
      'First answer.',
      'two',
    ]);
    const messages = (await t.nvim.commandOutput('messages')) as string;
    const notes = messages.split('\n').filter((l) => l.includes('could not save the chat'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain(path.join(rune, 'chats'));
    expect(notes[0]).toContain('it stays open in its buffer');
    // Nothing half-written next to it.
    expect(fs.readdirSync(rune).filter((n) => n !== 'mcp')).toEqual(['chats']);
    expect(fs.readFileSync(path.join(rune, 'chats'), 'utf8')).toBe('not a folder');
    await server.close();
  });
});
