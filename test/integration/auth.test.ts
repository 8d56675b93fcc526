// The Copilot language server this file starts inherits the environment: keep it on
// loopback (a refusing proxy) and in a private home. Vitest isolates each file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptedFileStore } from '../../src/auth/file-store.js';
import {
  COPILOT_GITHUB_ACCOUNT,
  apiKeyAccount,
  oauthAccount,
} from '../../src/auth/secret-store.js';
import { authModule } from '../../src/nvim/auth.js';
import { disposeSharedCopilotServers } from '../../src/auth/copilot-service.js';
import { startInProcessHost } from '../helpers/host.js';
import { startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { startAuthServer, type AuthServer } from '../unit/auth/auth-server.js';
import { COPILOT_LS, startBlackhole, type Blackhole } from '../unit/auth/copilot-env.js';
import { startGitHubServer, type GitHubServer } from '../unit/auth/github-server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-auth-it-'));
let hole: Blackhole;
let gh: GitHubServer;
let as: AuthServer;
const savedEnv = { ...process.env };

beforeAll(async () => {
  hole = await startBlackhole();
  for (const [k, v] of Object.entries(hole.env)) if (v !== undefined) process.env[k] = v;
  delete process.env.DISPLAY;
  // A "browser" that follows the authorization redirect back to the loopback callback.
  const browser = path.join(tmp, 'browser.mjs');
  fs.writeFileSync(
    browser,
    `#!${process.execPath}\nconst r = await fetch(process.argv[2], { redirect: 'manual' });\n` +
      `await fetch(r.headers.get('location'));\n`,
    { mode: 0o755 },
  );
  process.env.RUNE_BROWSER = browser;
  gh = await startGitHubServer();
  as = await startAuthServer();
});
afterAll(async () => {
  await disposeSharedCopilotServers();
  process.env = savedEnv;
  await gh.close();
  await as.close();
  await hole.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let logLines: string[] = [];

async function start(file: string): Promise<TestNvim> {
  const opts = {
    store: 'file',
    file,
    copilot: {
      server: COPILOT_LS,
      github_url: gh.url,
      api_url: gh.url,
      settings: hole.settings,
    },
    oauth: {
      demo: {
        authorization_url: `${as.url}/authorize`,
        token_url: `${as.url}/token`,
        revocation_url: `${as.url}/revoke`,
        client_id: 'rune-test',
        scopes: ['read'],
      },
    },
  };
  const t = await startNvim({
    setup:
      `_G.notes = {}\n` +
      `vim.notify = function(m, l) table.insert(_G.notes, { msg = m, level = l }) end\n` +
      `vim.api.nvim_create_autocmd('User', { pattern = 'RuneAuthDone', callback = function(ev) _G.done = ev.data end })`,
  });
  await t.lua(`require('rune').setup({ auth = vim.json.decode(...) })`, [JSON.stringify(opts)]);
  logLines = (await startInProcessHost(t, [authModule])).logLines;
  return t;
}

const messages = (t: TestNvim) =>
  t.lua<string>("return vim.api.nvim_exec2('messages', { output = true }).output");
const notes = (t: TestNvim) => t.lua<{ msg: string; level: number }[]>('return _G.notes');

describe(':RuneAuth', () => {
  it('reads an API key without echo, stores it in the 0600 file, shows status, and removes it', async () => {
    const file = path.join(tmp, 'a', 'secrets.enc');
    const t = await start(file);
    const secret = 'sk-ant-integration-secret-42';
    const cmd = t.nvim.command('RuneAuth anthropic login');
    await waitFor(
      async () => (await t.lua<string>('return vim.fn.mode(1)')) !== 'n',
      10000,
      'prompt',
    );
    await t.nvim.input(`${secret}<CR>`);
    await cmd;
    const store = new EncryptedFileStore({ file });
    expect(await store.get(apiKeyAccount('anthropic'))).toBe(secret);
    expect(fs.readFileSync(file, 'utf8')).not.toContain(secret);
    expect((await notes(t)).at(-1)?.msg).toBe('(rune) API key for anthropic saved');

    await t.nvim.command('RuneAuth anthropic status');
    const status = await messages(t);
    expect(status).toMatch(/Secrets: secrets file .*secrets\.enc \(mode 0600\)/);
    expect(status).toMatch(/anthropic\s+yes\s+API key stored/);
    // The key is nowhere to be seen: not in messages, input history, or the host log.
    expect(status).not.toContain(secret);
    expect(
      await t.lua<string>("return vim.fn.histget('input', -1) .. vim.fn.histget('cmd', -1)"),
    ).not.toContain(secret);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(secret);
    await t.nvim.command('RuneAuth anthropic logout');
    expect(await store.get(apiKeyAccount('anthropic'))).toBeUndefined();
    expect((await notes(t)).at(-1)?.msg).toBe('(rune) signed out of anthropic');
    await t.close();
  });

  it('cancels a login when no key is entered', async () => {
    const t = await start(path.join(tmp, 'b', 'secrets.enc'));
    const cmd = t.nvim.command('RuneAuth openai');
    await waitFor(
      async () => (await t.lua<string>('return vim.fn.mode(1)')) !== 'n',
      10000,
      'prompt',
    );
    await t.nvim.input('<CR>');
    await cmd;
    expect((await notes(t)).at(-1)).toEqual({
      msg: '(rune) sign-in cancelled: no key was entered',
      level: 3,
    });
    await t.close();
  });

  it('runs the Copilot device flow: shows and copies the code, stores the token, reports the result', async () => {
    const file = path.join(tmp, 'c', 'secrets.enc');
    const t = await start(file);
    gh.pollAnswers = ['authorization_pending'];
    await t.nvim.command('RuneAuth copilot');
    const shown = await messages(t);
    expect(shown).toContain('Enter the code ABCD-1234');
    expect(shown).toContain(`URL: ${gh.url}/login/device`);
    expect(await t.lua("return vim.fn.getreg('\"')")).toBe('ABCD-1234');
    const done = (await waitFor(
      () => t.lua<{ provider: string; ok: boolean; message: string } | undefined>('return _G.done'),
      30000,
      'the sign-in to finish',
    ))!;
    expect(done.provider).toBe('copilot');
    // GitHub answered (locally); the language server could not confirm offline and says so.
    expect(done.ok).toBe(true);
    expect(done.message).toMatch(
      /^Signed in to GitHub as octocat \(Copilot chat is ready\), but the Copilot language server did not take the sign-in: Copilot sign-in failed/,
    );
    expect(await new EncryptedFileStore({ file }).get(COPILOT_GITHUB_ACCOUNT)).toBe(gh.githubToken);

    await t.nvim.command('RuneAuth status');
    expect(await messages(t)).toMatch(/copilot\s+yes\s+GitHub token from Rune's secret store/);

    await t.nvim.command('checkhealth rune');
    const health = (
      await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
    ).join('\n');
    expect(health).toMatch(/rune: auth/);
    expect(health).toMatch(/secrets are kept in the secrets file/);
    expect(health).toMatch(/Copilot language server found \(auth\.copilot\.server\)/);
    expect(health).not.toContain(gh.githubToken);
    expect(logLines.join('\n')).not.toContain(gh.githubToken);

    await t.nvim.command('RuneAuth copilot logout');
    expect(await new EncryptedFileStore({ file }).get(COPILOT_GITHUB_ACCOUNT)).toBeUndefined();
    await t.close();
  });

  it('signs in with OAuth (PKCE, loopback callback) through the browser and revokes on logout', async () => {
    const file = path.join(tmp, 'd', 'secrets.enc');
    const t = await start(file);
    await t.nvim.command('RuneAuth demo login');
    const done = await waitFor(
      () => t.lua<{ provider: string; ok: boolean; message: string } | null>('return _G.done'),
      20000,
      'the OAuth sign-in to finish',
    );
    expect(done).toEqual({ provider: 'demo', ok: true, message: 'Signed in to demo.' });
    expect(await messages(t)).toMatch(
      /Finish signing in in the browser.*\n.*\/authorize\?response_type=code/,
    );
    const tokens = JSON.parse(
      (await new EncryptedFileStore({ file }).get(oauthAccount('demo')))!,
    ) as {
      accessToken: string;
    };
    expect(as.isValidAccess(tokens.accessToken)).toBe(true);
    await t.nvim.command('RuneAuth demo logout');
    expect((await notes(t)).at(-1)?.msg).toBe('(rune) signed out of demo (revoked)');
    expect(as.isValidAccess(tokens.accessToken)).toBe(false);
    await t.close();
  });

  it('cancels a sign-in that is waiting for the user', async () => {
    const t = await start(path.join(tmp, 'f', 'secrets.enc'));
    gh.interval = 1;
    gh.pollAnswers = Array.from({ length: 100 }, () => 'authorization_pending');
    try {
      await t.nvim.command('RuneAuth copilot');
      await t.nvim.command('RuneAuth copilot cancel');
      const done = (await waitFor(
        () => t.lua<{ ok: boolean; message: string } | undefined>('return _G.done'),
        10000,
        'the cancelled sign-in to report',
      ))!;
      expect(done).toMatchObject({ ok: false, message: 'The sign-in was cancelled.' });
      expect((await notes(t)).map((n) => n.msg)).toContain('(rune) sign-in to copilot cancelled');
      await t.nvim.command('RuneAuth copilot cancel');
      expect((await notes(t)).at(-1)?.msg).toBe('(rune) no sign-in to copilot is waiting');
    } finally {
      gh.interval = 0;
      gh.pollAnswers = [];
    }
    await t.close();
  });

  it('completes providers and actions', async () => {
    const t = await start(path.join(tmp, 'e', 'secrets.enc'));
    expect(await t.lua("return vim.fn.getcompletion('RuneAuth ', 'cmdline')")).toEqual([
      'copilot',
      'demo',
      'status',
    ]);
    expect(await t.lua("return vim.fn.getcompletion('RuneAuth copilot lo', 'cmdline')")).toEqual([
      'login',
      'logout',
    ]);
    await t.close();
  });
});
