/**
 * What the host spawned by the Lua layer loads at start: vendor SDKs are loaded
 * on the first request to their provider, and the MCP client on the hub's first
 * connection, not before (most of a Node process's
 * start is module loading). A module hook given through NODE_OPTIONS, which
 * the host inherits from Neovim, records every package the host imports.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor } from '../helpers/nvim.js';
import { explained, startRune } from '../helpers/e2e.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-startup-'));
const servers: OllamaServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes a module hook that appends each package specifier imported to `out`. */
function importRecorder(out: string): string {
  const hook = path.join(dir, 'hook.mjs');
  fs.writeFileSync(
    hook,
    `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) {
  if (!spec.startsWith('.') && !spec.startsWith('node:') && !spec.startsWith('file:') && !spec.startsWith('/')) {
    appendFileSync(${JSON.stringify(out)}, spec + '\\n');
  }
  return next(spec, ctx);
}
`,
  );
  const register = path.join(dir, 'register.mjs');
  fs.writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hook}`)});\n`,
  );
  return register;
}

const SDKS = ['ollama', 'openai', '@anthropic-ai/sdk'];

describe('host start (built host spawned by the Lua layer)', () => {
  it('loads no provider SDK (nor the MCP client) until asked, then only the one asked', async () => {
    const server = await startOllamaServer();
    servers.push(server);
    server.script('generate', () => ({ text: 'ok()' }));
    const out = path.join(dir, 'imported.txt');
    const register = importRecorder(out);
    const t = await startRune({
      env: { NODE_OPTIONS: `--import=${register}` },
      config: {
        providers: {
          ollama: { url: server.url, retry: { max_attempts: 1 } },
          claude: { kind: 'anthropic', url: 'http://127.0.0.1:9' },
          oai: { kind: 'openai', url: 'http://127.0.0.1:9/v1' },
        },
        default_provider: 'ollama',
      },
    });
    await explained(t, async () => {
      await t.lua('require("rune.host").wait()');
      const imported = () => new Set(fs.readFileSync(out, 'utf8').trim().split('\n'));
      // The hook saw the host's imports (the RPC client), and no SDK among them.
      expect(imported()).toContain('neovim');
      expect(SDKS.filter((s) => imported().has(s))).toEqual([]);
      // No MCP server is configured for the hub: the SDK's client side stays unloaded.
      const client = () => [...imported()].filter((s) => s.includes('/sdk/client/'));
      expect(client()).toEqual([]);

      await t.lua(`vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'x = ' })
        vim.api.nvim_win_set_cursor(0, { 1, 3 })
        require('rune.completion').ask(function(items, err) _G.answer = items or err end)`);
      const answer = await waitFor(
        async () => t.lua<unknown>('return _G.answer'),
        20000,
        'the completion answer',
      );
      expect(answer).toEqual(['ok()']);
      expect(SDKS.filter((s) => imported().has(s))).toEqual(['ollama']);
      expect(client()).toEqual([]);
    });
    await t.close();
  });

  it("loads the MCP SDK's server side when the first agent connects, not at start", async () => {
    const out = path.join(dir, 'imported-mcp.txt');
    const register = importRecorder(out);
    const t = await startRune({ env: { NODE_OPTIONS: `--import=${register}` } });
    try {
      await explained(t, async () => {
        await t.lua('require("rune.host").wait()');
        const info = await t.lua<{ url: string; token: string }>(
          'return require("rune.host").request("rune.mcp.info")',
        );
        const server = () =>
          fs
            .readFileSync(out, 'utf8')
            .trim()
            .split('\n')
            .filter((s) => s.startsWith('@modelcontextprotocol/sdk/server/'));
        // The server listens (its address is known) without the SDK's server side.
        expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
        expect(server()).toEqual([]);
        const client = new Client({ name: 'e2e-lazy', version: '1' });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(info.url), {
            requestInit: { headers: { Authorization: `Bearer ${info.token}` } },
          }),
        );
        try {
          const { tools } = await client.listTools();
          expect(tools.map((x) => x.name)).toContain('read_buffer');
        } finally {
          await client.close();
        }
        expect(server()).toContain('@modelcontextprotocol/sdk/server/mcp.js');
      });
    } finally {
      await t.close();
    }
  });
});
