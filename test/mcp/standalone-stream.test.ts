/**
 * A session's standalone GET stream, on the wire: the rules of the SDK's own
 * (server/webStandardStreamableHttp.ts) which Rune's replacement must keep.
 */
import * as http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { McpHttpServer } from '../../src/mcp/server.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { post } from '../helpers/mcp-http.js';

const servers: McpHttpServer[] = [];
const requests: http.ClientRequest[] = [];

afterEach(async () => {
  for (const r of requests.splice(0)) r.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Stream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Everything received so far. */
  text: () => string;
  /** Resolves when the server ends the response. */
  ended: Promise<void>;
  close: () => void;
}

function get(server: McpHttpServer, headers: Record<string, string>): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.port,
        path: '/mcp',
        method: 'GET',
        agent: false,
        headers: {
          host: `127.0.0.1:${server.port}`,
          authorization: `Bearer ${server.token}`,
          accept: 'text/event-stream',
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        const ended = new Promise<void>((r) => res.on('end', r));
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: () => text,
          ended,
          close: () => req.destroy(),
        });
      },
    );
    requests.push(req);
    req.on('error', reject);
    req.end();
  });
}

/** The `id:` and the method of each notification in an SSE text. */
function events(text: string): { id: string; method: string }[] {
  return [...text.matchAll(/id: (\S+)\ndata: (\{.*\})\n\n/g)].map((m) => ({
    id: m[1]!,
    method: (JSON.parse(m[2]!) as { method: string }).method,
  }));
}

/** Reconnects with `Last-Event-ID` once the server has let the previous stream go. */
async function resume(
  server: McpHttpServer,
  headers: Record<string, string>,
  last: string,
): Promise<Stream> {
  let s: Stream | undefined;
  await expect
    .poll(async () => {
      s = await get(server, { ...headers, 'last-event-id': last });
      return s.status;
    })
    .toBe(200);
  return s!;
}

async function session() {
  const registry = new ToolRegistry();
  const server = new McpHttpServer({ registry });
  servers.push(server);
  await server.listen();
  const init = await post(server, {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'raw', version: '1' },
    },
  });
  const sid = String(init.headers['mcp-session-id']);
  const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
  await post(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  let n = 0;
  /** Makes the server send tools/list_changed to every session. */
  const change = () =>
    registry.register({
      name: `t${++n}`,
      description: 'x',
      inputSchema: {},
      handler: () => 'x',
    });
  return { server, sid, headers, change };
}

describe('standalone GET stream', () => {
  it('carries server notifications with event ids, one stream per session', async () => {
    const { server, sid, headers, change } = await session();
    const a = await get(server, headers);
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('text/event-stream');
    expect(a.headers['mcp-session-id']).toBe(sid);
    const second = await get(server, headers);
    expect(second.status).toBe(409);
    await second.ended;
    expect(JSON.parse(second.text())).toMatchObject({
      error: { code: -32000, message: 'Conflict: Only one SSE stream is allowed per session' },
    });
    change();
    await expect.poll(() => events(a.text()).length).toBe(1);
    expect(events(a.text())[0]!.method).toBe('notifications/tools/list_changed');
  });

  it('replays what came after Last-Event-ID once the old stream is gone (409 while it is open)', async () => {
    const { server, headers, change } = await session();
    const a = await get(server, headers);
    change();
    await expect.poll(() => events(a.text()).length).toBe(1);
    change();
    await expect.poll(() => events(a.text()).length).toBe(2);
    const [first, second] = events(a.text());
    const early = await get(server, { ...headers, 'last-event-id': first!.id });
    expect(early.status).toBe(409);
    await early.ended;
    expect(JSON.parse(early.text())).toMatchObject({
      error: { message: 'Conflict: Stream already has an active connection' },
    });
    a.close();
    // Sent while the client is away: stored, and replayed on the reconnect.
    change();
    const b = await resume(server, headers, first!.id);
    await expect.poll(() => events(b.text()).length).toBe(2);
    expect(events(b.text())[0]!.id).toBe(second!.id);
    change();
    await expect.poll(() => events(b.text()).length).toBe(3);
  });

  it('ends the stream when the session is deleted, and refuses streams after', async () => {
    const { server, headers } = await session();
    const a = await get(server, headers);
    const del = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: server.port,
          path: '/mcp',
          method: 'DELETE',
          headers: {
            host: `127.0.0.1:${server.port}`,
            authorization: `Bearer ${server.token}`,
            ...headers,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(del).toBe(200);
    await a.ended;
    const after = await get(server, headers);
    expect(after.status).toBe(404);
  });

  it('leaves requests it does not serve to the SDK, which refuses them as before', async () => {
    const { server, headers } = await session();
    const wrongAccept = await get(server, { ...headers, accept: 'application/json' });
    expect(wrongAccept.status).toBe(406);
    const badVersion = await get(server, { ...headers, 'mcp-protocol-version': '1999-01-01' });
    expect(badVersion.status).toBe(400);
    const unknownEvent = await get(server, { ...headers, 'last-event-id': 'nope' });
    expect(unknownEvent.status).toBe(400);
  });
});
