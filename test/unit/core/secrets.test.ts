/** Secret references: env:, cmd: (no shell), file:, keyring:, literal. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthError } from '../../../src/core/errors.js';
import { describeSecretRef, resolveSecret, splitArgv } from '../../../src/core/secrets.js';

const node = process.execPath;

describe('resolveSecret', () => {
  it('reads an environment variable and names it when missing', async () => {
    expect(await resolveSecret('env:K', 'providers.x.api_key', { env: { K: ' v ' } })).toBe('v');
    const err = await resolveSecret('env:MISSING_KEY', 'providers.x.api_key', { env: {} }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(
      /providers\.x\.api_key.*MISSING_KEY.*export MISSING_KEY/,
    );
  });

  it('runs a command without a shell and trims its stdout', async () => {
    const v = await resolveSecret(
      `cmd:${node} -e "process.stdout.write(process.argv[1] + ' \\n')" '$HOME;echo'`,
      'k',
      { env: process.env },
    );
    expect(v).toBe('$HOME;echo');
  });

  it('says which command failed or printed nothing', async () => {
    const failed = await resolveSecret(`cmd:${node} -e "process.exit(3)"`, 'k').catch((e) => e);
    expect(failed).toBeInstanceOf(AuthError);
    expect((failed as Error).message).toMatch(/the command .* failed/);
    const empty = await resolveSecret(`cmd:${node} -e ""`, 'k').catch((e) => e);
    expect((empty as Error).message).toMatch(/printed nothing/);
    const missing = await resolveSecret('cmd:/nonexistent/rune-secret', 'k').catch((e) => e);
    expect(missing).toBeInstanceOf(AuthError);
  });

  it('reads a file and reports a missing or empty one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rune-secret-'));
    const f = path.join(dir, 'key');
    writeFileSync(f, 'file-key\n');
    expect(await resolveSecret(`file:${f}`, 'k')).toBe('file-key');
    writeFileSync(f, '');
    expect(((await resolveSecret(`file:${f}`, 'k').catch((e) => e)) as Error).message).toMatch(
      /is empty/,
    );
    expect(
      ((await resolveSecret(`file:${dir}/nope`, 'k').catch((e) => e)) as Error).message,
    ).toMatch(/ENOENT/);
  });

  it('asks the keyring store, and explains when there is none', async () => {
    const store = { get: async (n: string) => (n === 'a' ? 'ring' : undefined) };
    expect(await resolveSecret('keyring:a', 'k', { store })).toBe('ring');
    expect(
      ((await resolveSecret('keyring:b', 'k', { store }).catch((e) => e)) as Error).message,
    ).toMatch(/no entry "b"/);
    expect(((await resolveSecret('keyring:a', 'k').catch((e) => e)) as Error).message).toMatch(
      /no keyring store/,
    );
  });

  it('takes anything else literally and describes references', async () => {
    expect(await resolveSecret('sk-literal', 'k')).toBe('sk-literal');
    expect(describeSecretRef('env:X')).toBe('the environment variable X');
    expect(describeSecretRef('sk-abc')).not.toContain('sk-abc');
  });

  it('splits argv with quotes and no shell expansion', () => {
    expect(splitArgv(`pass show "my key" 'a b' ""`)).toEqual(['pass', 'show', 'my key', 'a b', '']);
    expect(() => splitArgv('a "b')).toThrow(/unterminated/);
  });
});
