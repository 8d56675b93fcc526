// A stdio MCP server that will not go when asked: it ignores SIGTERM and the
// end of its stdin, as some real servers do. It writes its pid to $PID_FILE.
import * as fs from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

process.on('SIGTERM', () => undefined);
fs.writeFileSync(process.env.PID_FILE, String(process.pid));
const server = new McpServer({ name: 'stubborn', version: '1.0.0' });
server.registerTool('ping', { description: 'Answers pong' }, () => ({
  content: [{ type: 'text', text: 'pong' }],
}));
const transport = new StdioServerTransport();
// The SDK's transport ends with stdin; keep the process itself alive regardless.
transport.onclose = () => undefined;
setInterval(() => undefined, 60_000);
await server.connect(transport);
