/**
 * :RuneCopilotInstall through the built host: the real `npm` installs
 * `@github/copilot-language-server` from a loopback registry double into Neovim's data
 * folder, with progress that updates in place; :checkhealth then finds it there. A
 * cancelled install kills npm (the registry sees the tarball abandoned) and leaves nothing
 * behind; npm missing and registry failures say what failed and what to do.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startNpmRegistry, type NpmRegistry } from '../helpers/servers/npm-registry.js';
import { waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, runCli, startRune } from '../helpers/e2e.js';
import { COPILOT_LS_VERSION } from '../../src/auth/copilot-install.js';
import { COPILOT_INSTALL_HINT } from '../../src/auth/copilot-ls.js';
import { which } from '../../src/core/which.js';
import { progressSeen, recordProgress } from '../helpers/progress.js';

const PKG = '@github/copilot-language-server';
const registries: NpmRegistry[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(registries.map((r) => r.close()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function registry(): Promise<NpmRegistry> {
  const r = await startNpmRegistry({
    name: PKG,
    version: COPILOT_LS_VERSION,
    files: {
      'dist/language-server.js': 'process.exit(0);\n',
      // Enough bytes that the stalled tarball is still unfinished after its first chunk.
      'dist/payload.bin': Buffer.alloc(200_000, 7),
    },
  });
  registries.push(r);
  return r;
}

/** A Neovim whose npm uses `reg` with a throwaway HOME and cache (no user .npmrc). */
async function setup(
  reg: NpmRegistry | undefined,
  env: Record<string, string> = {},
): Promise<{ t: TestNvim; target: string; v012: boolean }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-npm-home-'));
  dirs.push(home);
  const t = await startRune({
    config: { host: { node: process.execPath } },
    env: {
      HOME: home,
      npm_config_cache: path.join(home, 'npm-cache'),
      npm_config_fetch_retries: '0',
      ...(reg ? { npm_config_registry: reg.url } : {}),
      ...env,
    },
  });
  const v012 = await recordProgress(t);
  const target = path.join(t.env.XDG_DATA_HOME!, 'nvim', 'rune', 'copilot-language-server');
  return { t, target, v012 };
}

const seen = progressSeen;
const until = (t: TestNvim, status: string) =>
  waitFor(
    async () => (await seen(t)).some((s) => s.status === status),
    40000,
    `a ${status} update`,
  );
/** What is left next to the target (temp folders of an install included). */
const leftovers = (target: string) =>
  fs.existsSync(path.dirname(target))
    ? fs.readdirSync(path.dirname(target)).filter((n) => n.startsWith(path.basename(target)))
    : [];

async function health(t: TestNvim): Promise<string> {
  await t.nvim.command('checkhealth rune');
  return (await waitFor(
    async () => {
      const s = (await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).join(
        '\n',
      );
      return /Copilot language server/.test(s) ? s : undefined;
    },
    20000,
    'the auth health section',
  ))!;
}

