/**
 * The plugin sandbox attacked the way a user would meet it: a hostile plugin
 * in the user's plugin folder, loaded by the host that Lua spawned from dist/
 * in a real Neovim, tries to read secrets from its environment, reach other
 * programs' Unix sockets (Neovim's own RPC socket, one in $XDG_RUNTIME_DIR,
 * one in /tmp, an abstract one, the D-Bus session bus), start processes and
 * reach the network.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { detectBwrap } from '../../src/sandbox/sandbox.js';
import { NO_GRANTS, spawnPluginProcess } from '../../src/plugins/worker.js';

const INTRUDER = path.join(ROOT, 'test', 'fixtures', 'plugins', 'intruder.mjs');
const GREETER = path.join(ROOT, 'test', 'fixtures', 'plugins', 'greeter.mjs');

const bwrap = detectBwrap(true);
if (process.env.RUNE_TEST_BWRAP === '1' && !bwrap.usable) {
  throw new Error(
    `RUNE_TEST_BWRAP=1 but bubblewrap is not usable here (${bwrap.reason ?? 'unknown'}); install it: apt-get install -y bubblewrap`,
  );
}

const cleanup: (() => void)[] = [];
afterAll(() => cleanup.splice(0).forEach((fn) => fn()));

/** A listening socket that counts the connections it accepts. */
async function listener(at: string | number): Promise<{ accepted: () => number; port: number }> {
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof at === 'number') server.listen(at, '127.0.0.1', resolve);
    else server.listen(at, resolve);
  });
  cleanup.push(() => server.close());
  const addr = server.address();
  return { accepted: () => accepted, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

function userPlugin(t: TestNvim, file: string): void {
  const dir = path.join(t.home, 'config', 'rune', 'plugins');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(file, path.join(dir, path.basename(file)));
}

async function health(t: TestNvim): Promise<string> {
  await t.nvim.command('checkhealth rune');
  return (await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).join('\n');
}

/** Live (not zombie) processes whose command line names one of `homes`: bwrap and the plugin. */
function survivors(homes: string[]): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      const state = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (state !== 'Z' && homes.some((h) => cmd.includes(h)))
        out.push(`${entry} ${cmd.slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('the plugin sandbox under attack', () => {
  it('keeps a plugin without capabilities from secrets in its environment, other sockets, processes and the network', async () => {
    // $XDG_RUNTIME_DIR outside /tmp and the home folder, so only its own hiding protects it
    // (in real use it is /run/user/<uid>). .rune-test/ is the git-ignored scratch folder.
    fs.mkdirSync(path.join(ROOT, '.rune-test'), { recursive: true });
    const runtime = fs.mkdtempSync(path.join(ROOT, '.rune-test', 'run-'));
    fs.chmodSync(runtime, 0o700);
    cleanup.push(() => fs.rmSync(runtime, { recursive: true, force: true }));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-sock-'));
    cleanup.push(() => fs.rmSync(tmp, { recursive: true, force: true }));

    const inRuntime = path.join(runtime, 'agent.sock');
    const inTmp = path.join(tmp, 'agent.sock');
    const abstract = `rune-test-${randomBytes(6).toString('hex')}`;
    const targets = [
      await listener(inRuntime),
      await listener(inTmp),
      await listener(`\0${abstract}`),
    ];
    const tcp = await listener(0);
    const port = tcp.port;

    const t = await startNvim({
      env: { XDG_RUNTIME_DIR: runtime, ANTHROPIC_API_KEY: 'sk-ant-attack-0123456789' },
    });
    userPlugin(t, INTRUDER);
    await t.lua(`require('rune').setup({ mcp = { enabled = false } })`);
    const servername = await t.lua<string>(
      "return vim.v.servername ~= '' and vim.v.servername or vim.fn.serverstart()",
    );
    expect(servername.startsWith(runtime + path.sep)).toBe(true);
    // The sockets are real: the test itself reaches Neovim's.
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(servername, () => (s.end(), resolve()));
      s.on('error', reject);
    });
    const sockets = [servername, inRuntime, inTmp];
    const bus = /unix:path=([^,;]+)/.exec(process.env.DBUS_SESSION_BUS_ADDRESS ?? '')?.[1];
    if (bus && fs.existsSync(bus)) sockets.push(bus);

    const listing = (await t.nvim.commandOutput('RunePlugins')) as string;
    if (!bwrap.usable) {
      // No sandbox and no opt-in: the intruder's code is never run.
      expect(listing).toMatch(/✗ intruder\.mjs \? {2}failed/);
      expect(listing).toMatch(/not run: there is no sandbox/);
      return;
    }
    expect(listing).toMatch(/● intruder 1\.0\.0 {2}active/);
    const out = (await t.nvim.commandOutput(
      `RunePlugins intruder probe ${sockets.join(' ')} -- ${abstract} ${port}`,
    )) as string;
    const got = Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => {
          const i = l.lastIndexOf('=');
          return [l.slice(0, i), l.slice(i + 1)];
        }),
    );
    expect(got.env).toBe('ok:nothing');
    // EACCES from the seccomp filter (x86_64, arm64); ENOENT where only the hiding holds.
    for (const s of sockets) expect(got[`unix ${s}`]).toMatch(/^refused:(EACCES|ENOENT)$/);
    expect(got.abstract).toMatch(/^refused:(EACCES|ECONNREFUSED)$/);
    expect(got.tcp).toBe('refused:ECONNREFUSED');
    expect(got.spawn).toBe('refused:ERR_ACCESS_DENIED');
    expect(got['exec-file']).toBe('refused:ERR_ACCESS_DENIED');
    for (const l of targets) expect(l.accepted()).toBe(0);
    expect(tcp.accepted()).toBe(0);
    await t.close();
  });

  /**
   * A bwrap that cannot create namespaces, as in many containers, first on PATH: the host
   * Lua spawns finds no usable sandbox.
   */
  function brokenBwrapPath(): string {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-nobwrap-'));
    cleanup.push(() => fs.rmSync(bin, { recursive: true, force: true }));
    fs.writeFileSync(
      path.join(bin, 'bwrap'),
      '#!/bin/sh\necho "bwrap: No permissions to create a new namespace" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    return `${bin}:${process.env.PATH ?? ''}`;
  }

  it('does not run plugins without a sandbox, and says why in :RunePlugins and :checkhealth', async () => {
    const t = await startNvim({ env: { PATH: brokenBwrapPath() } });
    userPlugin(t, GREETER);
    // Notifications are collected, not shown: the failure one arriving during a command
    // would turn that command into an error.
    await t.lua(
      `_G.notes = {}; vim.notify = function(m) table.insert(_G.notes, m) end
       require('rune').setup({ mcp = { enabled = false } })`,
    );
    const listing = (await t.nvim.commandOutput('RunePlugins')) as string;
    expect(listing).toContain(
      '! No sandbox (bwrap: No permissions to create a new namespace): plugins are not run, because they would run with your rights.',
    );
    expect(listing).toMatch(/✗ greeter\.mjs \? {2}failed/);
    expect(listing).toContain(
      'not run: there is no sandbox (bwrap: No permissions to create a new namespace), and without one a plugin runs with your rights',
    );
    expect(listing).toContain('plugins.sandbox.allow_unsandboxed = true');
    await waitFor(
      async () =>
        (await t.lua<string[]>('return _G.notes')).some((n) =>
          n.includes('greeter.mjs: not run: there is no sandbox'),
        ),
      10000,
      'the notification',
    );
    const h = await health(t);
    expect(h).toContain(
      'no bubblewrap sandbox: bwrap: No permissions to create a new namespace; plugins are not run, because without the sandbox a plugin runs with your rights',
    );
    await t.close();
  });

  it('runs plugins without a sandbox only when the user opts in, and says they run with your rights', async () => {
    const u = await startNvim({ env: { PATH: brokenBwrapPath() } });
    userPlugin(u, GREETER);
    await u.lua(
      `require('rune').setup({ mcp = { enabled = false }, plugins = { sandbox = { allow_unsandboxed = true } } })`,
    );
    const allowed = (await u.nvim.commandOutput('RunePlugins')) as string;
    expect(allowed).toContain(
      '! No sandbox (bwrap: No permissions to create a new namespace): plugins run with your rights (your files, network and processes), as you allowed with plugins.sandbox.allow_unsandboxed.',
    );
    expect(allowed).toMatch(/● greeter 1\.0\.0 {2}active/);
    await waitFor(
      async () =>
        /with your rights: no filesystem, network or process isolation/.test(await health(u)),
      10000,
      'the health report',
    );
    await u.close();
  });

  it('leaves no sandbox process behind when Neovim quits right after the host started', async () => {
    const homes: string[] = [];
    for (let i = 0; i < 30; i++) {
      const t = await startNvim();
      homes.push(t.home);
      userPlugin(t, GREETER);
      // Neovim quits right after starting the host, the moment the host says it is
      // ready (its plugins starting), or once a sandbox process exists.
      const when = i % 3;
      await t.lua(
        `require('rune').setup({ mcp = { enabled = false } })
         if ... == 1 then
           vim.api.nvim_create_autocmd('User', { pattern = 'RuneHostReady', once = true, command = 'qa!' })
         end
         require('rune.host').start()`,
        [when],
      );
      if (when === 2 && bwrap.usable) {
        await waitFor(() => survivors([t.home]).length > 0, 20000, 'a plugin sandbox process');
      }
      if (when === 1) {
        await waitFor(
          () => t.proc.exitCode !== null || t.proc.signalCode !== null,
          20000,
          'Neovim to quit once the host is ready',
        );
      }
      await t.close();
    }
    let left: string[] = [];
    await waitFor(
      () => {
        left = survivors(homes);
        return left.length === 0;
      },
      10000,
      'every plugin sandbox process to end',
    ).catch(() => undefined);
    for (const l of left) {
      try {
        process.kill(Number(l.split(' ')[0]), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    expect(left).toEqual([]);
  }, 180000);

  it('stopping a plugin process in its first moments takes its whole sandbox with it', async () => {
    expect(bwrap.usable).toBe(true);
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-stop-')));
    cleanup.push(() => fs.rmSync(ws, { recursive: true, force: true }));
    const runners = [];
    // Stopped at once, and at every moment of bwrap's setup after it.
    for (let i = 0; i < 40; i++) {
      const r = spawnPluginProcess({
        memoryMb: 64,
        workspace: ws,
        grants: NO_GRANTS,
        readable: [ws],
      });
      runners.push(r);
      if (i % 2 === 1) await new Promise((resolve) => setImmediate(resolve));
      r.terminate();
    }
    // (Before the fix, a runner whose sandbox child outlived bwrap never even reported its end.)
    let ended = 0;
    for (const r of runners) r.onExit(() => ended++);
    await waitFor(() => ended === runners.length, 10000, 'every runner to end').catch(
      () => undefined,
    );
    let left: string[] = [];
    await waitFor(
      () => {
        left = survivors([ws]);
        return left.length === 0;
      },
      5000,
      'every sandbox process to end',
    ).catch(() => undefined);
    for (const l of left) {
      try {
        process.kill(Number(l.split(' ')[0]), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    expect(left).toEqual([]);
  });
});
