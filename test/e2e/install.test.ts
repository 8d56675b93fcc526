/**
 * The README's install lines, tried the way each plugin manager lays the plugin
 * out: a built copy of the plugin (lua/, plugin/, doc/, bin/, dist/) in the
 * manager's folder, a user init.lua, no Rune checkout on the runtimepath. The
 * host must start from THAT copy's dist/. Then the `rune` command a
 * plugin-manager user gets: the snippets :RuneMcp prints, run as given with a
 * PATH that holds no `rune` (nor `node`), and :RuneInstallCli's links.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startNvim, waitFor, xdgEnv, type TestNvim } from '../helpers/nvim.js';
import { explained, installCopy, promptWaiting, shellEnv } from '../helpers/e2e.js';

const execFileP = promisify(execFile);
const homes: string[] = [];

afterAll(() => {
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
});

/** A fresh user home (HOME and the XDG folders) with `init` as its init.lua. */
function userHome(init: string): { home: string; env: Record<string, string>; data: string } {
  const home = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-install-')));
  homes.push(home);
  const env = { HOME: home, ...xdgEnv(home) };
  const config = path.join(home, 'config', 'nvim');
  fs.mkdirSync(config, { recursive: true });
  fs.writeFileSync(path.join(config, 'init.lua'), init);
  return { home, env, data: path.join(home, 'data', 'nvim') };
}

/** Runs :RuneStatus and returns the host's pid once it answers. */
async function runeStatus(t: TestNvim): Promise<{ pid: number; text: string }> {
  const text = await explained(t, async () => String(await t.nvim.commandOutput('RuneStatus')));
  expect(text).toMatch(/host ready/);
  const pid = Number(/pid\s+(\d+)/.exec(text)?.[1]);
  expect(pid).toBeGreaterThan(0);
  return { pid, text };
}

/** The script the host process runs (its argv[1]). */
function hostScript(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1] ?? '';
}

describe('install layouts', () => {
  it('runs from a native package (pack/rune/start/rune.nvim) with setup() in init.lua', async () => {
    const { home, env, data } = userHome(`require('rune').setup({})\n`);
    const dir = installCopy(path.join(data, 'site', 'pack', 'rune', 'start', 'rune.nvim'));
    const t = await startNvim({ home, env, asUser: true });
    const { pid } = await runeStatus(t);
    expect(hostScript(pid)).toBe(path.join(dir, 'dist', 'host', 'main.js'));
    await t.close();
  });

  it('runs from a lazy.nvim layout (stdpath("data")/lazy/rune.nvim, opts = {})', async () => {
    // What lazy.nvim does for a spec with opts (lua/lazy/core/loader.lua: packadd adds the
    // folder to the runtimepath and sources its plugin/ files; config calls setup(opts)).
    const { home, env, data } = userHome(
      [
        `vim.go.loadplugins = false`,
        `local dir = vim.fn.stdpath('data') .. '/lazy/rune.nvim'`,
        `vim.opt.rtp:prepend(dir)`,
        `for _, f in ipairs(vim.fn.glob(dir .. '/plugin/**/*.lua', false, true)) do`,
        `  vim.cmd.source(f)`,
        `end`,
        `require('rune').setup({})`,
      ].join('\n'),
    );
    const dir = installCopy(path.join(data, 'lazy', 'rune.nvim'));
    const t = await startNvim({ home, env, asUser: true });
    const { pid } = await runeStatus(t);
    expect(hostScript(pid)).toBe(path.join(dir, 'dist', 'host', 'main.js'));
    await t.close();
  });
});

describe('a rune command that is found', () => {
  it('the :RuneMcp snippets reach the host from a shell and an agent with no rune on PATH', async () => {
    const { home, env, data } = userHome(`require('rune').setup({})\n`);
    installCopy(path.join(data, 'site', 'pack', 'rune', 'start', 'rune.nvim'));
    const ws = path.join(home, 'project');
    fs.mkdirSync(ws);
    const t = await startNvim({ home, env, asUser: true });
    await t.nvim.command(`cd ${ws}`);
    await runeStatus(t);
    await t.nvim.command('RuneMcp');
    const lines = (await waitFor(
      async () => {
        const l = await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
        return l.some((x) => x.includes('Setup (yank what you need)')) ? l : undefined;
      },
      20000,
      'the :RuneMcp view',
    ))!;
    const after = (title: string) => lines[lines.findIndex((l) => l.includes(title)) + 1]!.trim();

    // The shell line, run by a shell whose PATH has neither `rune` nor `node`.
    const line = after('rune from a shell');
    const bare = shellEnv(t, { PATH: '/nonexistent' });
    const { stdout } = await execFileP('/bin/sh', ['-c', line], { env: bare, cwd: ws });
    expect(stdout).toContain('list_buffers');

    // The mcpServers entry, started the way an agent starts a stdio server.
    const start = lines.findIndex((l) => l.includes('mcpServers entry'));
    const end = lines.findIndex((l, i) => i > start && l === '    }');
    const json = JSON.parse(lines.slice(start + 1, end + 1).join('\n')) as {
      mcpServers: { rune: { command: string; args: string[] } };
    };
    const client = new Client({ name: 'agent', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({ ...json.mcpServers.rune, env: bare, cwd: ws, stderr: 'pipe' }),
    );
    const tools = await client.listTools();
    expect(tools.tools.map((x) => x.name)).toContain('list_buffers');
    await client.close();
    await t.close();
  });

  it(':RuneInstallCli asks, then links a working rune into ~/.local/bin', async () => {
    const { home, env, data } = userHome(`require('rune').setup({})\n`);
    const dir = installCopy(path.join(data, 'site', 'pack', 'rune', 'start', 'rune.nvim'));
    const ws = path.join(home, 'project');
    fs.mkdirSync(ws);
    const t = await startNvim({ home, env: { ...env, PATH: '/usr/bin:/bin' }, asUser: true });
    await t.nvim.command(`cd ${ws}`);
    await runeStatus(t);
    await t.nvim.input(':RuneInstallCli<CR>');
    await promptWaiting(t, 'the link question');
    await t.nvim.input('1<CR>');
    const link = path.join(home, '.local', 'bin', 'rune');
    await explained(t, () => waitFor(() => fs.existsSync(link), 20000, 'the rune link'));
    expect(fs.readlinkSync(link)).toBe(path.join(dir, 'bin', 'rune'));
    const messages = await waitFor(
      async () => {
        const m = String(await t.nvim.commandOutput('messages'));
        return m.includes('is not on your PATH') ? m : undefined;
      },
      20000,
      'the PATH advice',
    );
    expect(messages).toContain(`${link} -> ${path.join(dir, 'bin', 'rune')}  linked`);

    // The link works from a plain shell: it finds the plugin and this Neovim.
    const { stdout } = await execFileP(link, ['tool', 'list'], {
      env: shellEnv(t, { PATH: '/usr/bin:/bin' }),
      cwd: ws,
    });
    expect(stdout).toContain('list_buffers');

    // :checkhealth rune now finds it.
    await t.nvim.command('checkhealth rune');
    const health = (
      await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
    ).join('\n');
    expect(health).toContain(`\`rune\` is linked in ${path.join(home, '.local', 'bin')}`);
    // An info item keeps its advice (vim.health.info takes none of its own).
    expect(health).toContain('export PATH="$HOME/.local/bin:$PATH"');
    await t.close();
  });
});
