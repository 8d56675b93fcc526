/**
 * The MCP hub signing in to an OAuth-protected MCP server on 127.0.0.1: the
 * SDK client's auth with Rune's `McpOAuthProvider`, a local authorization
 * server (test/unit/auth/auth-server.ts) and a user agent that follows the
 * authorization redirect back to the loopback callback.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { EncryptedFileStore } from '../../src/auth/file-store.js';
import { McpOAuthProvider } from '../../src/auth/mcp-oauth.js';
import { oauthAccount, type SecretStore } from '../../src/auth/secret-store.js';
import { createMemoryLogger } from '../../src/core/log.js';
import { parseServer, type ServerConfig } from '../../src/mcp/hub/config.js';
import { McpHub, type ServerState } from '../../src/mcp/hub/clients.js';
import { browse, startAuthServer, type AuthServer } from '../unit/auth/auth-server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hub-oauth-'));
const servers: AuthServer[] = [];
const hubs: McpHub[] = [];
const providers: McpOAuthProvider[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.dispose()));
  await Promise.all(providers.splice(0).map((p) => p.dispose()));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** An authorization server that also serves a protected MCP endpoint at /mcp. */
async function protectedServer(): Promise<AuthServer> {
  const as = await startAuthServer();
  servers.push(as);
  as.onMcp = (req, res) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer || !as.isValidAccess(bearer)) {
      res.writeHead(401, {
        'www-authenticate': `Bearer resource_metadata="${as.url}/.well-known/oauth-protected-resource/mcp"`,
      });
      res.end();
      return;
    }
    const server = new McpServer({ name: 'protected', version: '1.0.0' });
    server.registerTool('whoami', { description: 'says who you are' }, () => ({
      content: [{ type: 'text', text: `token ${bearer.slice(0, 3)}` }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close());
    void server.connect(transport).then(() => transport.handleRequest(req, res));
  };
  return as;
}

let n = 0;
function newStore(): SecretStore {
  return new EncryptedFileStore({ file: path.join(tmp, `s${n++}.enc`) });
}

/** A hub whose OAuth servers sign in with `store`; `opened` lists each browser opening. */
function newHub(store: SecretStore, opened: string[]) {
  const states: ServerState[] = [];
  const hub = new McpHub({
    logger: createMemoryLogger(),
    backoffMs: 50,
    maxBackoffMs: 100,
    connectTimeoutMs: 10_000,
    authProvider: (s: ServerConfig) => {
      if (!s.oauth) return undefined;
      const p = new McpOAuthProvider({
        store,
        server: s.name,
        timeoutMs: 10_000,
        openBrowser: async (url) => {
          opened.push(url);
          setImmediate(() => void browse(url).catch(() => undefined));
          return true;
        },
      });
      providers.push(p);
      return p;
    },
  });
  hub.onDidChange(() => {
    const st = hub.status()[0]?.state;
    if (st && st !== states.at(-1)) states.push(st);
  });
  hubs.push(hub);
  return { hub, states };
}

async function until<T>(fn: () => T | undefined | false, what: string, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const entry = (as: AuthServer, extra: Record<string, unknown> = {}) =>
  parseServer('secure', { url: `${as.url}/mcp`, oauth: true, ...extra }, 'test', 'test.secure');

describe('MCP hub with OAuth', () => {
  it('signs in through the browser, connects, keeps the tokens, and a second hub reuses them', async () => {
    const as = await protectedServer();
    const store = newStore();
    const opened: string[] = [];
    const { hub, states } = newHub(store, opened);
    await hub.setServers([entry(as)]);
    await until(() => hub.status()[0]?.state === 'connected', 'the hub to connect');
    expect(states).toEqual(['connecting', 'authorizing', 'connecting', 'connected']);
    expect(opened).toHaveLength(1);
    expect(new URL(opened[0]!).pathname).toBe('/authorize');
    expect(hub.tools().map((t) => t.qualifiedName)).toEqual(['secure__whoami']);
    const res = await hub.callTool('secure__whoami', {});
    expect(res.content).toEqual([{ type: 'text', text: 'token at-' }]);

    const stored = JSON.parse((await store.get(oauthAccount('mcp:secure')))!) as {
      tokens: { access_token: string; refresh_token: string };
    };
    expect(as.isValidAccess(stored.tokens.access_token)).toBe(true);
    await hub.dispose();
    await Promise.all(providers.splice(0).map((p) => p.dispose()));

    const again = newHub(store, opened);
    const before = as.tokenRequests.length;
    await again.hub.setServers([entry(as)]);
    await until(() => again.hub.status()[0]?.state === 'connected', 'the second hub');
    expect(again.states).toEqual(['connecting', 'connected']);
    expect(opened).toHaveLength(1);
    // The stored access token was still good: no token request at all.
    expect(as.tokenRequests.length).toBe(before);
    expect((await again.hub.callTool('secure__whoami', {})).isError).toBeFalsy();
  });

  it('reports a refused sign-in and does not open the browser again by itself', async () => {
    const as = await protectedServer();
    as.mode = 'deny';
    const opened: string[] = [];
    const { hub } = newHub(newStore(), opened);
    await hub.setServers([entry(as)]);
    const failed = await until(
      () => hub.status().find((s) => s.state === 'failed'),
      'the sign-in to fail',
    );
    expect(failed.lastError).toMatch(/sign-in to "secure" did not complete: .*access_denied/);
    expect(failed.lastError).toMatch(/Restart the server/);
    // Many backoff periods later it has still not retried (each retry would open a browser).
    await new Promise((r) => setTimeout(r, 500));
    expect(opened).toHaveLength(1);
    expect(hub.status()[0]!.state).toBe('failed');

    as.mode = 'ok';
    await hub.restart('secure');
    await until(() => hub.status()[0]?.state === 'connected', 'the restart to sign in');
    expect(opened).toHaveLength(2);
  });

  it('reads the oauth and sandbox keys, and refuses them on the wrong kind of server', () => {
    const s = parseServer(
      'x',
      { url: 'http://127.0.0.1:1/mcp', oauth: { client_id: 'abc', scope: 'read write' } },
      'f',
      'f: mcpServers.x',
    );
    expect(s.oauth).toEqual({ clientId: 'abc', scope: 'read write' });
    expect(() =>
      parseServer('x', { command: 'node', oauth: true }, 'f', 'f: mcpServers.x'),
    ).toThrow(/f: mcpServers\.x\.oauth.*remote \(url\) servers only/);
    expect(() =>
      parseServer('x', { url: 'http://127.0.0.1:1/', sandbox: true }, 'f', 'f: mcpServers.x'),
    ).toThrow(/f: mcpServers\.x\.sandbox.*stdio \(command\) servers only/);
    expect(() =>
      parseServer(
        'x',
        { url: 'http://127.0.0.1:1/', oauth: { client: 'a' } },
        'f',
        'f: mcpServers.x',
      ),
    ).toThrow(/mcpServers\.x\.oauth/);
    expect(
      parseServer('x', { command: 'node', sandbox: { network: false, writable: ['/w'] } }, 'f', 'w')
        .sandbox,
    ).toEqual({ network: false, writable: ['/w'] });
  });
});
