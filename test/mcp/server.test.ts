import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { McpHttpServer, type McpHttpServerOptions } from '../../src/mcp/server.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { DeniedError } from '../../src/core/errors.js';
import { waitFor } from '../helpers/nvim.js';
import { post } from '../helpers/mcp-http.js';

const servers: McpHttpServer[] = [];
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(opts: Partial<McpHttpServerOptions> = {}) {
  const registry = opts.registry ?? new ToolRegistry();
  const server = new McpHttpServer({ registry, ...opts });
  servers.push(server);
  await server.listen();
  return { server, registry };
}

async function connect(server: McpHttpServer, name = 'unit') {
  const client = new Client({ name, version: '1' });
  clients.push(client);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(server.url), {
      requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
    }),
  );
  return client;
}

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'raw', version: '1' },
  },
};

describe('McpHttpServer', () => {
  it('makes a 128-bit hex token from the OS random source, different per server', async () => {
    const a = await start();
    const b = await start();
    expect(a.server.token).toMatch(/^[0-9a-f]{32}$/);
    expect(a.server.token).not.toBe(b.server.token);
  });

  it('listens on 127.0.0.1 only, on a fixed port when given one', async () => {
    const { server } = await start();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/mcp`);
    const port = server.port;
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    const fixed = await start({ port });
    expect(fixed.server.port).toBe(port);
    await expect(
      new McpHttpServer({ registry: new ToolRegistry(), port }).listen(),
    ).rejects.toThrow(/EADDRINUSE/);
  });

  it('answers 404 off /mcp, 400 for bad JSON, and 404 for an unknown session', async () => {
    const { server } = await start();
    const other = await new Promise<number>((resolve) => {
      http
        .get(
          {
            host: '127.0.0.1',
            port: server.port,
            path: '/',
            headers: { authorization: `Bearer ${server.token}` },
          },
          (res) => resolve(res.statusCode ?? 0),
        )
        .end();
    });
    expect(other).toBe(404);
    expect((await post(server, '{nope')).status).toBe(400);
    expect(
      (await post(server, { jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': 'nope' }))
        .status,
    ).toBe(404);
  });

  it('refuses sessions past the limit with 503', async () => {
    const { server } = await start({ maxSessions: 2 });
    await connect(server);
    await connect(server);
    const third = await post(server, INIT);
    expect(third.status).toBe(503);
    expect(third.body).toMatch(/Too many sessions/);
  });

  it('limits concurrent requests per session with 429', async () => {
    const registry = new ToolRegistry();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    registry.register({
      name: 'slow',
      description: 'waits',
      inputSchema: {},
      annotations: { readOnlyHint: true },
      handler: async () => {
        running++;
        await gate;
        return 'done';
      },
    });
    let running = 0;
    // Both calls in flight (their handlers run) before the third is sent.
    const inFlight = async (n: number) => {
      const end = Date.now() + 10000;
      while (running < n) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${n} calls in flight`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const { server } = await start({ registry, maxConcurrent: 2 });
    const init = await new Promise<string>((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: server.port,
          path: '/mcp',
          method: 'POST',
          headers: {
            authorization: `Bearer ${server.token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
        },
        (res) => {
          resolve(String(res.headers['mcp-session-id']));
          res.resume();
        },
      );
      req.end(JSON.stringify(INIT));
    });
    const call = (id: number) =>
      post(
        server,
        { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: {} } },
        {
          'mcp-session-id': init,
          'mcp-protocol-version': '2025-06-18',
        },
      );
    const a = call(10);
    const b = call(11);
    await inFlight(2);
    const c = await call(12);
    expect(c.status).toBe(429);
    // Calls without a session share the same limit.
    const oneShot = (id: number) =>
      post(server, {
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name: 'slow', arguments: {} },
      });
    const d = oneShot(20);
    const e = oneShot(21);
    await inFlight(4);
    expect((await oneShot(22)).status).toBe(429);
    release();
    expect((await d).status).toBe(200);
    expect((await e).status).toBe(200);
    expect((await a).status).toBe(200);
    expect((await b).status).toBe(200);
  });

  it('expires sessions with no request and no open stream', async () => {
    const { server } = await start({ idleTimeoutMs: 300 });
    expect((await post(server, INIT)).status).toBe(200);
    expect(server.sessionList()).toHaveLength(1);
    expect(server.sessionList()[0]!.client).toBe('raw 1');
    await expect.poll(() => server.sessionList().length, { timeout: 5000 }).toBe(0);
  });

  it('turns thrown errors and gate refusals into isError results, keeping the session', async () => {
    const registry = new ToolRegistry();
    registry.register({
      name: 'boom',
      description: 'fails',
      inputSchema: { n: z.number() },
      handler: () => {
        throw new Error('kaput');
      },
    });
    registry.register({
      name: 'guarded',
      description: 'refused',
      inputSchema: {},
      handler: () => 'never',
    });
    const { server } = await start({
      registry,
      gate: async (tool, _args, _ctx, run) => {
        if (tool.def.name === 'guarded') throw new DeniedError('no thanks');
        return run();
      },
    });
    const client = await connect(server);
    const r = await client.callTool({ name: 'boom', arguments: { n: 1 } });
    expect(r).toMatchObject({ isError: true, content: [{ type: 'text', text: 'Error: kaput' }] });
    const bad = await client.callTool({ name: 'boom', arguments: { n: 'x' } });
    expect(bad.isError).toBe(true);
    const denied = await client.callTool({ name: 'guarded', arguments: {} });
    expect(denied).toMatchObject({ isError: true, content: [{ text: 'no thanks' }] });
    await expect(client.callTool({ name: 'missing', arguments: {} })).rejects.toThrow(/not found/);
    expect((await client.listTools()).tools).toHaveLength(2);
  });

  it('publishes tools added and removed later, with list_changed', async () => {
    const { server, registry } = await start();
    const client = await connect(server);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    expect((await client.listTools()).tools).toEqual([]);
    const reg = registry.register({
      name: 'plugin.hello',
      description: 'from a plugin',
      inputSchema: { who: z.string() },
      annotations: { readOnlyHint: true },
      handler: (a) => `hello ${a.who}`,
    });
    await expect.poll(() => changed).toBeGreaterThan(0);
    const { tools } = await client.listTools();
    expect(tools[0]).toMatchObject({
      name: 'plugin.hello',
      inputSchema: { $schema: 'https://json-schema.org/draft/2020-12/schema', required: ['who'] },
    });
    expect(
      await client.callTool({ name: 'plugin.hello', arguments: { who: 'you' } }),
    ).toMatchObject({
      content: [{ text: 'hello you' }],
    });
    reg.dispose();
    await expect.poll(() => changed).toBeGreaterThan(1);
    expect((await client.listTools()).tools).toEqual([]);
  });

  it('resumes a call whose stream was closed (Last-Event-ID replay)', async () => {
    const registry = new ToolRegistry();
    registry.register({
      name: 'long',
      description: 'closes its stream, then answers',
      inputSchema: {},
      annotations: { readOnlyHint: true },
      // A call that may wait for a person is answered on a stream it may close.
      approval: 'ask',
      handler: async (_a, ctx) => {
        expect(ctx.closeStream).toBeTypeOf('function');
        await new Promise((r) => setTimeout(r, 50));
        ctx.closeStream?.();
        await new Promise((r) => setTimeout(r, 100));
        return 'finished';
      },
    });
    const { server } = await start({ registry });
    const client = await connect(server);
    const r = await client.callTool({ name: 'long', arguments: {} });
    expect(r).toMatchObject({ content: [{ text: 'finished' }] });
  });

  it('streams progress to clients that ask for it', async () => {
    const registry = new ToolRegistry();
    registry.register({
      name: 'count',
      description: 'counts',
      inputSchema: {},
      annotations: { readOnlyHint: true },
      handler: (_a, ctx) => {
        for (let i = 1; i <= 3; i++) ctx.progress({ progress: i, total: 3 });
        return 'ok';
      },
    });
    const { server } = await start({ registry });
    const client = await connect(server);
    const seen: number[] = [];
    await client.callTool({ name: 'count', arguments: {} }, undefined, {
      onprogress: (p) => seen.push(p.progress),
    });
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe('the Unix socket `rune mcp` uses', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  async function withSocket(opts: Partial<McpHttpServerOptions> = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-sock-'));
    dirs.push(dir);
    const { server, registry } = await start(opts);
    await server.listenSocket(path.join(dir, 'mcp.sock'));
    const sock = net.createConnection(server.socketFile!);
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString()));
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    await new Promise((r) => sock.once('connect', r));
    return { server, registry, sock, closed, output: () => got };
  }

  it('counts a call in flight and aborts it when the client goes away', async () => {
    let aborted = false;
    const registry = new ToolRegistry();
    registry.register({
      name: 'wait',
      description: 'waits until cancelled',
      inputSchema: {},
      annotations: { readOnlyHint: true },
      handler: (_args, ctx) =>
        new Promise<string>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve('stopped');
          }),
        ),
    });
    const { server, sock, closed } = await withSocket({ registry });
    sock.write(
      `Bearer ${server.token}\n` +
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'wait' } }) +
        '\n',
    );
    await waitFor(
      () => server.sessionList().find((s) => s.transport === 'socket' && s.inFlight === 1),
      5000,
      'the call in flight on the socket session',
    );
    sock.destroy();
    await closed;
    await waitFor(() => aborted, 5000, 'the call aborted');
    await waitFor(() => server.sessionList().length === 0, 5000, 'the session gone');
  });

  it('answers a message over the size limit with an error and closes', async () => {
    const { server, sock, closed, output } = await withSocket({ maxBodyBytes: 2048 });
    sock.write(
      `Bearer ${server.token}\n` + '{"jsonrpc":"2.0","id":1,"method":"' + 'x'.repeat(4096),
    );
    await closed;
    const line = JSON.parse(output().trim()) as { error: { code: number; message: string } };
    expect(line.error.code).toBe(-32600);
    expect(line.error.message).toMatch(/over the size limit/);
  });
});
