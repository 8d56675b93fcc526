// Added latency of a tool call through the MCP hub over calling the same server
// directly with the SDK client (server-everything over stdio, `echo` tool).
// Run after `npm run build`: node bench/hub.mjs
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpHub } from '../dist/mcp/hub/clients.js';
import { parseServer } from '../dist/mcp/hub/config.js';
import { nullLogger } from '../dist/core/log.js';
import { ToolRegistry } from '../dist/tools/registry.js';
import { shapeFromJsonSchema } from '../dist/nvim/hub/tools.js';
import { ROOT, median, p99, fmt, table } from './lib.mjs';

const N = Number(process.env.N ?? 2000);
const server = path.join(
  ROOT,
  'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);

const direct = new Client({ name: 'bench', version: '0' });
await direct.connect(
  new StdioClientTransport({
    command: process.execPath,
    args: [server, 'stdio'],
    stderr: 'ignore',
  }),
);
const hub = new McpHub({ logger: nullLogger });
await hub.setServers([
  parseServer('ev', { command: process.execPath, args: [server, 'stdio'] }, 'bench', 'bench.ev'),
]);

// The same tool in a ToolRegistry, as the chat calls it (zod validation from its JSON Schema).
const registry = new ToolRegistry();
const echo = hub.tools().find((t) => t.qualifiedName === 'ev__echo');
registry.register({
  name: 'ev__echo',
  description: echo.description,
  inputSchema: shapeFromJsonSchema(echo.inputSchema),
  approval: 'auto',
  handler: (args, ctx) => hub.callTool('ev__echo', args, { signal: ctx.signal }),
});
const ctx = {
  signal: new AbortController().signal,
  progress() {},
  caller: { client: 'bench' },
  review: async () => ({ accepted: [] }),
};

async function measure(fn) {
  for (let i = 0; i < 200; i++) await fn(); // warm-up
  const out = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e3);
  }
  return out;
}

// Interleave rounds so drift affects both sides alike.
const d = [];
const h = [];
const r = [];
for (let round = 0; round < 4; round++) {
  d.push(...(await measure(() => direct.callTool({ name: 'echo', arguments: { message: 'x' } }))));
  h.push(...(await measure(() => hub.callTool('ev__echo', { message: 'x' }))));
  r.push(...(await measure(() => registry.call('ev__echo', { message: 'x' }, ctx))));
}
table(
  `Tool call latency, echo over stdio (${d.length} calls each, µs)`,
  ['path', 'p50', 'p99'],
  [
    ['SDK client, direct (baseline)', fmt(median(d), 1), fmt(p99(d), 1)],
    ['through the hub', fmt(median(h), 1), fmt(p99(h), 1)],
    ['added by the hub', fmt(median(h) - median(d), 1), fmt(p99(h) - p99(d), 1)],
    ['ratio', fmt(median(h) / median(d), 3) + 'x', fmt(p99(h) / p99(d), 3) + 'x'],
    ['through the tool registry (as chat calls it)', fmt(median(r), 1), fmt(p99(r), 1)],
    ['ratio to direct', fmt(median(r) / median(d), 3) + 'x', fmt(p99(r) / p99(d), 3) + 'x'],
  ],
);
await direct.close();
await hub.dispose();
process.exit(0);
