/** A raw POST to Rune's MCP endpoint, with the token and the headers the spec asks of clients. */
import * as http from 'node:http';
import type { McpHttpServer } from '../../src/mcp/server.js';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function post(
  server: McpHttpServer,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.port,
        path: '/mcp',
        method: 'POST',
        headers: {
          host: `127.0.0.1:${server.port}`,
          authorization: `Bearer ${server.token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }),
        );
      },
    );
    req.on('error', reject);
    // A string goes as it is (a malformed body, say).
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}
