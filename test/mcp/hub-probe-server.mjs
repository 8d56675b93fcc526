// A stdio MCP server for the hub's sandbox tests that tries to reach other
// programs' sockets. Its prompt "probe" takes `targets`, a space-separated list
// of `unix:<path>`, `abstract:<name>` and `tcp:<port>` (127.0.0.1), connects
// to each, and answers one line per target: `<target>=connected` or
// `<target>=refused:<error code>`; the target `env:` answers the names of
// the variables in its environment, comma-separated.
import * as net from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

function attempt(target) {
  if (target === 'env:') return `env:=${Object.keys(process.env).sort().join(',')}`;
  const i = target.indexOf(':');
  const kind = target.slice(0, i);
  const where = target.slice(i + 1);
  const opts =
    kind === 'tcp'
      ? { host: '127.0.0.1', port: Number(where) }
      : { path: kind === 'abstract' ? `\0${where}` : where };
  return new Promise((resolve) => {
    let s;
    try {
      s = net.connect(opts);
    } catch (err) {
      resolve(`${target}=refused:${err.code ?? err.message}`);
      return;
    }
    s.on('connect', () => {
      s.destroy();
      resolve(`${target}=connected`);
    });
    s.on('error', (err) => resolve(`${target}=refused:${err.code ?? err.message}`));
  });
}

const server = new McpServer({ name: 'prober', version: '1.0.0' });
server.registerPrompt(
  'probe',
  {
    description: 'Connects to sockets and says what happened',
    argsSchema: { targets: z.string() },
  },
  async ({ targets }) => {
    const lines = await Promise.all(targets.split(' ').filter(Boolean).map(attempt));
    return { messages: [{ role: 'user', content: { type: 'text', text: lines.join('\n') } }] };
  },
);
await server.connect(new StdioServerTransport());
