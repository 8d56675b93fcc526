/**
 * The Copilot language server install (src/auth/copilot-install.ts) in process: the real
 * npm against a loopback registry double. The built host's command is proven in
 * test/e2e/copilot-install.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  COPILOT_LS_ENTRY,
  COPILOT_LS_VERSION,
  copilotInstallDir,
  installCopilotServer,
  npmEnv,
  type InstallStep,
} from '../../../src/auth/copilot-install.js';
import { locateCopilotServer } from '../../../src/auth/copilot-ls.js';
import { AbortError } from '../../../src/core/errors.js';
import { waitFor } from '../../helpers/nvim.js';
import { startNpmRegistry, type NpmRegistry } from '../../helpers/servers/npm-registry.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const PKG = '@github/copilot-language-server';
const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup) await c();
});

function tmp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanup.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function registry(version: string, body: string): Promise<NpmRegistry> {
  const r = await startNpmRegistry({
    name: PKG,
    version,
    files: { 'dist/language-server.js': body },
  });
  cleanup.push(() => r.close());
  return r;
}

describe('installing the Copilot language server', () => {
  it('pins the version scripts/setup.sh installs for the tests', () => {
    const setup = fs.readFileSync(path.join(ROOT, 'scripts', 'setup.sh'), 'utf8');
    expect(setup).toContain(`copilot_ls_version=${COPILOT_LS_VERSION}\n`);
  });

  it("installs into Neovim's data folder (XDG_DATA_HOME, NVIM_APPNAME)", () => {
    expect(copilotInstallDir({ XDG_DATA_HOME: '/d', NVIM_APPNAME: 'lazyvim' })).toBe(
      '/d/lazyvim/rune/copilot-language-server',
    );
    expect(copilotInstallDir({ XDG_DATA_HOME: '/d' })).toBe('/d/nvim/rune/copilot-language-server');
  });

  it("gives npm its own config and the network settings, never Rune's secrets", () => {
    expect(
      npmEnv({
        PATH: '/bin',
        HOME: '/h',
        npm_config_registry: 'http://127.0.0.1:1/',
        NPM_CONFIG_USERCONFIG: '/h/.npmrc',
        HTTPS_PROXY: 'http://proxy:3128',
        ANTHROPIC_API_KEY: 'sk-ant-secret',
        GITHUB_TOKEN: 'ghp_secret',
        NVIM: '/run/nvim.sock',
      }),
    ).toEqual({
      PATH: '/bin',
      HOME: '/h',
      npm_config_registry: 'http://127.0.0.1:1/',
      NPM_CONFIG_USERCONFIG: '/h/.npmrc',
      HTTPS_PROXY: 'http://proxy:3128',
    });
  });

  it('replaces an older install only once the new one is complete, and clears leftovers', async () => {
    const reg = await registry('9.9.9', 'new\n');
    const home = tmp('rune-npm-home-');
    const dir = path.join(tmp('rune-data-'), 'rune', 'copilot-language-server');
    const entry = path.join(dir, COPILOT_LS_ENTRY);
    fs.mkdirSync(path.dirname(entry), { recursive: true });
    fs.writeFileSync(entry, 'old\n');
    fs.mkdirSync(`${dir}.tmp-crashed`);
    const steps: InstallStep[] = [];
    const done = await installCopilotServer({
      dir,
      version: '9.9.9',
      env: {
        PATH: process.env.PATH,
        HOME: home,
        npm_config_registry: reg.url,
        npm_config_cache: path.join(home, 'cache'),
      },
      onProgress: (s) => steps.push(s),
    });
    expect(done).toEqual({ path: entry, version: '9.9.9' });
    expect(fs.readFileSync(entry, 'utf8')).toBe('new\n');
    expect(fs.readdirSync(path.dirname(dir))).toEqual(['copilot-language-server']);
    expect(steps.map((s) => s.step)).toEqual([...new Set(steps.map((s) => s.step))].sort());
    expect(steps.at(-1)).toEqual({ step: 4, of: 4, text: `checking ${PKG}@9.9.9` });
    expect(locateCopilotServer({ installDir: dir, env: { PATH: '' } })).toMatchObject({
      source: 'installed',
      path: entry,
    });
  });

  it('runs one install per folder at a time; a cancelled one leaves nothing, lock included', async () => {
    const reg = await registry(COPILOT_LS_VERSION, 'x\n');
    let open!: () => void;
    reg.stallTarball = new Promise<void>((r) => (open = r));
    const home = tmp('rune-npm-home-');
    const dir = path.join(tmp('rune-data-'), 'rune', 'copilot-language-server');
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      npm_config_registry: reg.url,
      npm_config_cache: path.join(home, 'cache'),
    };
    const ac = new AbortController();
    const first = installCopilotServer({ dir, env, signal: ac.signal });
    await reg.stalled;
    await expect(installCopilotServer({ dir, env })).rejects.toThrow(
      `Another editor (process ${process.pid}) is installing the Copilot language server into ${path.dirname(dir)}.`,
    );
    ac.abort();
    await expect(first).rejects.toBeInstanceOf(AbortError);
    open();
    await waitFor(() => reg.closes === 1, 10000, 'npm to drop the tarball');
    expect(fs.readdirSync(path.dirname(dir))).toEqual([]);
  });

  it('refuses a version that is not one, before running npm', async () => {
    const dir = path.join(tmp('rune-data-'), 'copilot-language-server');
    await expect(
      installCopilotServer({ dir, version: '--registry=http://evil', env: { PATH: '' } }),
    ).rejects.toThrow(
      `"--registry=http://evil" is not a version of ${PKG}; give one like ${COPILOT_LS_VERSION} (or latest).`,
    );
    expect(fs.existsSync(path.dirname(dir))).toBe(true);
    expect(fs.readdirSync(path.dirname(dir))).toEqual([]);
  });
});
