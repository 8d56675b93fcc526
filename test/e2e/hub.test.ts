/**
 * The MCP hub from chat, as a user runs it: a stdio MCP server configured in
 * `mcp.servers` (test/mcp/hub-write-server.mjs, built on the official SDK) is
 * started by the host the Lua layer spawned; the chat model (a wire-faithful
 * Ollama server) asks for its tool; the user allows it in the prompt
 * (vim.ui.select's default, answered by typing the choice's number); the tool
 * runs in the server and its result goes back to the model.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { ROOT, waitFor } from '../helpers/nvim.js';
import { explained, promptWaiting, startRune } from '../helpers/e2e.js';

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
      // The approval prompt: inputlist() waits for the number of "Allow once" (the first).
      await promptWaiting(t, 'the approval prompt');
      expect(fs.existsSync(target)).toBe(false);
      await t.nvim.input('1<CR>');
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
});
