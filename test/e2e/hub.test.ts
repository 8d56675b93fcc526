/**
 * The MCP hub from chat, as a user runs it: a stdio MCP server configured in
 * `mcp.servers` (test/mcp/hub-write-server.mjs, built on the official SDK) is
 * started by the host the Lua layer spawned; the chat model (a wire-faithful
 * Ollama server) asks for its tool; the user allows it in the approval window
 * (lua/rune/approval.lua: `:RuneMcp approve` goes there, `a` allows once); the tool
 * runs in the server and its result goes back to the model.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { ROOT, waitFor } from '../helpers/nvim.js';
import { explained, startRune } from '../helpers/e2e.js';

const WRITER = path.join(ROOT, 'test', 'mcp', 'hub-write-server.mjs');

type Msg = { role: string; content: string; tool_calls?: unknown[]; tool_name?: string };
type Body = { messages: Msg[]; tools?: { function: { name: string } }[] };

let server: OllamaServer | undefined;
let ws: string | undefined;
afterAll(async () => {
  await server?.close();
  if (ws) fs.rmSync(ws, { recursive: true, force: true });
});

describe('MCP hub tools in chat (built host)', () => {
  it('runs a stdio server’s tool the model asks for, once the user allows it', async () => {
    ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-hub-')));
    const target = path.join(ws, 'out.txt');
    server = await startOllamaServer();
    server.enqueue(
      'chat',
      {
        text: 'Writing it.',
        toolCalls: [{ name: 'writer__write', input: { path: target, text: 'from the hub' } }],
      },
      { text: 'Done: the file is written.' },
    );
    const t = await startRune({
      cwd: ws,
      config: {
        providers: { local: { kind: 'ollama', url: server.url, retry: { max_attempts: 1 } } },
        mcp: { servers: { writer: { command: process.execPath, args: [WRITER] } } },
      },
    });
    await explained(t, async () => {
      // The hub connects once the host runs; wait until the server's tool is there.
      await waitFor(
        async () => {
          const hub = await t.lua<{ servers: { name: string; state: string; tools: unknown[] }[] }>(
            'return require("rune.host").request("rune.hub.status")',
          );
          const w = hub.servers.find((s) => s.name === 'writer');
          return w?.state === 'connected' && w.tools.length === 1;
        },
        30000,
        'the writer server to connect',
      );

      await t.nvim.input(':RuneChat write the file<CR>');
      // The approval window names who asks and what would run.
      const shown = await waitFor(
        () => t.lua<{ lines: string[] }>('return require("rune.approval").shown()'),
        20000,
        'the approval prompt',
      );
      expect(shown.lines[0]).toBe('Rune chat wants to run write (MCP server writer)');
      expect(fs.existsSync(target)).toBe(false);
      await t.nvim.input('<Esc>:RuneMcp approve<CR>');
      await waitFor(
        () => t.lua<boolean>('return vim.api.nvim_win_get_config(0).relative == "editor"'),
        10000,
        'the cursor in the approval window',
      );
      await t.nvim.input('a');
      await waitFor(() => server!.requestsTo('chat').length === 2, 20000, 'the tool result');
      expect(fs.readFileSync(target, 'utf8')).toBe('from the hub');

      const first = server!.requestsTo('chat')[0]!.body as Body;
      expect(first.tools?.map((x) => x.function.name)).toContain('writer__write');
      const second = server!.requestsTo('chat')[1]!.body as Body;
      const result = second.messages.find((m) => m.role === 'tool');
      expect(result).toMatchObject({ tool_name: 'writer__write' });
      expect(result!.content).toContain(`wrote ${target}`);

      const text = await waitFor(
        async () => {
          const l = await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
          const s = l.join('\n');
          return s.includes('Done: the file is written.') ? s : '';
        },
        20000,
        'the final answer',
      );
      expect(text).toContain('<details><summary>tool: writer__write</summary>');
    });
  });

  it('withdraws the approval window of a chat tool call when the chat is stopped', async () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-hub-')));
    const target = path.join(dir, 'never.txt');
    const model = await startOllamaServer();
    model.enqueue('chat', {
      text: 'Writing it.',
      toolCalls: [{ name: 'writer__write', input: { path: target, text: 'too late' } }],
    });
    const t = await startRune({
      cwd: dir,
      config: {
        providers: { local: { kind: 'ollama', url: model.url, retry: { max_attempts: 1 } } },
        mcp: { servers: { writer: { command: process.execPath, args: [WRITER] } } },
      },
    });
    try {
      await explained(t, async () => {
        await waitFor(
          async () => {
            const hub = await t.lua<{ servers: { name: string; state: string }[] }>(
              'return require("rune.host").request("rune.hub.status")',
            );
            return hub.servers.find((s) => s.name === 'writer')?.state === 'connected';
          },
          30000,
          'the writer server to connect',
        );
        await t.nvim.input(':RuneChat write the file<CR>');
        const shown = await waitFor(
          () => t.lua<{ id: string; lines: string[] }>('return require("rune.approval").shown()'),
          20000,
          'the approval prompt',
        );
        // It says who asked, what would run and with what.
        expect(shown.lines[0]).toBe('Rune chat wants to run write (MCP server writer)');
        expect(shown.lines.join('\n')).toContain('too late');
        expect(
          await t.lua<number>(
            `local n = 0
             for _, w in ipairs(vim.api.nvim_list_wins()) do
               if vim.api.nvim_win_get_config(w).relative ~= '' then n = n + 1 end
             end
             return n`,
          ),
        ).toBe(1);

        await t.nvim.input('<Esc>:RuneStop<CR>');
        // The host withdraws the prompt by its id: the window closes, nothing waits.
        await waitFor(
          async () =>
            (await t.lua<string[]>('return require("rune.approval").pending()')).length === 0 &&
            (await t.lua<boolean>(
              `for _, w in ipairs(vim.api.nvim_list_wins()) do
                 if vim.api.nvim_win_get_config(w).relative ~= '' then return false end
               end
               return true`,
            )),
          20000,
          'the prompt to be withdrawn',
        );
        const text = await waitFor(
          async () => {
            const l = await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
            return l.join('\n').includes('_(cancelled)_') ? l.join('\n') : '';
          },
          20000,
          'the chat to say it was cancelled',
        );
        expect(text).toContain('<details><summary>tool: writer__write</summary>');
        // A late answer to the withdrawn prompt runs nothing.
        await t.lua('require("rune.host").notify("rune.chat.tool_answer", ..., "once", {})', [
          shown.id,
        ]);
        expect(await t.lua<boolean>('return require("rune.approval").answer("once")')).toBe(false);
        expect(model.requestsTo('chat')).toHaveLength(1);
        expect(fs.existsSync(target)).toBe(false);
      });
    } finally {
      await t.close();
      await model.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
