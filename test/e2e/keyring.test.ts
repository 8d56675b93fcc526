/**
 * The OS keyring end to end: `rune auth login` (node dist/cli/main.js) stores an
 * API key in the Secret Service of the test command (a private D-Bus session
 * with an unlocked gnome-keyring, RUNE_TEST_KEYRING=1), and the host the Lua
 * layer spawned reads it back to call the provider. Nothing may fall back to
 * the encrypted file here: the keyring is there and must be used.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOpenAIServer, type OpenAIServer } from '../helpers/servers/index.js';
import { waitFor, xdgEnv } from '../helpers/nvim.js';
import { explained, runCli, startRune } from '../helpers/e2e.js';

let server: OpenAIServer | undefined;
afterAll(async () => {
  await server?.close();
});

describe('the OS keyring (Secret Service) with the built CLI and host', () => {
  it('`rune auth login` stores a key in the keyring and the spawned host sends it to the provider', async () => {
    if (process.env.RUNE_TEST_KEYRING !== '1') {
      throw new Error(
        'this test needs the Secret Service of the test command: run it with `npm test` ' +
          '(scripts/test.sh starts a D-Bus session with an unlocked gnome-keyring and sets ' +
          'RUNE_TEST_KEYRING=1)',
      );
    }
    server = await startOpenAIServer();
    server.enqueue('chat', { text: 'Signed with the stored key.' });
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-keyring-'));
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    delete env.OPENAI_API_KEY;
    delete env.NVIM;
    Object.assign(env, xdgEnv(home));
    // Names of this run only: both Neovims' projects may run this test at once in one keyring.
    const id = `keyed${randomBytes(4).toString('hex')}`;
    const key = `sk-e2e-keyring-${randomBytes(8).toString('hex')}`;
    const fallback = path.join(home, 'data', 'rune', 'secrets.enc');

    const login = await runCli(['auth', 'login', id, '--store', 'keyring'], {
      env,
      input: `${key}\n`,
    });
    try {
      expect(login.stderr).toBe('');
      expect(login.stdout).toBe(
        `Stored the API key for ${id} in the OS keyring (Secret Service, service "rune.nvim").\n`,
      );
      expect(login.code).toBe(0);
      expect(fs.existsSync(fallback)).toBe(false);
      const status = await runCli(['auth', 'status', '--store', 'keyring'], { env });
      expect(status.stdout).toContain('Secret store: OS keyring (Secret Service');
      expect(status.stdout).toContain(`${id}: API key stored`);

      // The host reads the key from the keyring when the provider's env variable is unset.
      const t = await startRune({
        home,
        env: { OPENAI_API_KEY: '' },
        config: {
          auth: { store: 'keyring' },
          providers: {
            [id]: {
              kind: 'openai',
              url: `${server.url}/v1`,
              api_key: 'env:OPENAI_API_KEY',
              retry: { max_attempts: 1 },
            },
          },
        },
      });
      await explained(t, async () => {
        await t.nvim.input(':RuneChat who signs this?<CR>');
        await waitFor(() => server!.requestsTo('chat').length > 0, 20000, 'the chat request');
        expect(server!.requestsTo('chat')[0]!.headers.authorization).toBe(`Bearer ${key}`);
        await waitFor(
          async () =>
            (await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).some(
              (l) => l.includes('Signed with the stored key.'),
            ),
          20000,
          'the answer',
        );
        const shown = (await t.nvim.commandOutput('RuneAuth status')) as string;
        expect(shown).toContain('Secrets: OS keyring (Secret Service');
        expect(fs.existsSync(fallback)).toBe(false);
      });
      await t.close();
    } finally {
      await runCli(['auth', 'logout', id, '--store', 'keyring'], { env });
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
