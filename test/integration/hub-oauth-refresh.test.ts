/**
 * Hub credentials that stay fresh, with the real host from dist/ spawned by the Lua
 * layer: a remote MCP server behind a local authorization server that issues
 * short-lived tokens. An agent calls the server's tool through Rune's MCP server
 * (`mcp.tools.reexport_hub`), so each call is a hub request to the remote server.
 * The access token is renewed before it expires, renewed once when the server
 * refuses it (401), and when it cannot be renewed the user is asked, once and with
 * the reason, to sign in again.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { EncryptedFileStore } from '../../src/auth/file-store.js';
import { oauthAccount } from '../../src/auth/secret-store.js';
import { startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { startAuthServer, type AuthServer } from '../unit/auth/auth-server.js';
import { textOf } from './mcp-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hub-refresh-'));
let as: AuthServer | undefined;
afterAll(async () => {
  await as?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A "browser" that logs each sign-in, then follows the redirect to Rune's loopback callback. */
function browserScript(log: string): string {
  const file = path.join(tmp, 'browser.mjs');
  fs.writeFileSync(
    file,
    `#!${process.execPath}\nimport * as fs from 'node:fs';\n` +
      `fs.appendFileSync(${JSON.stringify(log)}, process.argv[2] + '\\n');\n` +
      `const r = await fetch(process.argv[2], { redirect: 'manual' });\n` +
      `await fetch(r.headers.get('location'));\n`,
    { mode: 0o755 },
  );
  return file;
}

describe('hub OAuth tokens (real host)', () => {
  it('renews before expiry and on a 401, once, and asks to sign in again with the reason when it cannot', async () => {
    as = await startAuthServer();
    const server = as;
    /** The bearer of each request the MCP endpoint accepted. */
    const accepted: string[] = [];
    server.onMcp = (req, res) => {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !server.isValidAccess(bearer)) {
        res.writeHead(401, {
          'www-authenticate': `Bearer resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp"`,
        });
        res.end();
        return;
      }
      accepted.push(bearer);
      const mcp = new McpServer({ name: 'protected', version: '1.0.0' });
      mcp.registerTool('whoami', { description: 'says who called' }, () => ({
        content: [{ type: 'text', text: `hi ${bearer}` }],
      }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => void transport.close());
      void mcp.connect(transport).then(() => transport.handleRequest(req, res));
    };
    const refreshes = () =>
      server.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
    const file = path.join(tmp, 'secrets.enc');
    const log = path.join(tmp, 'browser.log');
    const signIns = () =>
      fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').length : 0;
    const config = {
      auth: { store: 'file', file },
      mcp: {
        tools: { reexport_hub: true },
        servers: { secure: { url: `${server.url}/mcp`, oauth: true } },
        hub: { files: [] },
      },
    };
    // The sign-in hands out a token that expires within the renewal margin; renewals last.
    Object.defineProperty(server, 'accessTtl', {
      get: () => (server.issuedAccess.length <= 1 ? 30 : 3600),
    });
    const t: TestNvim = await startNvim({
      env: { RUNE_BROWSER: browserScript(log) },
      setup:
        `_G.notes = {}; vim.notify = function(m) table.insert(_G.notes, m) end\n` +
        `require('rune').setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
    });
    await waitFor(
      async () =>
        (
          await t.lua<{ name: string; state: string }[]>(
            'return require("rune.host").request("rune.hub.status").servers',
          )
        ).some((s) => s.name === 'secure' && s.state === 'connected'),
      30000,
      'the protected server to connect',
    );
    expect(signIns()).toBe(1);
    const signedIn = server.issuedAccess[0]!;

    const info = await t.lua<{ url: string; token: string }>(
      'return require("rune.host").request("rune.mcp.info")',
    );
    const agent = new Client({ name: 'agent', version: '1' });
    await agent.connect(
      new StreamableHTTPClientTransport(new URL(info.url), {
        requestInit: { headers: { Authorization: `Bearer ${info.token}` } },
      }),
    );
    let approved = false;
    const call = async () => {
      const r = agent.callTool({ name: 'secure__whoami', arguments: {} });
      if (!approved) {
        // The first call of a published hub tool asks the user; "always" covers the rest.
        await waitFor(
          async () => (await t.lua<string[]>('return require("rune.approval").pending()')).length,
          20000,
          'the approval prompt',
        );
        await t.lua('require("rune.approval").answer("always")');
        approved = true;
      }
      const result = await r;
      expect(result.isError, textOf(result)).not.toBe(true);
      return textOf(result);
    };

    // Renewed before use: the server saw a fresh token, not the one about to expire.
    expect(await call()).toBe(`hi ${server.issuedAccess.at(-1)}`);
    expect(refreshes()).toBe(1);
    expect(accepted.at(-1)).not.toBe(signedIn);

    // The server revokes the token: one 401, one renewal, and the call goes through.
    const revoke = (token: string) =>
      fetch(`${server.url}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      });
    const before = accepted.at(-1)!;
    await revoke(before);
    expect(await call()).toBe(`hi ${server.issuedAccess.at(-1)}`);
    expect(refreshes()).toBe(2);
    expect(server.issuedAccess.at(-1)).not.toBe(before);
    expect(signIns()).toBe(1);

    // Both tokens revoked: the renewal is refused; the user is asked once, with the
    // reason, to sign in again (the browser opens, and the call runs after the sign-in).
    const stored = JSON.parse(
      (await new EncryptedFileStore({ file }).get(oauthAccount('mcp:secure')))!,
    ) as { tokens: { access_token: string; refresh_token: string } };
    await revoke(stored.tokens.refresh_token);
    await revoke(stored.tokens.access_token);
    expect(await call()).toBe(`hi ${server.issuedAccess.at(-1)}`);
    expect(await call()).toBe(`hi ${server.issuedAccess.at(-1)}`);
    expect(signIns()).toBe(2);
    const asks = (await t.lua<string[]>('return _G.notes')).filter((m) =>
      m.includes('sign in again'),
    );
    expect(asks).toHaveLength(1);
    expect(asks[0]).toContain('MCP server "secure" needs you to sign in again');
    expect(asks[0]).toContain('could not be renewed: ');
    await agent.close();
    await t.close();
  }, 90000);
});
