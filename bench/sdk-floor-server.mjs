// The floors for `mcp-latency.mjs`, the SDK client's calls with no Neovim and no Rune:
//   node bench/sdk-floor-server.mjs        the MCP SDK's own server (McpServer on its
//                                          Streamable HTTP transport, JSON responses, one
//                                          session per client) with a tool that does nothing
//   node bench/sdk-floor-server.mjs canned a bare node:http server that answers every
//                                          request with a ready JSON-RPC result at once: the
//                                          least any server can do for this client
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

/** The SDK's server: a session per client, its transport answering. */
async function sdk(req, res) {
  const id = req.headers['mcp-session-id'];
  const transport = typeof id === 'string' ? sessions.get(id) : await newSession();
  if (!transport) {
    res.writeHead(404).end();
    return;
  }
  await transport.handleRequest(req, res);
}

/** Ready answers: the result of `initialize`, 202 for notifications, `TEXT` for any call. */
function canned(req, res) {
  if (req.method !== 'POST') {
    res.writeHead(405).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const m = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (m.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const result =
      m.method === 'initialize'
        ? {
            protocolVersion: m.params.protocolVersion,
            capabilities: { tools: {} },
            serverInfo: { name: 'canned', version: '0' },
          }
        : { content: [{ type: 'text', text: TEXT }] };
    const body = JSON.stringify({ jsonrpc: '2.0', id: m.id, result });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'mcp-session-id': 'canned',
    });
    res.end(body);
  });
}

const httpServer = http.createServer(process.argv[2] === 'canned' ? canned : sdk);
httpServer.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${httpServer.address().port}/mcp\n`);
});
