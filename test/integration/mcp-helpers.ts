/**
 * Shared setup for the MCP integration tests: a workspace folder, a headless
 * Neovim in it with Rune's MCP server running in an in-process host, and
 * official SDK clients connected over HTTP.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import { getMcpServer, mcpModule } from '../../src/nvim/mcp.js';
import type { ReadyHost } from '../../src/nvim/host.js';

export interface McpEnv {
  t: TestNvim;
  host: ReadyHost & { logLines: string[] };
  ws: string;
  url: string;
  token: string;
  port: number;
  connect(name?: string): Promise<Client>;
  /** Waits for an approval prompt and returns its id. */
  nextPrompt(): Promise<string>;
}

/** `extra` adds other setup() sections, as Lua source: `{ providers: '{ … }' }`. */
export async function startMcpEnv(
  mcpConfig = '{}',
  files: Record<string, string> = {},
  extra: Record<string, string> = {},
): Promise<McpEnv> {
  const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-ws-')));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(ws, name)), { recursive: true });
    fs.writeFileSync(path.join(ws, name), text);
  }
  const t = await startNvim({
    setup:
      `vim.fn.chdir(${JSON.stringify(ws)}); require('rune').setup({ mcp = ${mcpConfig}` +
      Object.entries(extra)
        .map(([k, v]) => `, ${k} = ${v}`)
        .join('') +
      ' })',
  });
  const host = await startInProcessHost(t, [mcpModule]);
  const server = getMcpServer(host);
  if (!server) throw new Error('the MCP server did not start');
  const close = t.close;
  t.close = async () => {
    await close();
    fs.rmSync(ws, { recursive: true, force: true });
  };
  const env: McpEnv = {
    t,
    host,
    ws,
    url: server.url,
    token: server.token,
    port: server.port,
    async connect(name = 'test-client') {
      const client = new Client({ name, version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(server.url), {
          requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
        }),
      );
      return client;
    },
    async nextPrompt() {
      return waitFor<string>(
        async () => (await t.lua<string[]>('return require("rune.approval").pending()'))[0] ?? '',
        10000,
        'an approval prompt',
      );
    },
  };
  return env;
}

/** The text of a tool result's first block. */
export function textOf(result: unknown): string {
  const r = result as { content?: { type: string; text?: string }[] };
  return r.content?.find((c) => c.type === 'text')?.text ?? '';
}

/** A workspace, a headless Neovim in it, and the BUILT host (dist/) spawned by the Lua layer. */
export interface BuiltMcpEnv {
  t: TestNvim;
  ws: string;
  url: string;
  token: string;
  connect(name?: string): Promise<Client>;
  /** Waits for an approval prompt and returns its id. */
  nextPrompt(): Promise<string>;
  /** The ids of the prompts showing or queued in Neovim. */
  pending(): Promise<string[]>;
}

/** Like `startMcpEnv`, but the host is the one users run: dist/host/main.js started by lua/rune/host.lua. */
export async function startBuiltMcpEnv(
  setupLua = '{}',
  files: Record<string, string> = {},
  opts: { before?: string; env?: Record<string, string> } = {},
): Promise<BuiltMcpEnv> {
  const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-ws-')));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(ws, name)), { recursive: true });
    fs.writeFileSync(path.join(ws, name), text);
  }
  const t = await startNvim({
    setup: `vim.fn.chdir(${JSON.stringify(ws)}); require('rune').setup(${setupLua})`,
    ...(opts.env ? { env: opts.env } : {}),
  });
  const close = t.close;
  t.close = async () => {
    await close();
    fs.rmSync(ws, { recursive: true, force: true });
  };
  // Lua run before the host starts (pre-trusting a file, catching notifications).
  if (opts.before) await t.lua(opts.before);
  const info = await t.lua<{ url: string; token: string }>(
    'return require("rune.host").request("rune.mcp.info")',
  );
  const pending = () => t.lua<string[]>('return require("rune.approval").pending()');
  return {
    t,
    ws,
    url: info.url,
    token: info.token,
    pending,
    async connect(name = 'test-client') {
      const client = new Client({ name, version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(info.url), {
          requestInit: { headers: { Authorization: `Bearer ${info.token}` } },
        }),
      );
      return client;
    },
    async nextPrompt() {
      return waitFor<string>(async () => (await pending())[0] ?? '', 10000, 'an approval prompt');
    },
  };
}
