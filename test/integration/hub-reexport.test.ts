/**
 * One tool registry for the host: the hub's `server__tool` tools sit beside
 * Rune's own, and Rune's MCP server offers them to agents only when
 * `mcp.tools.reexport_hub` is on.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startNvim, waitFor, ROOT } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import { getMcpServer, mcpModule } from '../../src/nvim/mcp.js';
import { hubModule } from '../../src/nvim/hub/index.js';
import { getToolRegistry } from '../../src/nvim/tools.js';

const EVERYTHING = path.join(
  ROOT,
  'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);

async function agentTools(reexport: boolean) {
  const t = await startNvim({
    setup: `require('rune').setup({ mcp = { tools = { reexport_hub = ${reexport} }, servers = { ev = { command = ${JSON.stringify(
      process.execPath,
    )}, args = { ${JSON.stringify(EVERYTHING)}, 'stdio' } } } } })`,
  });
  const host = await startInProcessHost(t, [mcpModule, hubModule]);
  await waitFor(() => getToolRegistry(host).get('ev__echo'), 20000, 'the hub tool');
  const server = getMcpServer(host)!;
  const client = new Client({ name: 'agent', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(server.url), {
      requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
    }),
  );
  const names = (await client.listTools()).tools.map((x) => x.name);
  // A published hub tool would wait for the user's approval; only the refusal is called here.
  const call = reexport
    ? ''
    : await client.callTool({ name: 'ev__echo', arguments: { message: 'x' } }).then(
        (r) => (r.isError ? 'error result' : 'ran'),
        (e: Error) => e.message,
      );
  const shared = getToolRegistry(host).get('read_file') !== undefined;
  await client.close();
  await t.close();
  return { names, call, shared };
}

describe('hub tools and the MCP server', () => {
  it('keeps hub tools from agents by default, in the same registry as the editor tools', async () => {
    const r = await agentTools(false);
    expect(r.shared).toBe(true);
    expect(r.names).toContain('read_file');
    expect(r.names).not.toContain('ev__echo');
    expect(r.call).toMatch(/not found/);
  });

  it('offers them with mcp.tools.reexport_hub', async () => {
    const r = await agentTools(true);
    expect(r.names).toContain('ev__echo');
    expect(r.names).toContain('read_file');
  });
});
