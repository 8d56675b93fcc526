import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseSecretStore } from '../../../src/auth/choose.js';
import { EncryptedFileStore } from '../../../src/auth/file-store.js';
import { KeytarStore, loadKeytar } from '../../../src/auth/keytar-store.js';
import { AuthError } from '../../../src/core/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-secrets-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('secrets-file store', () => {
  it('stores, lists and deletes secrets in a 0600 file that holds no plaintext', async () => {
    const file = path.join(tmp, 'a', 'secrets.enc');
    const store = new EncryptedFileStore({ file });
    expect(await store.get('api-key/anthropic')).toBeUndefined();
    await store.set('api-key/anthropic', 'sk-ant-very-secret-value');
    await store.set('oauth/linear', '{"access_token":"tok-123456"}');
    expect(await store.get('api-key/anthropic')).toBe('sk-ant-very-secret-value');
    expect(await store.list()).toEqual(['api-key/anthropic', 'oauth/linear']);

    const raw = fs.readFileSync(file, 'utf8');
    expect(raw).not.toContain('sk-ant-very-secret-value');
    expect(raw).not.toContain('anthropic');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['secrets.enc']);

    // A second instance (another process) reads what the first wrote.
    const again = new EncryptedFileStore({ file });
    expect(await again.get('oauth/linear')).toBe('{"access_token":"tok-123456"}');
    expect(await again.delete('oauth/linear')).toBe(true);
    expect(await again.delete('oauth/linear')).toBe(false);
    expect(await store.list()).toEqual(['api-key/anthropic']);
  });

  it('keeps every write when many run at once', async () => {
    const store = new EncryptedFileStore({ file: path.join(tmp, 'b', 'secrets.enc') });
    await Promise.all(Array.from({ length: 8 }, (_, i) => store.set(`k${i}`, `v${i}`)));
    expect(await store.list()).toEqual(Array.from({ length: 8 }, (_, i) => `k${i}`));
  });

  it('refuses a file from another machine or user with advice, and leaves it in place', async () => {
    const file = path.join(tmp, 'c', 'secrets.enc');
    await new EncryptedFileStore({ file, binding: 'machine-a|1|alice' }).set('x', 'secret-x');
    const before = fs.readFileSync(file, 'utf8');
    const other = new EncryptedFileStore({ file, binding: 'machine-b|1|alice' });
    const err = await other.get('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(/does not decrypt for this user on this machine/);
    expect((err as Error).message).toMatch(/rune auth login/);
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
  });

  it('reports a corrupt file instead of overwriting it', async () => {
    const file = path.join(tmp, 'd', 'secrets.enc');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, 'not json');
    const store = new EncryptedFileStore({ file });
    await expect(store.set('a', 'b')).rejects.toThrow(/not a Rune secrets file/);
    expect(fs.readFileSync(file, 'utf8')).toBe('not json');
  });

  it('is chosen when asked for in the configuration', async () => {
    const chosen = await chooseSecretStore({ backend: 'file', file: path.join(tmp, 'e.enc') });
    expect(chosen.store.kind).toBe('file');
    expect(chosen.store.description).toContain(path.join(tmp, 'e.enc'));
  });
});

// The test command runs this file inside a D-Bus session with an unlocked gnome-keyring and
// sets RUNE_TEST_KEYRING=1; then the keyring must be used. secret-store-fallback.test.ts
// covers the machine without one.
describe('OS keyring store', () => {
  it('is chosen when the Secret Service answers, and round-trips secrets through it', async () => {
    const service = `rune-test-${randomBytes(4).toString('hex')}`;
    const chosen = await chooseSecretStore({ service, file: path.join(tmp, 'unused.enc') });
    if (process.env.RUNE_TEST_KEYRING !== '1') {
      // Outside the test command there may be no keyring; then the fallback must say so.
      if (chosen.store.kind === 'file') {
        expect(chosen.reason).toMatch(/OS keyring is unavailable/);
        return;
      }
    }
    expect(chosen.reason).toBe('the OS keyring answered');
    const store = chosen.store;
    expect(store).toBeInstanceOf(KeytarStore);
    expect(store.description).toContain(service);
    await store.set('api-key/openai', 'sk-openai-secret');
    expect(await store.get('api-key/openai')).toBe('sk-openai-secret');
    expect(await store.list()).toEqual(['api-key/openai']);
    // Another client of the same keyring sees it: it really is in the Secret Service.
    const loaded = await loadKeytar();
    if ('error' in loaded) throw new Error(loaded.error);
    expect(await loaded.keytar.getPassword(service, 'api-key/openai')).toBe('sk-openai-secret');
    expect(await store.delete('api-key/openai')).toBe(true);
    expect(await store.get('api-key/openai')).toBeUndefined();
    expect(fs.existsSync(path.join(tmp, 'unused.enc'))).toBe(false);
  });
});
