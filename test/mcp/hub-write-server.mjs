// A tiny stdio MCP server for the hub's sandbox tests: its one tool writes a
// file where it is told to and reports the error when it cannot.
import * as fs from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'writer', version: '1.0.0' });
server.registerTool(
  'write',
  { description: 'Writes text to a file', inputSchema: { path: z.string(), text: z.string() } },
  ({ path, text }) => {
    try {
      fs.writeFileSync(path, text);
      return { content: [{ type: 'text', text: `wrote ${path}` }] };
    } catch (err) {
      return { content: [{ type: 'text', text: String(err.message) }], isError: true };
    }
  },
);
await server.connect(new StdioServerTransport());
