import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CopilotLanguageServer,
  locateCopilotServer,
  type InlineItem,
} from '../../../src/auth/copilot-ls.js';
import { AbortError, AuthError, ProviderUnavailableError } from '../../../src/core/errors.js';
import { createMemoryLogger } from '../../../src/core/log.js';
import { COPILOT_LS, startBlackhole, type Blackhole } from './copilot-env.js';

describe('locating the Copilot language server', () => {
  it("prefers the configured path, then Rune's install in the data folder, then node_modules under the roots, then PATH", () => {
    expect(fs.existsSync(COPILOT_LS)).toBe(true);
    expect(locateCopilotServer({ server: COPILOT_LS, node: '/usr/bin/node' })).toEqual({
      command: '/usr/bin/node',
      args: [COPILOT_LS, '--stdio'],
      source: 'config',
      path: COPILOT_LS,
    });
    expect(locateCopilotServer({ server: '/nonexistent/language-server.js' })).toBeUndefined();

    const root = path.resolve(COPILOT_LS, '../../../../..');
    expect(locateCopilotServer({ roots: ['/nonexistent', root], env: { PATH: '' } })).toMatchObject(
      {
        source: 'node_modules',
        path: COPILOT_LS,
      },
    );

    // What :RuneCopilotInstall left in stdpath('data')/rune comes before node_modules.
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-data-'));
    const installed = path.join(
      data,
      'nvim',
      'rune',
      'copilot-language-server',
      'node_modules',
      '@github',
      'copilot-language-server',
      'dist',
      'language-server.js',
    );
    fs.mkdirSync(path.dirname(installed), { recursive: true });
    fs.writeFileSync(installed, '');
    expect(
      locateCopilotServer({ roots: [root], env: { PATH: '', XDG_DATA_HOME: data }, node: 'node' }),
    ).toEqual({
      command: 'node',
      args: [installed, '--stdio'],
      source: 'installed',
      path: installed,
    });
    expect(
      locateCopilotServer({ server: COPILOT_LS, env: { PATH: '', XDG_DATA_HOME: data } }),
    ).toMatchObject({ source: 'config' });
    fs.rmSync(data, { recursive: true });

    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-bin-'));
    const exe = path.join(bin, 'copilot-language-server');
    fs.writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
    expect(locateCopilotServer({ roots: [], env: { PATH: `/nonexistent:${bin}` } })).toEqual({
      command: exe,
      args: ['--stdio'],
      source: 'PATH',
      path: exe,
    });
    expect(locateCopilotServer({ roots: [], env: { PATH: '/nonexistent' } })).toBeUndefined();
    fs.rmSync(bin, { recursive: true });
  });

  it('says how to install it when it is missing', async () => {
    const err = await CopilotLanguageServer.start({ roots: [], env: { PATH: '' } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect((err as Error).message).toMatch(
      /language server was not found.*Install it with :RuneCopilotInstall/,
    );
  });
});

describe('the real Copilot language server, offline', () => {
  let hole: Blackhole;
  let ls: CopilotLanguageServer;
  const logger = createMemoryLogger();

  beforeAll(async () => {
    hole = await startBlackhole();
    ls = await CopilotLanguageServer.start({
      server: COPILOT_LS,
      env: hole.env,
      settings: hole.settings,
      editorInfo: { name: 'Neovim', version: '0.10.4' },
      minIntervalMs: 300,
      requestTimeoutMs: 20_000,
      logger,
    });
  });
  afterAll(async () => {
    await ls?.dispose();
    await hole?.close();
  });

  it('completes the handshake and answers checkStatus with NotSignedIn', async () => {
    expect(ls.alive).toBe(true);
    expect(await ls.checkStatus()).toEqual({ status: 'NotSignedIn' });
    await expect.poll(() => ls.serverStatus?.kind).toBe('Error');
    expect(ls.serverStatus?.message).toMatch(/not signed in/i);
  });

  it('fails the device-flow sign-in with a clear message, through the loopback proxy only', async () => {
    const err = await ls.signIn().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(
      /^Copilot sign-in failed: .*device flow.*Check the network connection to GitHub.*:RuneAuth copilot login/,
    );
    expect(hole.attempts).toContain('github.com:443');
  });

  it('asks for inline completions on the synced document and maps NotSignedIn to an AuthError', async () => {
    const doc = {
      uri: 'file:///tmp/rune-test/add.py',
      languageId: 'python',
      text: 'def add(a, b):\n    ',
      line: 1,
      character: 4,
    };
    const first = await ls.inlineCompletion(doc).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(AuthError);
    expect((first as Error).message).toMatch(/not signed in.*:RuneAuth copilot login/);
    // Same document, new text: sent as a change, and the server answers the same way.
    const second = await ls
      .inlineCompletion({ ...doc, text: 'def add(a, b):\n    return', character: 10 })
      .catch((e: unknown) => e);
    expect(second).toBeInstanceOf(AuthError);
    expect(ls.alive).toBe(true);
  });

  it('spaces automatic requests and gives up on one aborted while it waits', async () => {
    const doc = {
      uri: 'file:///tmp/rune-test/b.py',
      languageId: 'python',
      text: 'x = ',
      line: 0,
      character: 4,
    };
    const starts: number[] = [];
    const ask = async () => {
      await ls.inlineCompletion(doc).catch(() => undefined);
      starts.push(Date.now());
    };
    const t0 = Date.now();
    await ask();
    await ask();
    // The second request could not start before the minimum interval had passed.
    expect(starts[1]! - t0).toBeGreaterThanOrEqual(300);

    const ac = new AbortController();
    const p = ls.inlineCompletion(doc, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
    // An explicit request (automatic: false) does not wait.
    await expect(ls.inlineCompletion(doc, { automatic: false })).rejects.toBeInstanceOf(AuthError);
  });

  it('sends the shown, partly accepted and accepted notifications without error', async () => {
    const item: InlineItem = {
      insertText: '    return a + b',
      range: { start: { line: 1, character: 0 }, end: { line: 1, character: 4 } },
      command: { command: 'github.copilot.didAcceptCompletionItem', arguments: ['rune-test-id'] },
    };
    await ls.didShow(item);
    await ls.didAccept(item, 10);
    await ls.didAccept(item);
    expect(await ls.checkStatus()).toEqual({ status: 'NotSignedIn' });
  });

  it('fails a token hand-off offline with advice; stops on dispose, and then says so', async () => {
    const other = await CopilotLanguageServer.start({
      server: COPILOT_LS,
      env: hole.env,
      settings: hole.settings,
    });
    await expect(other.signInWithGithubToken('gho_not_a_real_token', 'octocat')).rejects.toThrow(
      /^Copilot sign-in failed: .*run :RuneAuth copilot login again/,
    );
    await other.dispose();
    expect(other.alive).toBe(false);
    await expect(other.checkStatus()).rejects.toThrow(/Copilot language server stopped/);
  });
});
