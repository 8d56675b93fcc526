/**
 * Secrets through the built code (`node dist/...`), as users run it: Node's own
 * module loader, not the test runner's, loads keytar and the secrets file.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startNvim } from '../helpers/nvim.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const FILE_STORE = pathToFileURL(path.join(ROOT, 'dist', 'auth', 'file-store.js')).href;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-auth-dist-'));

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function node(
  args: string[],
  input = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, RUNE_BROWSER: 'none' };
  delete env.NVIM;
  const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('rune auth from dist/', () => {
  // The test command runs this inside a private D-Bus session with an unlocked gnome-keyring
  // and sets RUNE_TEST_KEYRING=1. The provider name is random, so a run outside it (against
  // a real keyring) touches no entry of the user's and removes its own.
  it('keeps secrets in the OS keyring when the Secret Service answers', async () => {
    const provider = `rune-test-${randomBytes(4).toString('hex')}`;
    const file = path.join(tmp, 'unused', 'secrets.enc');
    const login = await node([CLI, 'auth', 'login', provider, '--file', file], 'sk-dist-key-1\n');
    if (process.env.RUNE_TEST_KEYRING !== '1' && login.stdout.includes('secrets file')) {
      // No keyring outside the test command: the fallback must say why.
      const status = await node([CLI, 'auth', 'status', '--file', file]);
      expect(status.stdout).toMatch(/OS keyring is unavailable/);
      return;
    }
    expect(login.stderr).toBe('');
    expect(login.stdout).toBe(
      `Stored the API key for ${provider} in the OS keyring (Secret Service, service "rune.nvim").\n`,
    );
    const status = await node([CLI, 'auth', 'status', provider, '--file', file]);
    expect(status.stdout).toBe(
      'Secret store: OS keyring (Secret Service, service "rune.nvim")\n' +
        '  (the OS keyring answered)\n' +
        `  ${provider}: API key stored\n`,
    );
    expect(fs.existsSync(file)).toBe(false);
    const logout = await node([CLI, 'auth', 'logout', provider, '--file', file]);
    expect(logout.stdout).toMatch(new RegExp(`^Forgot the secret for ${provider}\\.`));
  });

  it('is the store the host that Lua spawns uses', async () => {
    const t = await startNvim({ setup: `require('rune').setup({ mcp = { enabled = false } })` });
    const status = (await t.nvim.commandOutput('RuneAuth status')) as string;
    if (process.env.RUNE_TEST_KEYRING !== '1' && !status.includes('OS keyring (')) {
      expect(status).toMatch(/Secrets: secrets file .* \(mode 0600\)/);
    } else {
      expect(status).toContain('Secrets: OS keyring (Secret Service, service "rune.nvim")');
    }
    await t.close();
  });

  it('says what protects the secrets file', async () => {
    const file = path.join(tmp, 'said', 'secrets.enc');
    const status = await node([CLI, 'auth', 'status', '--store', 'file', '--file', file]);
    expect(status.stdout).toBe(
      `Secret store: secrets file ${file} (mode 0600)\n` +
        '  (the secrets file was chosen in the configuration)\n' +
        '  Note: only its 0600 mode protects it: any program running as you can read it and ' +
        'recover the secrets, because the key it is scrambled with is derived from facts on ' +
        'this machine, not from a secret.\n' +
        '  nothing stored\n',
    );
  });

  it('loses no secret when two processes write the secrets file at the same time', async () => {
    const file = path.join(tmp, 'race', 'secrets.enc');
    const writes = 8;
    // Each process stores its own accounts one after the other, as the host and `rune auth`
    // do; without a cross-process lock one's read-modify-write overwrites the other's.
    const writer = (who: string) =>
      node([
        '--input-type=module',
        '-e',
        `const { EncryptedFileStore } = await import(${JSON.stringify(FILE_STORE)});
         const store = new EncryptedFileStore({ file: ${JSON.stringify(file)} });
         for (let i = 0; i < ${writes}; i++) await store.set('${who}-' + i, 'secret-${who}-' + i);`,
      ]);
    const results = await Promise.all([writer('a'), writer('b')]);
    for (const r of results) expect(r.stderr).toBe('');
    const list = await node([CLI, 'auth', 'status', '--store', 'file', '--file', file]);
    const stored = list.stdout
      .split('\n')
      .filter((l) => l.endsWith(': secret stored'))
      .map((l) => l.trim().split(':')[0]);
    const want = ['a', 'b'].flatMap((w) => Array.from({ length: writes }, (_, i) => `${w}-${i}`));
    expect(stored.sort()).toEqual(want.sort());
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  });
});
