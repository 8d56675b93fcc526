/**
 * A remote MCP server behind OAuth, from `setup({ mcp = { servers = { x = {
 * url, oauth = true } } } })`, in a real headless Neovim with the hub in-process:
 * the user is told to sign in, the browser (a script that follows the
 * authorization redirect, named by RUNE_BROWSER in Neovim's environment) brings
 * the code back, the hub connects, the tokens land in the secret store, and the
 * next Neovim reuses them without a browser.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { EncryptedFileStore } from '../../src/auth/file-store.js';
import { oauthAccount } from '../../src/auth/secret-store.js';
import { hubModule } from '../../src/nvim/hub/index.js';
import { getToolRegistry } from '../../src/nvim/tools.js';
import { startInProcessHost } from '../helpers/host.js';
import { startNvim, waitFor } from '../helpers/nvim.js';
import { startAuthServer, type AuthServer } from '../unit/auth/auth-server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hub-oauth-nvim-'));
let as: AuthServer | undefined;
afterAll(async () => {
  await as?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A "browser": logs the URL, then follows the redirect to Rune's loopback callback. */
function browserScript(log: string): string {
  const js = path.join(tmp, 'browser.cjs');
  fs.writeFileSync(
    js,
    `const u = process.argv[2];
require('fs').appendFileSync(${JSON.stringify(log)}, u + '\\n');
fetch(u, { redirect: 'manual' }).then((r) => fetch(r.headers.get('location'))).then((r) => r.text());
`,
  );
  const file = path.join(tmp, 'browser.sh');
  fs.writeFileSync(file, `#!/bin/sh\nexec '${process.execPath}' '${js}' "$1"\n`, { mode: 0o755 });
  return file;
}

async function startEditor(config: unknown, browser: string) {
  const t = await startNvim({
    env: { RUNE_BROWSER: browser },
    setup:
      `_G.notes = {}; vim.notify = function(m) table.insert(_G.notes, m) end\n` +
      `require('rune').setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
  });
  const host = await startInProcessHost(t, [hubModule]);
  const state = async () =>
    (
      await t.lua<{ servers: { name: string; state: string; last_error: string | null }[] }>(
        'return require("rune.host").request("rune.hub.status")',
      )
    ).servers.find((s) => s.name === 'secure');
  await waitFor(
    async () => (await state())?.state === 'connected',
    20000,
    'the protected server to connect',
  ).catch(async (e: unknown) => {
    throw new Error(
      `${(e as Error).message}: ${JSON.stringify(await state())}\n${host.logLines.slice(-15).join('\n')}`,
    );
  });
  return { t, host, notes: () => t.lua<string[]>('return _G.notes') };
}

describe('MCP hub OAuth in Neovim', () => {
  it('signs in through the browser, stores the tokens, and the next start reuses them', async () => {
    as = await startAuthServer();
    const server = as;
    server.onMcp = (req, res) => {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !server.isValidAccess(bearer)) {
        res.writeHead(401, {
          'www-authenticate': `Bearer resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp"`,
        });
        res.end();
        return;
      }
      const mcp = new McpServer({ name: 'protected', version: '1.0.0' });
      mcp.registerTool('whoami', { description: 'says hi' }, () => ({
        content: [{ type: 'text', text: 'hi' }],
      }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => void transport.close());
      void mcp.connect(transport).then(() => transport.handleRequest(req, res));
    };
    const file = path.join(tmp, 'secrets.enc');
    const log = path.join(tmp, 'browser.log');
    const browser = browserScript(log);
    const config = {
      auth: { store: 'file', file },
      mcp: {
        enabled: false,
        servers: { secure: { url: `${server.url}/mcp`, oauth: true } },
        hub: { files: [] },
      },
    };

    const first = await startEditor(config, browser);
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
    expect((await first.notes()).join('\n')).toMatch(
      /MCP server "secure" needs you to sign in: finish it in the browser window that opened/,
    );
    expect(getToolRegistry(first.host).get('secure__whoami')).toBeDefined();
    const record = JSON.parse(
      (await new EncryptedFileStore({ file }).get(oauthAccount('mcp:secure')))!,
    ) as { tokens: { access_token: string } };
    expect(server.isValidAccess(record.tokens.access_token)).toBe(true);
    // The token never reaches the log.
    expect(first.host.logLines.join('\n')).not.toContain(record.tokens.access_token);
    await first.t.close();

    const tokenRequests = server.tokenRequests.length;
    const second = await startEditor(config, browser);
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
    expect((await second.notes()).join('\n')).not.toMatch(/sign in/);
    expect(server.tokenRequests.length).toBe(tokenRequests);
    expect(getToolRegistry(second.host).get('secure__whoami')).toBeDefined();

    // Signing out forgets the tokens; the server asks for a sign-in again and gets one.
    const old = record.tokens.access_token;
    await second.t.nvim.command('RuneMcp signout secure');
    await waitFor(
      () => fs.readFileSync(log, 'utf8').trim().split('\n').length === 2,
      20000,
      'a second browser sign-in',
    );
    await waitFor(
      async () => {
        const raw = await new EncryptedFileStore({ file }).get(oauthAccount('mcp:secure'));
        const now = raw ? (JSON.parse(raw) as { tokens?: { access_token: string } }) : undefined;
        return !!now?.tokens && now.tokens.access_token !== old;
      },
      20000,
      'new tokens',
    );
    await waitFor(
      () => !!getToolRegistry(second.host).get('secure__whoami'),
      20000,
      'the server back',
    );
    await second.t.close();
  });
});
