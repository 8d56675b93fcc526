/**
 * Which Neovim the tests (and `rune doctor`, through the same finder of the neovim client)
 * accept: versions compare as numbers, so 1.0 counts as newer than 0.10. The `nvim` on PATH
 * here is a script printing what `nvim --version` prints (its first lines, as Neovim's
 * src/nvim/version.c writes them: "NVIM v…", "Build type: …", "LuaJIT …").
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { nvimBin, ROOT } from '../helpers/nvim.js';

const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-nvim-version-'));
afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

/** Puts an `nvim` on PATH (alone) that reports `version`. */
function fakeNvim(version: string): void {
  fs.writeFileSync(
    path.join(bin, 'nvim'),
    `#!/bin/sh\nprintf 'NVIM v${version}\\nBuild type: Release\\nLuaJIT 2.1.1741730670\\n'\n`,
    { mode: 0o755 },
  );
  vi.stubEnv('RUNE_TEST_NVIM', '');
  vi.stubEnv('PATH', bin);
}

const provisioned = path.join(ROOT, '.cache', 'nvim', 'sid', 'bin', 'nvim');

describe('the Neovim version check', () => {
  it.each(['0.10.0', '0.12.1', '1.0.0', '1.2.0-dev-42+gabcdef'])(
    'uses the nvim on PATH when it is %s',
    (version) => {
      fakeNvim(version);
      expect(nvimBin()).toBe('nvim');
    },
  );

  it.each(['0.9.5', '0.4.4'])('falls back to the provisioned Neovim over %s', (version) => {
    fakeNvim(version);
    expect(nvimBin()).toBe(provisioned);
  });
});
