/**
 * Credentials that stay fresh, end to end with the real spawned host (dist/):
 * a provider whose key is an OAuth sign-in (`api_key = 'oauth:corp'`) against
 * a local authorization server that issues short-lived tokens. The token is
 * renewed before it expires, renewed once when the provider refuses it (401),
 * and when it cannot be renewed the user is asked, once, to sign in again.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAIServer, type OpenAIServer } from '../helpers/servers/index.js';
import { startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { startAuthServer, type AuthServer } from '../unit/auth/auth-server.js';
import { EncryptedFileStore } from '../../src/auth/file-store.js';
import { oauthAccount } from '../../src/auth/secret-store.js';
import { parserCmds } from './chat-helpers.js';

let as: AuthServer;
let openai: OpenAIServer;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-oauth-provider-'));

beforeAll(async () => {
  as = await startAuthServer();
  openai = await startOpenAIServer();
  // The provider takes only tokens the authorization server says are valid now.
  openai.script('chat', (req) => {
    const bearer = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    return as.isValidAccess(bearer) ? { text: `ok with ${bearer}` } : { status: 401 };
  });
});
afterAll(async () => {
  await as.close();
  await openai.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const bearers = () =>
  openai
    .requestsTo('chat')
    .map((r) => String(r.headers.authorization ?? '').replace(/^Bearer /, ''));
const refreshes = () => as.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
const bufferText = (t: TestNvim) =>
  t.lua<string>('return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\\n")');

async function ask(t: TestNvim, question: string): Promise<void> {
  const before = (await bufferText(t)).split('## You').length;
  await t.lua('vim.api.nvim_buf_set_lines(0, -2, -1, false, { ... })', [question]);
  await t.lua('require("rune.chat").submit()');
  await waitFor(
    async () => {
      const text = await bufferText(t);
      return text.split('## You').length > before && text.endsWith('## You\n');
    },
    20000,
    `the answer to "${question}"`,
  );
}

describe('a provider signed in with OAuth (real host)', () => {
  it('renews the token before it expires and on a 401, once, and asks to sign in again when it cannot', async () => {
    const browser = path.join(tmp, 'browser.mjs');
    fs.writeFileSync(
      browser,
      `#!${process.execPath}\nconst r = await fetch(process.argv[2], { redirect: 'manual' });\n` +
        `await fetch(r.headers.get('location'));\n`,
      { mode: 0o755 },
    );
    const file = path.join(tmp, 'secrets.enc');
    const config = {
      auth: {
        store: 'file',
        file,
        oauth: {
          corp: {
            authorization_url: `${as.url}/authorize`,
            token_url: `${as.url}/token`,
            revocation_url: `${as.url}/revoke`,
            client_id: 'rune-test',
            scopes: ['read'],
          },
        },
      },
      providers: {
        corp: {
          kind: 'openai',
          url: `${openai.url}/v1`,
          model: 'm',
          api_key: 'oauth:corp',
          retry: { max_attempts: 1 },
        },
      },
      chat: { provider: 'corp', start_insert: false },
    };
    const t = await startNvim({
      env: { RUNE_BROWSER: browser },
      setup:
        `_G.done = nil; vim.api.nvim_create_autocmd('User', { pattern = 'RuneAuthDone', callback = function(ev) _G.done = ev.data end })\n` +
        `require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
      preCmds: parserCmds(),
    });
    // Signed in with a token that expires within the refresh margin.
    as.accessTtl = 30;
    await t.nvim.command('RuneAuth corp login');
    const done = await waitFor(
      () => t.lua<{ ok: boolean } | null>('return _G.done'),
      20000,
      'sign-in',
    );
    expect(done?.ok).toBe(true);
    const signedIn = as.issuedAccess.at(-1)!;
    as.accessTtl = 3600;

    await t.nvim.command('RuneChat');
    await ask(t, 'one');
    // Renewed before use: the provider saw a fresh token, not the one about to expire.
    expect(refreshes()).toBe(1);
    expect(bearers()).toEqual([as.issuedAccess.at(-1)]);
    expect(bearers()[0]).not.toBe(signedIn);
    expect(await bufferText(t)).toContain(`ok with ${bearers()[0]}`);

    // The server revokes it: the provider answers 401; Rune renews once and sends again.
    const revoke = (token: string) =>
      fetch(`${as.url}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: 'rune-test' }),
      });
    await revoke(bearers()[0]!);
    await ask(t, 'two');
    expect(refreshes()).toBe(2);
    expect(bearers().slice(1)).toEqual([bearers()[0], as.issuedAccess.at(-1)]);
    expect(await bufferText(t)).toContain(`ok with ${as.issuedAccess.at(-1)}`);

    // Both tokens revoked: the renewal fails; the user is asked to sign in again, once.
    const stored = JSON.parse(
      (await new EncryptedFileStore({ file }).get(oauthAccount('corp')))!,
    ) as {
      accessToken: string;
      refreshToken: string;
    };
    await revoke(stored.refreshToken);
    await revoke(stored.accessToken);
    await ask(t, 'three');
    await ask(t, 'four');
    const messages = (await t.nvim.commandOutput('messages')) as string;
    const asks = messages
      .split('\n')
      .filter((l) => l.includes('sign in again with :RuneAuth corp'));
    expect(asks).toHaveLength(1);
    expect(asks[0]).toContain('The sign-in to corp cannot be renewed (');
    expect(await bufferText(t)).toContain('sign in again with :RuneAuth corp');
  }, 90000);
});
