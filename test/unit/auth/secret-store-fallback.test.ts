// No Secret Service for this file: the bus address points at nothing and no X display can
// autolaunch one. Vitest runs each file in its own process, so this cannot leak.
process.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent/rune-test-bus';
delete process.env.DISPLAY;

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseSecretStore } from '../../../src/auth/choose.js';
import { loadKeytar } from '../../../src/auth/keytar-store.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-fallback-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('secret store without a keyring', () => {
  it('falls back to the secrets file, says why, and the file works', async () => {
    const file = path.join(tmp, 'secrets.enc');
    const chosen = await chooseSecretStore({ file });
    expect(chosen.store.kind).toBe('file');
    expect(chosen.reason).toMatch(/^the OS keyring is unavailable \(.+\); install and unlock/);
    await chosen.store.set('api-key/ollama', 'secret-value');
    expect(await chosen.store.get('api-key/ollama')).toBe('secret-value');
    expect(fs.existsSync(file)).toBe(true);
  });

  it('reports a failing keyring as unavailable even when it was asked for', async () => {
    // keytar itself loads (it is installed); only the Secret Service is missing.
    expect('keytar' in (await loadKeytar())).toBe(true);
    const chosen = await chooseSecretStore({ backend: 'keyring', file: path.join(tmp, 'x.enc') });
    expect(chosen.store.kind).toBe('file');
    expect(chosen.reason).toMatch(/^the keyring was asked for but the OS keyring is unavailable/);
  });
});
