import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptedFileStore } from '../../../src/auth/file-store.js';
import {
  CopilotTokenSource,
  fetchGitHubUser,
  findGitHubToken,
  pollDeviceToken,
  requestDeviceCode,
} from '../../../src/auth/github.js';
import { COPILOT_GITHUB_ACCOUNT } from '../../../src/auth/secret-store.js';
import { AuthError, ProviderUnavailableError, TimeoutError } from '../../../src/core/errors.js';
import { startGitHubServer, type GitHubServer } from './github-server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-gh-'));
let gh: GitHubServer;
beforeAll(async () => {
  gh = await startGitHubServer();
});
afterAll(async () => {
  await gh.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('GitHub device flow', () => {
  it('gets a code, waits through pending and slow_down, then returns the token', async () => {
    const code = await requestDeviceCode({ githubUrl: gh.url });
    expect(code).toMatchObject({
      userCode: 'ABCD-1234',
      verificationUri: `${gh.url}/login/device`,
    });
    const first = gh.requests.at(-1)!;
    expect(JSON.parse(first.body)).toEqual({
      client_id: 'Iv1.b507a08c87ecfe98',
      scope: 'read:user',
    });

    gh.pollAnswers = ['authorization_pending', 'slow_down', 'authorization_pending'];
    const before = gh.requests.length;
    const token = await pollDeviceToken(code, { githubUrl: gh.url });
    expect(token).toBe(gh.githubToken);
    const polls = gh.requests.slice(before);
    expect(polls).toHaveLength(4);
    expect(JSON.parse(polls[0]!.body)).toMatchObject({
      device_code: 'device-code-1',
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    });
    expect(await fetchGitHubUser(token, { apiUrl: gh.url })).toBe('octocat');
  });

  it('reports a cancelled or expired sign-in', async () => {
    const code = await requestDeviceCode({ githubUrl: gh.url });
    gh.pollAnswers = ['access_denied'];
    await expect(pollDeviceToken(code, { githubUrl: gh.url })).rejects.toThrow(
      /cancelled in the browser/,
    );
    gh.pollAnswers = ['expired_token'];
    const err = await pollDeviceToken(code, { githubUrl: gh.url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/ABCD-1234 expired.*:RuneAuth copilot login/);
  });

  it('says what to do when GitHub cannot be reached', async () => {
    const err = await requestDeviceCode({ githubUrl: 'http://127.0.0.1:9' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect((err as Error).message).toMatch(
      /could not reach http:\/\/127\.0\.0\.1:9.*Check the network/,
    );
  });
});

describe('finding the GitHub token for Copilot', () => {
  it('looks in the environment, then the secret store, then the Copilot plugin files', async () => {
    const store = new EncryptedFileStore({ file: path.join(tmp, 's.enc') });
    const configDir = path.join(tmp, 'github-copilot');
    fs.mkdirSync(configDir);
    fs.writeFileSync(
      path.join(configDir, 'apps.json'),
      JSON.stringify({ 'github.com:Iv1.b507a08c87ecfe98': { user: 'o', oauth_token: 'gho_file' } }),
    );
    expect(await findGitHubToken({ env: {}, store, configDir })).toEqual({
      token: 'gho_file',
      source: path.join(configDir, 'apps.json'),
    });
    await store.set(COPILOT_GITHUB_ACCOUNT, 'gho_store');
    expect(await findGitHubToken({ env: {}, store, configDir })).toEqual({
      token: 'gho_store',
      source: "Rune's secret store",
    });
    expect(
      await findGitHubToken({ env: { GH_COPILOT_TOKEN: 'gho_env' }, store, configDir }),
    ).toEqual({ token: 'gho_env', source: 'the environment variable GH_COPILOT_TOKEN' });
    expect(await findGitHubToken({ env: {}, configDir: path.join(tmp, 'none') })).toBeUndefined();
  });
});

describe('Copilot token exchange', () => {
  it('exchanges once and reuses the token until a minute before it expires', async () => {
    gh.copilotApi = 'http://127.0.0.1:1/copilot';
    let clock = Date.now();
    const src = new CopilotTokenSource({
      apiUrl: gh.url,
      now: () => clock,
      githubToken: async () => ({ token: gh.githubToken, source: 'test' }),
    });
    const before = gh.exchanges;
    const [a, b] = await Promise.all([src.get(), src.get()]);
    expect(a).toBe(b);
    expect(a.api).toBe('http://127.0.0.1:1/copilot');
    expect(gh.exchanges - before).toBe(1);
    const req = gh.requests.at(-1)!;
    expect(req.headers['editor-plugin-version']).toMatch(/^rune\.nvim\//);
    clock += 29 * 60_000 + 30_000; // 30 s before expiry: exchange again
    const c = await src.get();
    expect(c.token).not.toBe(a.token);
    expect(gh.exchanges - before).toBe(2);
  });

  it('explains a missing token, a refused token and an account without Copilot', async () => {
    const none = new CopilotTokenSource({ apiUrl: gh.url, githubToken: async () => undefined });
    await expect(none.get()).rejects.toThrow(/not signed in.*:RuneAuth copilot login/);
    const bad = new CopilotTokenSource({
      apiUrl: gh.url,
      githubToken: async () => ({
        token: 'gho_wrong',
        source: 'the environment variable GH_COPILOT_TOKEN',
      }),
    });
    const err = await bad.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(
      /refused the token from the environment variable GH_COPILOT_TOKEN/,
    );
    gh.exchangeStatus = 403;
    const noAccess = new CopilotTokenSource({
      apiUrl: gh.url,
      githubToken: async () => ({ token: gh.githubToken, source: 'test' }),
    });
    await expect(noAccess.get()).rejects.toThrow(/has no Copilot access \(HTTP 403\)/);
    gh.exchangeStatus = 200;
  });
});