describe(':RuneCopilotInstall (built host, real npm, loopback registry)', () => {
  it('installs into the data folder with progress in place; :checkhealth then uses it', async () => {
    const reg = await registry();
    const { t, target, v012 } = await setup(reg);
    await explained(t, async () => {
      expect(await health(t)).toContain('Copilot language server not found');
      expect(await health(t)).toContain(COPILOT_INSTALL_HINT);
      await t.nvim.command('RuneCopilotInstall');
      await until(t, 'success');
      const s = await seen(t);
      const entry = path.join(
        target,
        'node_modules',
        '@github',
        'copilot-language-server',
        'dist',
        'language-server.js',
      );
      expect(s[0]).toMatchObject({
        status: 'running',
        text: `[1/4] asking the npm registry for ${PKG}@${COPILOT_LS_VERSION}`,
      });
      // The download step carries what npm unpacked so far.
      const esc = `${PKG}@${COPILOT_LS_VERSION}`.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      expect(
        s.some((x) =>
          new RegExp(`^\\[2/4\\] downloading ${esc}: \\d+\\.\\d MB unpacked$`).test(x.text),
        ),
      ).toBe(true);
      expect(s.map((x) => x.text)).toContain(`[4/4] checking ${PKG}@${COPILOT_LS_VERSION}`);
      expect(s.at(-1)).toEqual({
        key: 'copilot.install',
        status: 'success',
        percent: 100,
        title: 'install Copilot language server',
        text: `installed ${COPILOT_LS_VERSION}: ${entry}`,
      });
      expect(fs.readFileSync(entry, 'utf8')).toBe('process.exit(0);\n');
      expect(leftovers(target)).toEqual(['copilot-language-server']);
      expect(reg.requests).toContain('/@github%2fcopilot-language-server');
      expect(reg.requests).toContain(`/${PKG}/-/copilot-language-server-${COPILOT_LS_VERSION}.tgz`);
      if (v012) {
        const ev = await t.lua<{ id: string; status: string }[]>('return _G.events');
        expect(new Set(ev.map((e) => e.id))).toEqual(new Set(['rune.copilot.install']));
        expect(ev.at(-1)!.status).toBe('success');
      }
      // In place: the running steps are not kept in :messages.
      expect(String(await t.nvim.commandOutput('messages'))).not.toMatch(/asking the npm registry/);
      expect(await health(t)).toContain(
        `Copilot language server found (installed by :RuneCopilotInstall in Neovim's data folder): ${entry}`,
      );
    });
    await t.close();
  });

  it(':RuneCopilotInstall! in the middle kills npm and leaves nothing to pick', async () => {
    const reg = await registry();
    let open!: () => void;
    reg.stallTarball = new Promise<void>((r) => (open = r));
    const { t, target } = await setup(reg);
    await explained(t, async () => {
      await t.nvim.command('RuneCopilotInstall');
      await reg.stalled;
      await waitFor(
        async () => (await seen(t)).some((x) => x.text.startsWith('[2/4] downloading')),
        20000,
        'the download step',
      );
      // A second install while one runs only says so.
      await t.nvim.command('RuneCopilotInstall');
      await waitFor(
        async () =>
          String(await t.nvim.commandOutput('messages')).includes(
            '(rune) the Copilot language server is being installed already; :RuneCopilotInstall! cancels',
          ),
        10000,
        'the warning',
      );
      await t.nvim.command('RuneCopilotInstall!');
      await until(t, 'cancel');
      await waitFor(() => reg.closes === 1, 20000, 'npm to drop the tarball');
      expect((await seen(t)).at(-1)).toMatchObject({
        status: 'cancel',
        text: 'cancelled; nothing was installed',
      });
      expect(leftovers(target)).toEqual([]);
      expect(await health(t)).toContain('Copilot language server not found');
    });
    open();
    await t.close();
  });

  it("cancels when Neovim's progress message is cancelled (0.12 Progress event)", async () => {
    const reg = await registry();
    let open!: () => void;
    reg.stallTarball = new Promise<void>((r) => (open = r));
    const { t, target, v012 } = await setup(reg);
    if (!v012) {
      // 0.10 has no progress messages to cancel: :RuneCopilotInstall! is the way.
      expect(await t.lua<number>("return vim.fn.exists('##Progress')")).toBe(0);
      open();
      await t.close();
      return;
    }
    await explained(t, async () => {
      await t.nvim.command('RuneCopilotInstall');
      await reg.stalled;
      await t.lua(
        "vim.api.nvim_echo({ { 'cancel' } }, false, { id = 'rune.copilot.install', kind = 'progress', source = 'rune', status = 'cancel', data = { rune = 'copilot.install' } })",
      );
      await waitFor(() => reg.closes === 1, 20000, 'npm to drop the tarball');
      await until(t, 'cancel');
      expect(leftovers(target)).toEqual([]);
    });
    open();
    await t.close();
  });

  it('says what to do when npm is not on PATH', async () => {
    // A PATH without npm: only what the provisioned Neovim's launcher script runs.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-no-npm-'));
    dirs.push(bin);
    for (const tool of ['dirname']) {
      const found = which(tool);
      if (found) fs.symlinkSync(found, path.join(bin, tool));
    }
    const { t, target } = await setup(undefined, { PATH: bin });
    await explained(t, async () => {
      await t.nvim.command('RuneCopilotInstall');
      await until(t, 'failed');
      expect((await seen(t)).at(-1)!.text).toBe(
        'npm was not found on PATH, and Rune installs the Copilot language server with it. ' +
          'Install npm (it comes with Node.js: https://nodejs.org) and run :RuneCopilotInstall ' +
          `again, or install ${PKG} yourself and set auth.copilot.server to its language-server.js.`,
      );
      expect(leftovers(target)).toEqual([]);
    });
    await t.close();
  });

  it("gives npm none of the editor's secrets, and names npm's exit when it says nothing", async () => {
    // An npm that records what it was given and fails silently.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-fake-npm-'));
    dirs.push(bin);
    const seenEnv = path.join(bin, 'env.txt');
    fs.writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nexport -p > '${seenEnv}'\nexit 3\n`, {
      mode: 0o755,
    });
    fs.symlinkSync(which('dirname')!, path.join(bin, 'dirname'));
    const { t, target } = await setup(undefined, {
      PATH: bin,
      ANTHROPIC_API_KEY: 'sk-ant-not-for-npm',
      GITHUB_TOKEN: 'ghp_not_for_npm',
      npm_config_registry: 'http://127.0.0.1:9/',
    });
    await explained(t, async () => {
      await t.nvim.command('RuneCopilotInstall');
      await until(t, 'failed');
      expect((await seen(t)).at(-1)!.text).toContain(
        `Installing ${PKG}@${COPILOT_LS_VERSION} with npm failed: npm stopped (exit code 3). Check`,
      );
      const given = fs.readFileSync(seenEnv, 'utf8');
      expect(given).toContain('npm_config_registry');
      expect(given).toContain(`PATH='${bin}'`);
      expect(given).not.toMatch(/sk-ant-not-for-npm|ghp_not_for_npm|NVIM|RUNE_/);
      expect(leftovers(target)).toEqual([]);
    });
    await t.close();
  });

  it(':RuneCopilotInstall {version} installs that version; one the registry lacks is named', async () => {
    const reg = await registry();
    const { t, target } = await setup(reg);
    await explained(t, async () => {
      await t.nvim.command('RuneCopilotInstall 9.9.9');
      await until(t, 'failed');
      const text = (await seen(t)).at(-1)!.text;
      expect(text).toContain(
        `Installing ${PKG}@9.9.9 with npm failed: No matching version found for ${PKG}@9.9.9. Check`,
      );
      expect(leftovers(target)).toEqual([]);
    });
    await t.close();
  });

  it.each([
    [404, '404 Not Found'],
    [500, '500 Internal Server Error'],
  ])(
    'a registry answering %i: the error names the request and what to do',
    async (status, words) => {
      const reg = await registry();
      reg.packumentStatus = status;
      const { t, target } = await setup(reg);
      await explained(t, async () => {
        await t.nvim.command('RuneCopilotInstall');
        await until(t, 'failed');
        const text = (await seen(t)).at(-1)!.text;
        expect(text).toContain(
          `Installing ${PKG}@${COPILOT_LS_VERSION} with npm failed: ${words} - GET ${reg.url}@github%2fcopilot-language-server`,
        );
        expect(text).toContain('then run :RuneCopilotInstall again.');
        expect(leftovers(target)).toEqual([]);
      });
      await t.close();
    },
  );
});

describe('rune auth copilot-install (built CLI, real npm, loopback registry)', () => {
  /** A shell's environment: npm from PATH, a throwaway HOME, data and npm cache. */
  function shell(reg: NpmRegistry): Record<string, string> {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-cli-home-'));
    dirs.push(home);
    return {
      PATH: process.env.PATH ?? '',
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, 'config'),
      XDG_STATE_HOME: path.join(home, 'state'),
      XDG_DATA_HOME: path.join(home, 'data'),
      npm_config_registry: reg.url,
      npm_config_cache: path.join(home, 'npm-cache'),
      npm_config_fetch_retries: '0',
      OLLAMA_HOST: '127.0.0.1:9',
      LLAMA_ARG_PORT: '9',
    };
  }

  it('installs where :RuneCopilotInstall does, and rune doctor finds it there', async () => {
    const reg = await registry();
    const env = shell(reg);
    const entry = path.join(
      env.XDG_DATA_HOME!,
      'nvim',
      'rune',
      'copilot-language-server',
      'node_modules',
      '@github',
      'copilot-language-server',
      'dist',
      'language-server.js',
    );
    const r = await runCli(['auth', 'copilot-install'], { env });
    expect(r.stderr).toContain(`[1/4] asking the npm registry for ${PKG}@${COPILOT_LS_VERSION}`);
    expect(r.stderr).toContain(`[4/4] checking ${PKG}@${COPILOT_LS_VERSION}`);
    expect(r).toMatchObject({
      code: 0,
      stdout: `Installed ${PKG} ${COPILOT_LS_VERSION}: ${entry}\n`,
    });
    const doctor = await runCli(['doctor', '--json'], { env });
    const checks = JSON.parse(doctor.stdout) as { section: string; message: string }[];
    expect(checks.find((c) => c.section === 'copilot')!.message).toBe(
      `Copilot language server: ${entry} (installed by :RuneCopilotInstall in Neovim's data folder)`,
    );
  });

  it('a registry failure exits 1 and names the request and the command to run again', async () => {
    const reg = await registry();
    reg.packumentStatus = 404;
    const env = shell(reg);
    const r = await runCli(['auth', 'copilot-install'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `rune: Installing ${PKG}@${COPILOT_LS_VERSION} with npm failed: 404 Not Found - GET ${reg.url}@github%2fcopilot-language-server`,
    );
    expect(r.stderr).toContain('then run rune auth copilot-install again.');
    expect(fs.readdirSync(path.join(env.XDG_DATA_HOME!, 'nvim', 'rune'))).toEqual([]);
  });
});
