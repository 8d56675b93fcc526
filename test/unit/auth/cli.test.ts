import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authCommand, readHidden, registerAuthCommand, type CliIo } from '../../../src/cli/auth.js';
import { EncryptedFileStore, FILE_STORE_PROTECTION } from '../../../src/auth/file-store.js';
import { COPILOT_GITHUB_ACCOUNT, apiKeyAccount } from '../../../src/auth/secret-store.js';
import { startGitHubServer, type GitHubServer } from './github-server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-cli-'));
let gh: GitHubServer;
beforeAll(async () => {
  gh = await startGitHubServer();
  process.env.RUNE_BROWSER = 'none';
});
afterAll(async () => {
  await gh.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function sink() {
  const s = new PassThrough();
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return { stream: s, text: () => text };
}

async function run(args: string[], input: CliIo['input']) {
  const out = sink();
  const err = sink();
  const program = registerAuthCommand(new Command('rune').exitOverride(), {
    input,
    output: out.stream,
    errors: err.stream,
  });
  await program.parseAsync(['node', 'rune', ...args]);
  return { out: out.text(), err: err.text() };
}

describe('rune auth', () => {
  const file = path.join(tmp, 'secrets.enc');
  const store = () => new EncryptedFileStore({ file });
  const where = ['--store', 'file', '--file', file];

  it('stores an API key read from stdin, reports it in status, and forgets it', async () => {
    const r = await run(['auth', 'login', 'openai', ...where], Readable.from(['sk-from-stdin\n']));
    expect(r.out).toBe(`Stored the API key for openai in the secrets file ${file} (mode 0600).\n`);
    expect(r.out + r.err).not.toContain('sk-from-stdin');
    expect(await store().get(apiKeyAccount('openai'))).toBe('sk-from-stdin');

    const s = await run(['auth', 'status', ...where], Readable.from([]));
    expect(s.out).toBe(
      `Secret store: secrets file ${file} (mode 0600)\n` +
        '  (the secrets file was chosen in the configuration)\n' +
        `  Note: ${FILE_STORE_PROTECTION}.\n` +
        '  openai: API key stored\n',
    );
    const o = await run(['auth', 'logout', 'openai', ...where], Readable.from([]));
    expect(o.out).toMatch(/^Forgot the secret for openai\./);
    expect(await store().get(apiKeyAccount('openai'))).toBeUndefined();
    const again = await run(['auth', 'logout', 'openai', ...where], Readable.from([]));
    expect(again.out).toBe('Nothing was stored for openai.\n');
  });

  it('refuses an empty key and stores nothing', async () => {
    await expect(run(['auth', 'login', 'x', ...where], Readable.from(['  \n']))).rejects.toThrow(
      /No API key was given for x; nothing was stored/,
    );
    expect(await store().get(apiKeyAccount('x'))).toBeUndefined();
  });

  it('signs in to GitHub for Copilot with the device flow', async () => {
    gh.pollAnswers = ['authorization_pending'];
    const r = await run(
      [
        'auth',
        'login',
        'copilot',
        ...where,
        '--github-url',
        gh.url,
        '--api-url',
        gh.url,
        '--server',
        '/nonexistent',
      ],
      Readable.from([]),
    );
    expect(r.err).toBe(`Enter the code ABCD-1234 at ${gh.url}/login/device. Waiting…\n`);
    expect(r.out).toMatch(/^Signed in to GitHub as octocat; the token is in the secrets file/);
    expect(r.out).toMatch(/install the language server: Install it with :RuneCopilotInstall/);
    expect(await store().get(COPILOT_GITHUB_ACCOUNT)).toBe(gh.githubToken);
    const s = await run(['auth', 'status', 'copilot', ...where], Readable.from([]));
    expect(s.out).toMatch(/ {2}copilot: GitHub token stored\n$/);
  });

  it('has login, logout, status and copilot-install subcommands', () => {
    expect(authCommand().commands.map((c) => c.name())).toEqual([
      'login',
      'logout',
      'status',
      'copilot-install',
    ]);
  });
});

describe('hidden prompt', () => {
  function tty(keys: string[]) {
    const input = new PassThrough() as PassThrough & {
      isTTY: boolean;
      setRawMode(r: boolean): void;
      raw: boolean[];
    };
    input.isTTY = true;
    input.raw = [];
    input.setRawMode = (r: boolean) => void input.raw.push(r);
    setImmediate(() => keys.forEach((k) => input.write(k)));
    return input;
  }

  it('reads without echo, handles backspace and Ctrl-U, and restores the terminal', async () => {
    const input = tty(['abc', '\u007f', 'x', '\u0015', 'sk-', 'real\r']);
    const err = sink();
    const value = await readHidden(
      { input, output: new PassThrough(), errors: err.stream },
      'Key: ',
    );
    expect(value).toBe('sk-real');
    expect(err.text()).toBe('Key: \n');
    expect(input.raw).toEqual([true, false]);
  });

  it('cancels on Ctrl-C', async () => {
    const input = tty(['sk', '\u0003']);
    await expect(
      readHidden({ input, output: new PassThrough(), errors: new PassThrough() }, 'Key: '),
    ).rejects.toThrow(/Cancelled/);
    expect(input.raw).toEqual([true, false]);
  });
});
