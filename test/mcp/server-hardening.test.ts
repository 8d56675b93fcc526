/**
 * Hardening of Rune's MCP server: the authenticated health endpoint, graceful
 * draining on shutdown, and the optional TLS listener whose certificate is
 * reloaded when its files change.
 */
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpHttpServer, type McpHttpServerOptions } from '../../src/mcp/server.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { DisposableStore, toDisposable } from '../../src/core/disposable.js';

const servers: McpHttpServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function start(opts: Partial<McpHttpServerOptions> = {}) {
  const registry = opts.registry ?? new ToolRegistry();
  const server = new McpHttpServer({ registry, ...opts });
  servers.push(server);
  await server.listen();
  return { server, registry };
}

function get(
  port: number,
  pathname: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('MCP server health endpoint', () => {
  it('answers with the token only, and refuses a foreign Host', async () => {
    const { server } = await start();
    const host = `127.0.0.1:${server.port}`;
    expect((await get(server.port, '/health', { host })).status).toBe(401);
    expect(
      (await get(server.port, '/health', { host, authorization: 'Bearer wrong' })).status,
    ).toBe(401);
    expect(
      (
        await get(server.port, '/health', {
          host: 'evil.test',
          authorization: `Bearer ${server.token}`,
        })
      ).status,
    ).toBe(403);
    const ok = await get(server.port, '/health', { host, authorization: `Bearer ${server.token}` });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({
      status: 'ok',
      sessions: 0,
      in_flight: 0,
      tls: null,
    });
  });
});

describe('graceful shutdown', () => {
  it('lets an in-flight call finish, refuses new work, and reports draining', async () => {
    const registry = new ToolRegistry();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    registry.register({
      name: 'slow',
      description: 'waits',
      inputSchema: { n: z.number() },
      annotations: { readOnlyHint: true },
      handler: async ({ n }) => {
        started();
        await gate;
        return `done ${n}`;
      },
    });
    const { server } = await start({ registry });
    const client = new Client({ name: 'drain-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
      }),
    );
    const call = client.callTool({ name: 'slow', arguments: { n: 7 } });
    await running;
    const drained = server.drain(5000);
    const host = `127.0.0.1:${server.port}`;
    const h = await get(server.port, '/health', { host, authorization: `Bearer ${server.token}` });
    expect(h.status).toBe(503);
    expect(JSON.parse(h.body)).toMatchObject({ status: 'draining', in_flight: 1 });
    await expect(client.listTools()).rejects.toThrow(/503|shutting down/);
    release();
    const result = await call;
    expect((result.content as { text: string }[])[0]!.text).toBe('done 7');
    await drained;
  });

  it('gives up waiting after the grace period', async () => {
    const store = new DisposableStore();
    let drainedWith = -1;
    store.add(
      Object.assign(
        toDisposable(() => undefined),
        {
          drain: (ms: number) => {
            drainedWith = ms;
            return new Promise<void>(() => undefined); // never finishes
          },
        },
      ),
    );
    const inner = new DisposableStore();
    let innerDrained = false;
    inner.add(
      Object.assign(
        toDisposable(() => undefined),
        { drain: async () => void (innerDrained = true) },
      ),
    );
    store.add(inner);
    await store.drain(50);
    expect(drainedWith).toBe(50);
    expect(innerDrained).toBe(true);
  });
});

describe('TLS listener', () => {
  function makeCert(dir: string, cn: string) {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        `${key}.new`,
        '-out',
        `${cert}.new`,
        '-subj',
        `/CN=${cn}`,
        '-addext',
        'subjectAltName=DNS:devbox.test,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    // Replace both files the way certificate renewals do: rename over the old ones.
    fs.renameSync(`${key}.new`, key);
    fs.renameSync(`${cert}.new`, cert);
    return { key, cert };
  }

  function tlsGet(
    port: number,
    ca: Buffer,
    headers: Record<string, string>,
    pathname = '/health',
    method = 'GET',
    body?: string,
  ): Promise<{ status: number; body: string; fingerprint: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          path: pathname,
          method,
          headers,
          ca,
          servername: 'devbox.test',
          agent: false,
        },
        (res) => {
          let text = '';
          const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate()
            .fingerprint256;
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, fingerprint }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  it('serves MCP over TLS for allowed host names, with the token, and reloads a renewed certificate', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-tls-'));
    dirs.push(dir);
    const files = makeCert(dir, 'first');
    const { server } = await start({
      tls: { ...files, host: '127.0.0.1', allowedHosts: ['devbox.test'] },
    });
    expect(server.securePort).toBeGreaterThan(0);
    const host = `devbox.test:${server.securePort}`;
    const auth = { authorization: `Bearer ${server.token}` };
    let ca = fs.readFileSync(files.cert);

    expect((await tlsGet(server.securePort, ca, { host })).status).toBe(401);
    expect((await tlsGet(server.securePort, ca, { host: 'evil.test', ...auth })).status).toBe(403);
    expect(
      (await tlsGet(server.securePort, ca, { host, origin: 'https://evil.test', ...auth })).status,
    ).toBe(403);
    const first = await tlsGet(server.securePort, ca, { host, ...auth });
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body).tls).toBe(server.securePort);

    const init = await tlsGet(
      server.securePort,
      ca,
      {
        host,
        ...auth,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      '/mcp',
      'POST',
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'tls', version: '1' },
        },
      }),
    );
    expect(init.status).toBe(200);
    expect(init.body).toContain('"serverInfo"');

    // The plain listener stays loopback-only: the TLS host name is not accepted there.
    expect((await get(server.port, '/health', { host: 'devbox.test', ...auth })).status).toBe(403);

    makeCert(dir, 'second');
    ca = fs.readFileSync(files.cert);
    const expected = new crypto.X509Certificate(ca).fingerprint256;
    let seen = first.fingerprint;
    for (let i = 0; i < 100 && seen !== expected; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await tlsGet(server.securePort, ca, { host, ...auth }).then(
        (r) => r.fingerprint,
        () => seen,
      );
    }
    expect(seen).toBe(expected);
    expect(seen).not.toBe(first.fingerprint);
  });
});

describe('mcp.tls configuration', () => {
  it('names the missing file when TLS is on', async () => {
    const { parseMcpConfig } = await import('../../src/nvim/mcp.js');
    expect(() => parseMcpConfig({ tls: { enabled: true } })).toThrow(
      'config: mcp.tls.cert: is required when mcp.tls.enabled is true (a PEM file path)',
    );
    expect(() => parseMcpConfig({ tls: { enabled: true, cert: '/c.pem' } })).toThrow('mcp.tls.key');
    const ok = parseMcpConfig({
      tls: { enabled: true, cert: '/c.pem', key: '/k.pem', allowed_hosts: {} },
    });
    expect(ok.tls).toMatchObject({ host: '127.0.0.1', port: 0, allowed_hosts: [] });
  });
});
