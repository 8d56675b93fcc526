import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EncryptedFileStore } from '../../src/auth/file-store.js';
import { apiKeyAccount } from '../../src/auth/secret-store.js';
import { startNvim, waitFor } from '../helpers/nvim.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-auth-e2e-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe(':RuneAuth with the real host process', () => {
  it('stores a key typed at a hidden prompt, and health and status name the store', async () => {
    const file = path.join(tmp, 'secrets.enc');
    const t = await startNvim({
      // Notifications are collected, not shown: another module failing to start must not
      // turn this command into an error.
      setup:
        `_G.notes = {}; vim.notify = function(m) table.insert(_G.notes, m) end\n` +
        `require('rune').setup({ auth = { store = 'file', file = ${JSON.stringify(file)} } })`,
    });
    const secret = 'sk-e2e-typed-secret-7';
    const cmd = t.nvim.command('RuneAuth mistral login');
    await waitFor(
      async () => (await t.lua<string>('return vim.fn.mode(1)')) !== 'n',
      20000,
      'prompt',
    );
    await t.nvim.input(`${secret}<CR>`);
    await cmd;
    expect(await new EncryptedFileStore({ file }).get(apiKeyAccount('mistral'))).toBe(secret);

    const status = (await t.nvim.commandOutput('RuneAuth status')) as string;
    expect(status).toContain(`Secrets: secrets file ${file} (mode 0600)`);
    expect(status).toMatch(/mistral\s+yes\s+API key stored/);

    await t.nvim.command('checkhealth rune');
    const health = (
      await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
    ).join('\n');
    expect(health).toMatch(/rune: auth/);
    expect(health).toContain(`secrets are kept in the secrets file ${file} (mode 0600)`);
    expect(health).toContain(
      'only its 0600 mode protects it: any program running as you can read it',
    );
    expect(health).toMatch(/Copilot language server/);

    const log = await t.lua<string>("return require('rune.host').log_file()");
    await waitFor(() => fs.existsSync(log), 5000, 'the log file');
    expect(fs.readFileSync(log, 'utf8')).not.toContain(secret);
    await t.close();
  });
});
