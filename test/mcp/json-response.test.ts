/**
 * Plain requests of an initialized session are answered as one
 * application/json response; everything the SDK's Streamable HTTP transport
 * refuses is refused the same way, and calls that stream keep their SSE
 * stream. Raw HTTP, to see the headers a client sees.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { McpHttpServer } from '../../src/mcp/server.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { post } from '../helpers/mcp-http.js';

const servers: McpHttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** The JSON-RPC messages of an SSE body, in order. */
function events(body: string): unknown[] {
  return body
    .split('\n')
    .filter((l) => l.startsWith('data: ') && l.length > 6)
    .map((l) => JSON.parse(l.slice(6)) as unknown);
}

const VERSION = '2025-06-18';

/** A server with a few tools and one initialized session, as a client leaves it. */
async function session(asksPerson?: (tool: unknown, args: Record<string, unknown>) => boolean) {
  const registry = new ToolRegistry();
  registry.register({
    name: 'echo',
    description: 'echoes',
    inputSchema: {},
    annotations: { readOnlyHint: true },
    handler: () => 'echoed',
  });
  registry.register({
    name: 'count',
    description: 'reports progress, then answers',
    inputSchema: {},
    annotations: { readOnlyHint: true },
    handler: (_a, ctx) => {
      for (let i = 1; i <= 2; i++) ctx.progress({ progress: i, total: 2 });
      return 'counted';
    },
  });
  registry.register({
    name: 'chatty',
    description: 'logs, then answers',
    inputSchema: {},
    annotations: { readOnlyHint: true },
    handler: (_a, ctx) => {
      ctx.log?.('info', 'working');
      return 'done talking';
    },
  });
  registry.register({
    name: 'samples',
    description: "asks the client's model",
    inputSchema: {},
    annotations: { readOnlyHint: true },
    handler: async (_a, ctx) => {
      const r = await ctx.sample!({
        messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }],
        maxTokens: 10,
      });
      return r.content.type === 'text' ? r.content.text : '?';
    },
  });
  registry.register({
    name: 'asks',
    description: 'waits for a person',
    inputSchema: {},
    approval: 'ask',
    handler: () => 'approved',
  });
  const server = new McpHttpServer({ registry, ...(asksPerson ? { asksPerson } : {}) });
  servers.push(server);
  await server.listen();
  const init = await post(server, {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: {
      protocolVersion: VERSION,
      capabilities: {},
      clientInfo: { name: 'raw', version: '1' },
    },
  });
  expect(init.status).toBe(200);
  const sid = String(init.headers['mcp-session-id']);
  const h: Record<string, string> = { 'mcp-session-id': sid, 'mcp-protocol-version': VERSION };
  expect(
    (await post(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, h)).status,
  ).toBe(202);
  const call = (id: number, name: string, extra: Record<string, unknown> = {}, headers = h) =>
    post(
      server,
      { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {}, ...extra } },
      headers,
    );
  return { server, sid, h, call };
}

