/**
 * History that keeps everything, end to end with the real spawned host
 * (dist/): a chat that used a tool (asked, approved, run on server-everything
 * through the hub) is reopened in a new host and continues with the very
 * conversation the model saw: the request body says so.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { ROOT, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { ollamaAt, parserCmds } from './chat-helpers.js';
import { HISTORY_VERSION, HistoryStore } from '../../src/nvim/chat/history.js';
import { nullLogger } from '../../src/core/log.js';

const EVERYTHING = path.join(
  ROOT,
  'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);

type Msg = { role: string; content: string; tool_calls?: unknown[]; tool_name?: string };
const messagesOf = (s: OllamaServer, i: number) =>
  (s.requestsTo('chat')[i]!.body as { messages: Msg[] }).messages;

const bufferText = (t: TestNvim) =>
  t.lua<string>('return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\\n")');

describe('chat history with tool turns (real host)', () => {
  it('a reopened chat that used a tool sends the model the same conversation', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', {
      text: 'Let me echo that.',
      toolCalls: [{ name: 'everything__echo', input: { message: 'ping' } }],
    });
    server.enqueue('chat', { text: 'The server said: ping.' });
    server.enqueue('chat', { text: 'Going on.' });
    const config = {
      providers: { local: ollamaAt(server.url) },
      chat: { start_insert: false },
      mcp: {
        enabled: false,
        servers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] } },
      },
    };
    const t = await startNvim({
      setup: `require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
      preCmds: parserCmds(),
    });
    await waitFor(
      async () =>
        (
          await t.lua<{ name: string; state: string }[]>(
            'return require("rune.host").request("rune.hub.status").servers',
          )
        ).some((s) => s.name === 'everything' && s.state === 'connected'),
      30000,
      'the hub server',
    );
    await t.nvim.command('RuneChat');
    await t.lua('vim.api.nvim_buf_set_lines(0, -2, -1, false, { "echo ping" })');
    await t.lua('require("rune.chat").submit()');
    // The approval window asks about the tool call; the user answers "once".
    await waitFor(
      () => t.lua<boolean>('return require("rune.approval").shown() ~= nil'),
      30000,
      'the approval window',
    );
    await t.lua('require("rune.approval").answer("once")');
    await waitFor(
      async () => (await bufferText(t)).includes('The server said: ping.'),
      30000,
      'the answer after the tool',
    );
    await waitFor(async () => (await bufferText(t)).endsWith('## You\n'), 10000, 'an idle chat');
    const before = messagesOf(server, 1);
    expect(before.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool']);

    // A new host knows nothing of the chat but what is on disk.
    await t.nvim.command('RuneRestart');
    await t.lua('vim.ui.select = function(items, _, cb) cb(items[1]) end');
    await t.nvim.command('RuneChatHistory');
    // The reopened chat is drawn, with its answer, before the next question goes in.
    await waitFor(
      async () => {
        const text = await bufferText(t);
        return text.includes('The server said: ping.') && text.endsWith('## You\n');
      },
      20000,
      'the reopened chat',
    );
    await t.lua('vim.api.nvim_buf_set_lines(0, -2, -1, false, { "go on" })');
    await t.lua('require("rune.chat").submit()');
    await waitFor(() => server.requestsTo('chat').length === 3, 20000, 'the next request');
    const after = messagesOf(server, 2);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length)).toEqual([
      { role: 'assistant', content: 'The server said: ping.' },
      { role: 'user', content: 'go on' },
    ]);
    await server.close();
  }, 90000);
});

describe('chat history files', () => {
  it('loads a version 1 file (answers without turns) and writes it back as the current version', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-chats-'));
    const store = new HistoryStore(dir, nullLogger);
    const v1 = {
      version: 1,
      id: '20250101-120000-0123abcd',
      project: '/proj',
      title: 'old chat',
      createdAt: '2025-01-01T12:00:00.000Z',
      updatedAt: '2025-01-01T12:00:00.000Z',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello', status: 'done', provider: 'local' },
      ],
    };
    const file = store.file(v1);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(v1));
    const chat = await store.load('/proj', v1.id);
    expect(HISTORY_VERSION).toBe(2);
    expect(chat.version).toBe(2);
    expect(chat.messages).toEqual(v1.messages);
    await store.save(chat);
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof v1;
    expect(saved.version).toBe(2);
    expect(saved.messages).toEqual(v1.messages);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('damaged chat files (real host)', () => {
  it('moves a damaged chat file aside, names it, and lists the good ones', async () => {
    const t = await startNvim({ setup: 'require("rune").setup({})' });
    const proj = fs.realpathSync(fs.mkdtempSync(path.join(t.home, 'proj-')));
    await t.lua(`vim.fn.chdir(${JSON.stringify(proj)})`);
    const dir = path.join(
      t.home,
      'state',
      'nvim',
      'rune',
      'chats',
      createHash('sha256').update(proj).digest('hex').slice(0, 16),
    );
    fs.mkdirSync(dir, { recursive: true });
    const good = {
      version: 2,
      id: '20250101-120000-0123abcd',
      project: proj,
      title: 'a good chat',
      createdAt: '2025-01-01T12:00:00.000Z',
      updatedAt: '2025-01-01T12:00:00.000Z',
      messages: [{ role: 'user', content: 'hi' }],
    };
    fs.writeFileSync(path.join(dir, `${good.id}.json`), JSON.stringify(good));
    const bad = path.join(dir, '20250102-120000-89abcdef.json');
    fs.writeFileSync(bad, '{"version": 2, "id": "20250102-1200');
    await t.lua('_G.offered = nil; vim.ui.select = function(items) _G.offered = items end');
    await t.nvim.command('RuneChatHistory');
    const offered = await t.lua<{ title: string }[]>('return _G.offered');
    expect(offered.map((c) => c.title)).toEqual(['a good chat']);
    const messages = await waitFor(
      async () => {
        const m = (await t.nvim.commandOutput('messages')) as string;
        return m.includes('damaged') ? m : '';
      },
      10000,
      'the notice',
    );
    expect(messages).toContain(`(rune) The saved chat ${bad} is damaged (not JSON:`);
    expect(messages).toContain(`it was moved to ${bad}.damaged-`);
    expect(fs.existsSync(bad)).toBe(false);
    const aside = fs.readdirSync(dir).filter((n) => n.includes('.damaged-'));
    expect(aside).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, aside[0]!), 'utf8')).toBe(
      '{"version": 2, "id": "20250102-1200',
    );
  });
});
