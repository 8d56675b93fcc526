// The floor for `mcp-latency.mjs`: the MCP SDK's own server (McpServer on its
// Streamable HTTP transport, JSON responses, one session per client) answering a
// tool that does nothing: no Neovim, no Rune. The same SDK client calling it
// shows what the client, the SDK and this machine cost before any server work.
// Started by mcp-latency.mjs; prints its URL on stdout.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

const TEXT = JSON.stringify({ buffer: 1, line: 1, character: 0 });
const sessions = new Map();

async function newSession() {
  const server = new McpServer({ name: 'sdk-floor', version: '0' });
  server.registerTool('noop', { description: 'Answers at once.' }, () => ({
    content: [{ type: 'text', text: TEXT }],
  }));
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: randomUUID,
    enableJsonResponse: true,
    onsessioninitialized: (id) => sessions.set(id, transport),
  });
  await server.connect(transport);
  return transport;
}

const httpServer = http.createServer(async (req, res) => {
  const id = req.headers['mcp-session-id'];
  const transport = typeof id === 'string' ? sessions.get(id) : await newSession();
  if (!transport) {
    res.writeHead(404).end();
    return;
  }
  await transport.handleRequest(req, res);
});
httpServer.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${httpServer.address().port}/mcp\n`);
});
