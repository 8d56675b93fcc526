/**
 * `rune doctor` (the built CLI) judges the Neovim on PATH by its version, compared as numbers.
 * The `nvim` here is a script printing the first lines of `nvim --version` (as Neovim's
 * src/nvim/version.c writes them).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/dist.js';

const run = promisify(execFile);
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-doctor-'));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

/** The doctor's `neovim` checks with an `nvim` on PATH printing `versionOutput`. */
async function neovimChecks(name: string, versionOutput: string) {
  const bin = path.join(home, name);
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'nvim'), `#!/bin/sh\nprintf '${versionOutput}'\n`, {
    mode: 0o755,
  });
  const env = {
    PATH: bin,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_STATE_HOME: path.join(home, 'state'),
    XDG_DATA_HOME: path.join(home, 'data'),
  };
  const out = await run(
    process.execPath,
    [path.join(ROOT, 'dist/cli/main.js'), 'doctor', '--json'],
    {
      env,
    },
  ).catch((e: { stdout: string }) => e);
  const checks = JSON.parse(out.stdout) as { section: string; level: string; message: string }[];
  return checks.filter((c) => c.section === 'neovim');
}

const version = (v: string) => `NVIM v${v}\\nBuild type: Release\\nLuaJIT 2.1.1741730670\\n`;

describe('rune doctor on the Neovim version', () => {
  it('accepts Neovim 1.0 and names its version', async () => {
    const [check] = await neovimChecks('one', version('1.0.0'));
    expect(check).toMatchObject({ level: 'ok' });
    expect(check!.message).toContain('Neovim 1.0.0');
  });

  it('refuses Neovim 0.9 and says what to install', async () => {
    const [check] = await neovimChecks('old', version('0.9.5'));
    expect(check).toMatchObject({ level: 'error' });
    expect(check!.message).toContain('Neovim 0.9.5');
    expect(check!.message).toContain('older than 0.10.0');
  });

  it('says so when the output is not a Neovim version', async () => {
    const [check] = await neovimChecks('odd', 'vi 1.0\\n');
    expect(check).toMatchObject({ level: 'error' });
    expect(check!.message).toContain('could not read the version');
  });
});

describe('rune doctor on the sandbox', () => {
  /** The doctor's `sandbox` check with `bwrapScript` as the first bwrap on PATH. */
  async function sandboxCheck(name: string, bwrapScript: string) {
    const bin = path.join(home, name);
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'bwrap'), bwrapScript, { mode: 0o755 });
    const out = await run(
      process.execPath,
      [path.join(ROOT, 'dist/cli/main.js'), 'doctor', '--json'],
      {
        env: {
          PATH: `${bin}:${process.env.PATH ?? ''}`,
          HOME: home,
          XDG_CONFIG_HOME: path.join(home, 'config'),
          XDG_STATE_HOME: path.join(home, 'state'),
          XDG_DATA_HOME: path.join(home, 'data'),
        },
      },
    ).catch((e: { stdout: string }) => e);
    const checks = JSON.parse(out.stdout) as { section: string; level: string; message: string }[];
    return checks.find((c) => c.section === 'sandbox');
  }

  it('warns when bubblewrap is installed but cannot create namespaces, as in many containers', async () => {
    const check = await sandboxCheck(
      'nons',
      '#!/bin/sh\necho "bwrap: No permissions to create a new namespace" >&2\nexit 1\n',
    );
    expect(check).toMatchObject({ level: 'warn' });
    expect(check!.message).toContain('No permissions to create a new namespace');
    expect(check!.message).toContain('not run unless you allow them');
  });

  it('says the sandbox is available when bubblewrap works', async () => {
    // The real bwrap (the test command requires a working one) behind a forwarding script.
    const real = (process.env.PATH ?? '')
      .split(':')
      .map((d) => path.join(d, 'bwrap'))
      .find((p) => fs.existsSync(p));
    expect(real, 'bubblewrap must be installed for the tests').toBeTruthy();
    const check = await sandboxCheck('works', `#!/bin/sh\nexec ${real} "$@"\n`);
    expect(check).toMatchObject({ level: 'ok' });
  });
});
