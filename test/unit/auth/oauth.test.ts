import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { UnauthorizedError, auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { EncryptedFileStore } from '../../../src/auth/file-store.js';
import { McpOAuthProvider } from '../../../src/auth/mcp-oauth.js';
import {
  OAuthSession,
  createPkcePair,
  startCallbackServer,
  type OAuthServerConfig,
} from '../../../src/auth/oauth.js';
import { oauthAccount } from '../../../src/auth/secret-store.js';
import { AbortError, AuthError, TimeoutError } from '../../../src/core/errors.js';
import { browse, startAuthServer, type AuthServer } from './auth-server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-oauth-'));
const servers: AuthServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
async function setup() {
  const as = await startAuthServer();
  servers.push(as);
  const config: OAuthServerConfig = {
    authorizationEndpoint: `${as.url}/authorize`,
    tokenEndpoint: `${as.url}/token`,
    revocationEndpoint: `${as.url}/revoke`,
    clientId: 'rune-test',
    scopes: ['read', 'write'],
  };
  const store = new EncryptedFileStore({ file: path.join(tmp, `s${n++}.enc`) });
  let clock = 1_000_000;
  const now = () => clock;
  const session = new OAuthSession({ config, store, account: oauthAccount('demo'), now });
  return {
    as,
    config,
    store,
    session,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('PKCE', () => {
  it('makes a 43-character verifier and its S256 challenge', () => {
    const a = createPkcePair();
    const b = createPkcePair();
    expect(a.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.verifier).not.toBe(b.verifier);
  });
});

describe('OAuth authorization code flow with PKCE', () => {
  let prompts: { url: string; opened: boolean }[];
  beforeEach(() => {
    prompts = [];
  });
  const onPrompt = (url: string, opened: boolean) => prompts.push({ url, opened });

  it('signs in through the browser and the loopback callback, then stores the tokens', async () => {
    const { as, store, session } = await setup();
    const tokens = await session.login({ openBrowser: browse, onPrompt });
    expect(prompts).toHaveLength(1);
    expect(prompts[0]!.opened).toBe(true);
    const url = new URL(prompts[0]!.url);
    expect(url.origin + url.pathname).toBe(`${as.url}/authorize`);
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('scope')).toBe('read write');
    expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(as.tokenRequests[0]).toMatchObject({ grant_type: 'authorization_code' });
    expect(as.tokenRequests[0]!.code_verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect(as.isValidAccess(tokens.accessToken)).toBe(true);
    expect(tokens.expiresAt).toBe(1_000_000 + 3600_000);
    expect(JSON.parse((await store.get(oauthAccount('demo')))!)).toEqual(tokens);
    expect(await session.accessToken()).toBe(tokens.accessToken);
  });

  it('refreshes before expiry, once for concurrent callers, and keeps the rotated refresh token', async () => {
    const { as, session, advance } = await setup();
    as.accessTtl = 120;
    const first = await session.login({ openBrowser: browse });
    advance(30_000); // 90 s left: more than the 60 s skew
    expect(await session.accessToken()).toBe(first.accessToken);
    expect(as.tokenRequests).toHaveLength(1);

    advance(31_000); // 59 s left: refresh now, before it expires
    const [a, b, c] = await Promise.all([
      session.accessToken(),
      session.accessToken(),
      session.accessToken(),
    ]);
    expect(a).not.toBe(first.accessToken);
    expect(new Set([a, b, c]).size).toBe(1);
    expect(as.tokenRequests).toHaveLength(2);
    expect(as.tokenRequests[1]).toMatchObject({
      grant_type: 'refresh_token',
      refresh_token: first.refreshToken,
      client_id: 'rune-test',
    });
    const second = (await session.tokens())!;
    expect(second.refreshToken).toBeDefined();
    expect(second.refreshToken).not.toBe(first.refreshToken);

    // The next refresh uses the rotated token (the old one is spent at the server).
    advance(70_000);
    const third = await session.accessToken();
    expect(as.tokenRequests[2]!.refresh_token).toBe(second.refreshToken);
    expect(as.isValidAccess(third)).toBe(true);
  });

  it('forgets a refresh token the server refuses and asks to sign in again', async () => {
    const { as, session, store, advance, config } = await setup();
    as.accessTtl = 10;
    const first = await session.login({ openBrowser: browse });
    // Someone else spends the refresh token first (e.g. a copied token store).
    const other = new OAuthSession({ config, store, account: 'other', now: () => 0 });
    await store.set('other', JSON.stringify({ ...first, expiresAt: 1 }));
    await other.accessToken();
    advance(60_000);
    const err = await session.accessToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(/invalid_grant.*Sign in again/);
    expect(await session.tokens()).toBeUndefined();
    await expect(session.accessToken()).rejects.toThrow(/Not signed in/);
  });

  it('revokes both tokens on logout and forgets them', async () => {
    const { as, session } = await setup();
    const tokens = await session.login({ openBrowser: browse });
    expect(await session.logout()).toEqual({ revoked: true });
    expect(as.revoked).toEqual([tokens.refreshToken, tokens.accessToken]);
    expect(as.isValidAccess(tokens.accessToken)).toBe(false);
    expect(await session.tokens()).toBeUndefined();
    expect(await session.logout()).toEqual({ revoked: false });
  });

  it('rejects an answer whose state does not match', async () => {
    const { as, session } = await setup();
    as.mode = 'wrong-state';
    const err = await session.login({ openBrowser: browse }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(/state mismatch/);
    expect(as.tokenRequests).toHaveLength(0);
    expect(await session.tokens()).toBeUndefined();
  });

  it("reports the server's refusal", async () => {
    const { as, session } = await setup();
    as.mode = 'deny';
    await expect(session.login({ openBrowser: browse })).rejects.toThrow(
      /refused the sign-in: access_denied \(The user said no\)/,
    );
  });

  it('prints the URL when no browser opens, and times out with advice', async () => {
    const { session } = await setup();
    const err = await session
      .login({ openBrowser: async () => false, onPrompt, timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(prompts).toEqual([
      { url: expect.stringContaining('/authorize?') as string, opened: false },
    ]);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/No sign-in answer came back.*open the printed URL/);
  });

  it('stops waiting when the signal fires', async () => {
    const { session } = await setup();
    const ac = new AbortController();
    const p = session.login({
      openBrowser: async () => {
        setImmediate(() => ac.abort());
        return true;
      },
      signal: ac.signal,
    });
    await expect(p).rejects.toBeInstanceOf(AbortError);
  });
});

describe('loopback callback server', () => {
  it('listens on 127.0.0.1 only and answers nothing but /callback', async () => {
    const cb = await startCallbackServer();
    try {
      expect(cb.redirectUri).toBe(`http://127.0.0.1:${cb.port}/callback`);
      expect((await fetch(`http://127.0.0.1:${cb.port}/favicon.ico`)).status).toBe(404);
      expect((await fetch(`${cb.redirectUri}?code=x&state=y`)).status).toBe(409);
      const code = cb.waitForCode({ state: 'abc' });
      const res = await fetch(`${cb.redirectUri}?code=the-code&state=abc`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('You can close this tab');
      expect(await code).toBe('the-code');
    } finally {
      await cb.close();
    }
  });
});

describe('MCP SDK OAuthClientProvider', () => {
  it('lets the SDK register, authorize with PKCE and store tokens; a new instance reuses them', async () => {
    const { as, store } = await setup();
    const serverUrl = `${as.url}/mcp`;
    const prompts: string[] = [];
    const provider = new McpOAuthProvider({
      store,
      server: 'demo',
      openBrowser: browse,
      onPrompt: (url) => prompts.push(url),
    });
    await provider.prepare();
    expect(await auth(provider, { serverUrl })).toBe('REDIRECT');
    expect(prompts).toHaveLength(1);
    const code = await provider.waitForAuthorizationCode();
    expect(await auth(provider, { serverUrl, authorizationCode: code })).toBe('AUTHORIZED');
    const tokens = (await provider.tokens())!;
    expect(as.isValidAccess(tokens.access_token)).toBe(true);
    const port = new URL(provider.redirectUrl).port;
    const clientId = (await provider.clientInformation())!.client_id;
    expect(as.clients.get(clientId)!.redirectUris).toEqual([provider.redirectUrl]);
    await provider.dispose();

    const again = new McpOAuthProvider({ store, server: 'demo', openBrowser: browse });
    await again.prepare();
    expect(new URL(again.redirectUrl).port).toBe(port);
    expect(await again.tokens()).toEqual(tokens);
    expect((await again.clientInformation())!.client_id).toBe(clientId);
    // With a refresh token stored, the SDK refreshes without a browser.
    expect(await auth(again, { serverUrl })).toBe('AUTHORIZED');
    expect(as.tokenRequests.at(-1)).toMatchObject({ grant_type: 'refresh_token' });
    await again.forget();
    expect(await store.get(oauthAccount('mcp:demo'))).toBeUndefined();
    await again.dispose();
  });

  it('renews a token about to expire before handing it out, and keeps why a renewal was refused', async () => {
    const { as, store } = await setup();
    const serverUrl = `${as.url}/mcp`;
    let now = 1_000_000;
    const provider = new McpOAuthProvider({
      store,
      server: 'renew',
      renewUrl: serverUrl,
      openBrowser: browse,
      now: () => now,
    });
    await provider.prepare();
    as.accessTtl = 600;
    expect(await auth(provider, { serverUrl })).toBe('REDIRECT');
    const code = await provider.waitForAuthorizationCode();
    expect(await auth(provider, { serverUrl, authorizationCode: code })).toBe('AUTHORIZED');
    const first = (await provider.tokens())!.access_token;
    const refreshes = () => as.tokenRequests.filter((r) => r.grant_type === 'refresh_token');
    // Valid for longer than the margin: handed out as is.
    now += 500_000;
    expect((await provider.tokens())!.access_token).toBe(first);
    expect(refreshes()).toHaveLength(0);
    // Within a minute of expiry: renewed first, once even when asked twice at a time.
    now += 50_000;
    const [a, b] = await Promise.all([provider.tokens(), provider.tokens()]);
    expect(refreshes()).toHaveLength(1);
    expect(a!.access_token).toBe(b!.access_token);
    expect(a!.access_token).not.toBe(first);
    expect(as.isValidAccess(a!.access_token)).toBe(true);
    // The refresh token is revoked: the renewal is refused, the tokens are forgotten
    // (the next request starts a sign-in) and the reason is kept for its prompt.
    await fetch(`${as.url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: a!.refresh_token! }),
    });
    now += 600_000;
    expect(await provider.tokens()).toBeUndefined();
    expect(provider.renewalRefused).toMatch(/refresh token/);
    await provider.dispose();
  });

  it('signs an SDK client in to a protected MCP server, finishing the sign-in by itself', async () => {
    const { as, store } = await setup();
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
      server.registerTool('whoami', { description: 'says hi' }, () => ({
        content: [{ type: 'text', text: 'hi' }],
      }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => void transport.close());
      void server.connect(transport).then(() => transport.handleRequest(req, res));
    };
    const url = new URL(`${as.url}/mcp`);
    const provider = new McpOAuthProvider({
      store,
      server: 'protected',
      serverUrl: url,
      openBrowser: async (u) => {
        setImmediate(() => void browse(u));
        return true;
      },
    });
    const client = new Client({ name: 'rune-test', version: '1.0.0' });
    const first = await client
      .connect(new StreamableHTTPClientTransport(url, { authProvider: provider }))
      .catch((e: unknown) => e);
    expect(first).toBeInstanceOf(UnauthorizedError);
    await provider.authorized();
    const again = new Client({ name: 'rune-test', version: '1.0.0' });
    await again.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    expect((await again.listTools()).tools.map((t) => t.name)).toEqual(['whoami']);
    await again.close();
    await provider.dispose();
    const stored = JSON.parse((await store.get(oauthAccount('mcp:protected')))!) as {
      tokens: { access_token: string };
    };
    expect(as.isValidAccess(stored.tokens.access_token)).toBe(true);
  });
});