describe('JSON responses for plain requests', () => {
  it('answers a tool call of an initialized session as one application/json object with the session header', async () => {
    const { sid, call } = await session();
    const r = await call(7, 'echo');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['mcp-session-id']).toBe(sid);
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    expect(JSON.parse(r.body)).toEqual({
      jsonrpc: '2.0',
      id: 7,
      result: { content: [{ type: 'text', text: 'echoed' }] },
    });
  });

  it('answers other plain requests and JSON-RPC errors as JSON too', async () => {
    const { server, h } = await session();
    const list = await post(server, { jsonrpc: '2.0', id: 'a', method: 'tools/list' }, h);
    expect(list.headers['content-type']).toBe('application/json');
    const { tools } = (JSON.parse(list.body) as { result: { tools: { name: string }[] } }).result;
    expect(tools.map((x) => x.name)).toContain('echo');
    const unknown = await post(server, { jsonrpc: '2.0', id: 2, method: 'no/such' }, h);
    expect(unknown.status).toBe(200);
    expect(JSON.parse(unknown.body)).toMatchObject({ id: 2, error: { code: -32601 } });
  });

  it('streams a call that asked for progress: progress events, then the result', async () => {
    const { call } = await session();
    const r = await call(3, 'count', { _meta: { progressToken: 'p' } });
    expect(r.headers['content-type']).toBe('text/event-stream');
    const msgs = events(r.body) as {
      method?: string;
      params?: { progress: number };
      id?: number;
    }[];
    expect(
      msgs.filter((m) => m.method === 'notifications/progress').map((m) => m.params!.progress),
    ).toEqual([1, 2]);
    expect(msgs.at(-1)).toMatchObject({ id: 3, result: { content: [{ text: 'counted' }] } });
  });

  it('turns the answer into a stream when a call sends a message before its result', async () => {
    const { call } = await session();
    const r = await call(4, 'chatty');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream');
    const msgs = events(r.body) as { method?: string; id?: number }[];
    expect(msgs[0]).toMatchObject({ method: 'notifications/message', params: { data: 'working' } });
    expect(msgs.at(-1)).toMatchObject({ id: 4, result: { content: [{ text: 'done talking' }] } });
  });

  it('answers as JSON a call needing approval that the rules settle at once', async () => {
    const { call } = await session((_tool, args) => args.who !== 'rule');
    const settled = await call(8, 'asks', { arguments: { who: 'rule' } });
    expect(settled.headers['content-type']).toBe('application/json');
    expect(JSON.parse(settled.body)).toMatchObject({
      id: 8,
      result: { content: [{ text: 'approved' }] },
    });
    expect((await call(9, 'asks')).headers['content-type']).toBe('text/event-stream');
  });

  it('keeps a stream for calls that may wait for a person, and for clients that prefer one', async () => {
    const { call, h } = await session();
    expect((await call(5, 'asks')).headers['content-type']).toBe('text/event-stream');
    const prefers = await call(
      6,
      'echo',
      {},
      { ...h, accept: 'text/event-stream, application/json' },
    );
    expect(prefers.headers['content-type']).toBe('text/event-stream');
    expect(events(prefers.body).at(-1)).toMatchObject({
      id: 6,
      result: { content: [{ text: 'echoed' }] },
    });
  });

  it("refuses what the SDK's transport refuses, with its status and message", async () => {
    const { call, h, sid } = await session();
    const version = await call(8, 'echo', {}, { ...h, 'mcp-protocol-version': '1999-01-01' });
    expect(version.status).toBe(400);
    expect(JSON.parse(version.body)).toMatchObject({
      error: {
        code: -32000,
        message: expect.stringMatching(/^Bad Request: Unsupported protocol version: 1999-01-01/),
      },
    });
    const accept = await call(9, 'echo', {}, { ...h, accept: 'application/json' });
    expect(accept.status).toBe(406);
    const type = await call(10, 'echo', {}, { ...h, 'content-type': 'text/plain' });
    expect(type.status).toBe(415);
    const other = await call(11, 'echo', {}, { ...h, 'mcp-session-id': `${sid}x` });
    expect(other.status).toBe(404);
  });

  it('answers a batch on the SDK stream, every response in it', async () => {
    const { server, h } = await session();
    const r = await post(
      server,
      [
        { jsonrpc: '2.0', id: 20, method: 'tools/call', params: { name: 'echo', arguments: {} } },
        { jsonrpc: '2.0', id: 21, method: 'ping' },
      ],
      h,
    );
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream');
    const ids = (events(r.body) as { id?: number }[]).map((m) => m.id).sort();
    expect(ids).toEqual([20, 21]);
  });

  it('serves the official SDK client over JSON answers', async () => {
    const { server } = await session();
    const client = new Client({ name: 'sdk', version: '1' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, () => ({
      model: 'm',
      role: 'assistant',
      content: { type: 'text', text: 'sampled' },
    }));
    const types: string[] = [];
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
        fetch: async (url, init) => {
          const res = await fetch(url, init);
          types.push(res.headers.get('content-type') ?? '');
          return res;
        },
      }),
    );
    try {
      const r = await client.callTool({ name: 'echo', arguments: {} });
      expect(r).toMatchObject({ content: [{ text: 'echoed' }] });
      expect(types.at(-1)).toBe('application/json');
      const seen: number[] = [];
      await client.callTool({ name: 'count', arguments: {} }, undefined, {
        onprogress: (p) => seen.push(p.progress),
      });
      expect(seen).toEqual([1, 2]);
      expect(types.at(-1)).toBe('text/event-stream');
      // The sampling request turns the call's answer into a stream; the client's
      // answer to it comes back in a POST of its own.
      const sampled = await client.callTool({ name: 'samples', arguments: {} });
      expect(sampled).toMatchObject({ content: [{ text: 'sampled' }] });
    } finally {
      await client.close();
    }
  });
});
