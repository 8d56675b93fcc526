/**
 * End to end with the real spawned host (dist/, build it first with
 * `npx tsc -p tsconfig.build.json`): the chat history survives `kill -9` of the
 * host in the middle of a stream, and the chat reloads afterwards.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startOllamaServer } from '../helpers/servers/index.js';
import { parserCmds, startNvim, waitFor, alive } from '../helpers/nvim.js';
import { ollamaAt } from './chat-helpers.js';

interface Saved {
  id: string;
  messages: { role: string; content: string; status?: string }[];
}

describe('chat history and a crashing host', () => {
  it('keeps a readable history file through kill -9 mid-stream and reloads the chat', async () => {
    const server = await startOllamaServer();
    const tokens = Array.from({ length: 600 }, (_, i) => `tok${i} `);
    server.enqueue('chat', { text: tokens, chunkDelayMs: 10 });
    const config = {
      providers: { local: ollamaAt(server.url) },
      chat: { start_insert: false, save_interval_ms: 100 },
      host: { restart_backoff_ms: 60000 },
    };
    const t = await startNvim({
      setup: `require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
      preCmds: parserCmds(),
    });
    await t.nvim.command('RuneChat');
    const buf = await t.lua<number>('return vim.api.nvim_get_current_buf()');
    await t.lua('vim.api.nvim_buf_set_lines(0, -2, -1, false, { "count for me" })');
    await t.lua('require("rune.chat").submit()');

    const dir = path.join(t.home, 'state', 'nvim', 'rune', 'chats');
    const chatFile = () => {
      if (!fs.existsSync(dir)) return undefined;
      for (const d of fs.readdirSync(dir)) {
        const f = fs.readdirSync(path.join(dir, d)).find((n) => n.endsWith('.json'));
        if (f) return path.join(dir, d, f);
      }
      return undefined;
    };
    // Every read while the stream is being saved parses: the file is never torn.
    let reads = 0;
    await waitFor(
      () => {
        const f = chatFile();
        if (!f) return false;
        const saved = JSON.parse(fs.readFileSync(f, 'utf8')) as Saved;
        reads++;
        return (saved.messages[1]?.content ?? '').includes('tok20 ');
      },
      10000,
      'a partial answer on disk',
    );
    expect(reads).toBeGreaterThan(0);
    const status = await t.lua<{ pid: number }>(
      'return require("rune.host").request("rune.status")',
    );
    process.kill(status.pid, 'SIGKILL');
    await waitFor(() => !alive(status.pid), 5000, 'the host to die');
    await server.waitForClose(1);

    const file = chatFile()!;
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Saved;
    expect(saved.messages[0]).toMatchObject({ role: 'user', content: 'count for me' });
    expect(saved.messages[1]).toMatchObject({ role: 'assistant', status: 'streaming' });
    const partial = saved.messages[1]!.content;
    expect(partial.length).toBeGreaterThan(0);
    expect(tokens.join('').startsWith(partial)).toBe(true);
    expect(partial).not.toContain('tok599');

    // Reopen it through :RuneChatHistory; this starts a new host.
    await t.lua(`vim.ui.select = function(items, _, cb) cb(items[1]) end`);
    await t.nvim.command('RuneChatHistory');
    const lines = await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
    const text = lines.join('\n');
    expect(text).toContain(`## You\ncount for me\n\n## Rune (local/llama3.2)\n\n${partial}`);
    expect(text).toContain('_(interrupted: Rune stopped during this answer)_');
    expect(lines.slice(-2)).toEqual(['## You', '']);
    // The same chat buffer is reused, and the conversation goes on.
    expect(await t.lua('return vim.api.nvim_get_current_buf()')).toBe(buf);
    await t.lua('vim.api.nvim_buf_set_lines(0, -2, -1, false, { "go on" })');
    await t.lua('require("rune.chat").submit()');
    await waitFor(
      async () =>
        (
          await t.lua<string>(
            'return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\\n")',
          )
        ).includes('Hello from Ollama'),
      10000,
      'the next answer',
    );
    const body = server.requestsTo('chat').at(-1)!.body as {
      messages: { role: string; content: string }[];
    };
    expect(body.messages.filter((m) => m.role !== 'system').map((m) => m.content)).toEqual([
      'count for me',
      partial,
      'go on',
    ]);
    await server.close();
  });
});
