import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  detectBwrap,
  runSandboxed,
  sandboxCommand,
  unixSocketFilter,
} from '../../../src/sandbox/sandbox.js';
import { orderPlugins } from '../../../src/plugins/order.js';
import { NO_GRANTS, PluginInstance, spawnPluginProcess } from '../../../src/plugins/worker.js';
import { createMemoryLogger } from '../../../src/core/log.js';
import type { PluginManager } from '../../../src/plugins/manager.js';
import { harness, tmpDir, toolPlugin, waitFor, writePlugin, type Harness } from './helpers.js';
import { ROOT } from '../../helpers/nvim.js';

// With RUNE_TEST_BWRAP=1 a missing or unusable bwrap fails these tests instead
// of letting them check the unsandboxed fallback.
const bwrap = detectBwrap(true);
if (process.env.RUNE_TEST_BWRAP === '1' && !bwrap.usable) {
  throw new Error(
    `RUNE_TEST_BWRAP=1 but bubblewrap is not usable here (${bwrap.reason ?? 'unknown'}); install it: apt-get install -y bubblewrap`,
  );
}

describe('sandboxCommand', () => {
  it('wraps a command in bwrap with a read-only root, the workspace writable and no network', () => {
    const w = sandboxCommand('node', ['x.js'], { workspace: '/work/p', bwrap: '/usr/bin/bwrap' });
    expect(w.sandboxed).toBe(true);
    expect(w.command).toBe('/usr/bin/bwrap');
    const a = w.args.join(' ');
    expect(a).toContain('--ro-bind / /');
    expect(a).toContain('--bind /work/p /work/p');
    expect(a).toContain('--unshare-net');
    expect(a).toContain('--die-with-parent');
    expect(w.args.slice(-3)).toEqual(['--', 'node', 'x.js']);
    const net = sandboxCommand('node', [], { workspace: '/w', network: true, bwrap: '/b' });
    expect(net.args).not.toContain('--unshare-net');
  });

  it('leaves the command as it is when bwrap is off', () => {
    expect(sandboxCommand('ls', ['-l'], { workspace: '/w', bwrap: null })).toEqual({
      command: 'ls',
      args: ['-l'],
      sandboxed: false,
    });
  });
});

describe('runSandboxed', () => {
  it('can write the workspace but not the rest of the filesystem, and has no network', async () => {
    const ws = tmpDir('rune-ws-');
    const script =
      'echo data > out.txt && cat out.txt; touch /usr/rune-sandbox-probe 2>/dev/null && echo ROOT-WRITABLE; ' +
      'grep -c : /proc/net/dev';
    const r = await runSandboxed('sh', ['-c', script], { workspace: ws });
    expect(fs.readFileSync(path.join(ws, 'out.txt'), 'utf8')).toBe('data\n');
    expect(r.sandboxed).toBe(bwrap.usable);
    if (bwrap.usable) {
      expect(r.stdout).not.toContain('ROOT-WRITABLE');
      // only the loopback interface exists in a private network namespace
      expect(r.stdout.trim().split('\n').at(-1)).toBe('1');
    } else {
      expect(r.stdout).toContain('data');
    }
  });

  it('hides the Unix sockets of other programs, even with the network open (as MCP hub servers run)', async () => {
    // $XDG_RUNTIME_DIR outside /tmp and home (in real use /run/user/<uid>); .rune-test/ is
    // the git-ignored scratch folder. The workspace is a parent of it, as a checkout can be.
    fs.mkdirSync(path.join(ROOT, '.rune-test'), { recursive: true });
    const runtime = fs.mkdtempSync(path.join(ROOT, '.rune-test', 'run-'));
    const sock = path.join(runtime, 'bus.sock');
    let accepted = 0;
    const server = net.createServer((s) => {
      accepted++;
      s.end();
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const before = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = runtime;
    try {
      const connect = `require('net').connect(${JSON.stringify(sock)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
      const r = await runSandboxed(process.execPath, ['-e', connect], {
        workspace: ROOT,
        network: true,
      });
      if (bwrap.usable) {
        expect(r.stdout.trim()).toBe('ENOENT');
        expect(accepted).toBe(0);
      } else expect(r.stdout.trim()).toBe('connected');
    } finally {
      if (before === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = before;
      server.close();
      fs.rmSync(runtime, { recursive: true, force: true });
    }
  });

  it('kills a command that runs over its time limit', async () => {
    await expect(
      runSandboxed('sleep', ['30'], { workspace: tmpDir(), timeoutMs: 200 }),
    ).rejects.toThrow(/sleep ran longer than 200 ms and was stopped/);
  });

  it('limits the address space of the command (prlimit)', async () => {
    // allocUnsafe reserves without touching pages, so the unlimited run costs no real memory
    const alloc = ['-e', 'Buffer.allocUnsafe(1536 * 1024 * 1024); console.log("ok")'];
    const free = await runSandboxed(process.execPath, alloc, { workspace: tmpDir(), bwrap: null });
    expect(free.stdout.trim()).toBe('ok');
    const capped = await runSandboxed(process.execPath, alloc, {
      workspace: tmpDir(),
      memoryMb: 1024,
      bwrap: null,
    });
    expect(capped.code).not.toBe(0);
    expect(capped.stdout).not.toContain('ok');
    expect(capped.stderr).toMatch(/memory|allocat|Range/i);
  });

  it('caps output and feeds stdin', async () => {
    const r = await runSandboxed('cat', [], {
      workspace: tmpDir(),
      input: 'x'.repeat(5000),
      maxOutputBytes: 1000,
    });
    expect(r.stdout).toHaveLength(1000);
    expect(r.truncated).toBe(true);
  });
});

describe('ctx.exec from a plugin', () => {
  const live: PluginManager[] = [];
  afterEach(async () => {
    await Promise.all(live.splice(0).map((m) => m.dispose()));
  });

  it('runs commands for plugins with the exec capability only', async () => {
    const dir = tmpDir();
    const ws = tmpDir('rune-ws-');
    const tool = (id: string, caps: string) =>
      `export default { id: '${id}', version: '1', capabilities: ${caps},
        initialize(ctx) { globalThis.ctx = ctx; },
        tools: [{ name: '${id}_run', description: 'd', handler: async () => {
          const r = await globalThis.ctx.exec('sh', ['-c', 'pwd; touch made-here']);
          return r.stdout.trim() + ' sandboxed=' + r.sandboxed;
        } }] };`;
    writePlugin(dir, 'runner.mjs', tool('runner', "['exec']"));
    writePlugin(dir, 'plain.mjs', tool('plain', '[]'));
    const h = harness([dir], { workspace: ws });
    live.push(h.manager);
    await h.manager.start();
    expect((await h.call('runner_run')).text).toBe(`${ws} sandboxed=${bwrap.usable}`);
    expect(fs.existsSync(path.join(ws, 'made-here'))).toBe(true);
    const denied = await h.call('plain_run');
    expect(denied.isError).toBe(true);
    expect(denied.text).toMatch(/may not run commands: add "exec" to its capabilities/);
  });
});

describe('plugin code in the sandbox', () => {
  const live: PluginManager[] = [];
  const cleanup: (() => void)[] = [];
  afterEach(async () => {
    await Promise.all(live.splice(0).map((m) => m.dispose()));
  });
  afterAll(() => cleanup.forEach((fn) => fn()));

  // One plugin file per set of capabilities; its tools report what the OS said.
  const probe = (id: string, caps: string[]) => `
import * as fs from 'node:fs';
import * as net from 'node:net';
const file = { type: 'object', properties: { file: { type: 'string' } } };
const outcome = async (fn) => { try { return 'ok:' + (await fn()); } catch (e) { return 'refused:' + (e.code ?? e.message); } };
export default { id: '${id}', version: '1', capabilities: ${JSON.stringify(caps)}, tools: [
  { name: '${id}_write', description: 'd', inputSchema: file, handler: ({ file }) => outcome(() => { fs.writeFileSync(file, 'x'); return 'wrote'; }) },
  { name: '${id}_read', description: 'd', inputSchema: file, handler: ({ file }) => outcome(() => fs.readFileSync(file, 'utf8')) },
  { name: '${id}_connect', description: 'd', inputSchema: { type: 'object', properties: { port: { type: 'number' } } }, handler: ({ port }) => outcome(() => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve('connected'); });
    s.on('error', reject);
  })) },
  { name: '${id}_abstract', description: 'd', inputSchema: { type: 'object', properties: { name: { type: 'string' } } }, handler: ({ name }) => outcome(() => new Promise((resolve, reject) => {
    const s = net.connect({ path: '\\0' + name }, () => { s.end(); resolve('connected'); });
    s.on('error', reject);
  })) },
] };`;

  async function setup(bwrapOn = true) {
    const dir = tmpDir();
    const ws = tmpDir('rune-ws-');
    writePlugin(dir, 'jailed.mjs', probe('jailed', []));
    writePlugin(dir, 'trusted.mjs', probe('trusted', ['fs-write', 'network']));
    const h = harness([dir], { workspace: ws, bwrap: bwrapOn });
    live.push(h.manager);
    await h.manager.start();
    return { h, ws };
  }

  /** A directory under $HOME (which the sandbox hides), removed after the tests. */
  function homeDir(): string {
    const d = fs.mkdtempSync(path.join(os.homedir(), '.rune-sandbox-test-'));
    cleanup.push(() => fs.rmSync(d, { recursive: true, force: true }));
    return d;
  }

  it('runs each plugin in a sandboxed process when bubblewrap works, in a thread otherwise', async () => {
    const { h } = await setup();
    expect(h.manager.isolation().kind).toBe(bwrap.usable ? 'process' : 'thread');
    const off = await setup(false);
    expect(off.h.manager.isolation()).toEqual({
      kind: 'thread',
      reason: 'plugins.sandbox.bwrap is off',
    });
  });

  it('lets plugin code write the workspace only with "fs-write", and nothing outside it', async () => {
    const { h, ws } = await setup();
    const outside = tmpDir('rune-outside-');
    const inHome = homeDir();
    const r = async (tool: string, file: string) => (await h.call(tool, { file })).text;
    if (bwrap.usable) {
      expect(await r('jailed_write', path.join(ws, 'a.txt'))).toBe('refused:EROFS');
      expect(fs.existsSync(path.join(ws, 'a.txt'))).toBe(false);
      for (const tool of ['jailed_write', 'trusted_write']) {
        expect(await r(tool, path.join(outside, 'b.txt'))).toMatch(/^refused:/);
        expect(await r(tool, path.join(inHome, 'b.txt'))).toMatch(/^refused:/);
        expect(await r(tool, '/usr/rune-sandbox-probe')).toMatch(/^refused:/);
      }
      expect(fs.existsSync(path.join(outside, 'b.txt'))).toBe(false);
      expect(fs.existsSync(path.join(inHome, 'b.txt'))).toBe(false);
    } else {
      expect(await r('jailed_write', path.join(outside, 'b.txt'))).toBe('ok:wrote');
    }
    expect(await r('trusted_write', path.join(ws, 'a.txt'))).toBe('ok:wrote');
    expect(fs.readFileSync(path.join(ws, 'a.txt'), 'utf8')).toBe('x');
  });

  it('hides the home directory and the rest of the system from plugin code; the thread fallback cannot', async () => {
    const secret = path.join(homeDir(), 'token');
    fs.writeFileSync(secret, 'hunter2');
    const { h, ws } = await setup();
    fs.writeFileSync(path.join(ws, 'notes.txt'), 'readable');
    const read = async (m: Harness, tool: string, file: string) =>
      (await m.call(tool, { file })).text;
    expect(await read(h, 'jailed_read', path.join(ws, 'notes.txt'))).toBe('ok:readable');
    // Node's permission model: plugin code reads its own folder and the project, nothing else.
    expect(await read(h, 'jailed_read', '/etc/hostname')).toMatch(
      bwrap.usable ? /^refused:ERR_ACCESS_DENIED$/ : /^ok:/,
    );
    for (const tool of ['jailed_read', 'trusted_read']) {
      expect(await read(h, tool, secret)).toBe(
        bwrap.usable ? 'refused:ERR_ACCESS_DENIED' : 'ok:hunter2',
      );
    }
    const threads = await setup(false);
    expect(await read(threads.h, 'jailed_read', secret)).toBe('ok:hunter2');
  });

  it('reports a plugin process that could not start, even when it died as an idle spare', async () => {
    const runner = spawnPluginProcess({
      memoryMb: 64,
      workspace: tmpDir('rune-ws-'),
      grants: NO_GRANTS,
      readable: [],
      bwrap: path.join(tmpDir(), 'no-such-bwrap'),
    });
    await new Promise<void>((r) => runner.onExit(r));
    const crashed: string[] = [];
    const instance = new PluginInstance({
      file: writePlugin(tmpDir(), 'p.mjs', `export default { id: 'p', version: '1' };`),
      worker: runner,
      logger: createMemoryLogger(),
      memoryMb: 64,
      initTimeoutMs: 10000,
      hooks: {
        register: () => ({ dispose() {} }),
        exec: () => Promise.reject(new Error('no')),
        crashed: (e) => crashed.push(e.message),
      },
    });
    await expect(instance.loaded).rejects.toThrow(
      /p\.mjs: could not start: spawn .*no-such-bwrap ENOENT/,
    );
    expect(crashed).toEqual([expect.stringMatching(/could not start/)]);
  });

  it('shows a plugin only the environment variables its manifest names, and lets it start processes only with "exec"', async () => {
    const dir = tmpDir();
    const body = (id: string, extra: string) => `
import * as child from 'node:child_process';
export default { id: '${id}', version: '1', ${extra} initialize(ctx) { globalThis.ctx = ctx; }, tools: [
  { name: '${id}_execenv', description: 'd', handler: async () => (await globalThis.ctx.exec('sh', ['-c', 'env'])).stdout },
  { name: '${id}_env', description: 'd', handler: () => JSON.stringify(Object.keys(process.env).sort()) },
  { name: '${id}_spawn', description: 'd', handler: () => { try { return child.execFileSync('/bin/sh', ['-c', 'echo ran']).toString().trim(); } catch (e) { return 'refused:' + e.code; } } },
] };`;
    writePlugin(dir, 'plain.mjs', body('plain', ''));
    writePlugin(
      dir,
      'named.mjs',
      body('named', `env: ['RUNE_TEST_NAMED'], capabilities: ['exec'],`),
    );
    process.env.RUNE_TEST_NAMED = 'visible';
    process.env.RUNE_TEST_SECRET = 'sk-not-for-plugins';
    cleanup.push(() => {
      delete process.env.RUNE_TEST_NAMED;
      delete process.env.RUNE_TEST_SECRET;
    });
    const h = harness([dir]);
    live.push(h.manager);
    await h.manager.start();
    const plain = JSON.parse((await h.call('plain_env')).text) as string[];
    const named = JSON.parse((await h.call('named_env')).text) as string[];
    if (bwrap.usable) {
      expect(plain).not.toContain('RUNE_TEST_SECRET');
      expect(plain).not.toContain('RUNE_TEST_NAMED');
      // Node adds its own IPC variables (NODE_CHANNEL_FD…) to the child it talks to.
      const base = ['HOME', 'TMPDIR', 'PATH', 'LANG', 'TZ', 'PWD'];
      const others = plain.filter(
        (k) => !base.includes(k) && !k.startsWith('LC_') && !k.startsWith('NODE_CHANNEL_'),
      );
      expect(others).toEqual([]);
      expect(named).toContain('RUNE_TEST_NAMED');
      expect(named).not.toContain('RUNE_TEST_SECRET');
      expect((await h.call('plain_spawn')).text).toBe('refused:ERR_ACCESS_DENIED');
    } else {
      expect(plain).toContain('RUNE_TEST_SECRET');
    }
    expect((await h.call('named_spawn')).text).toBe('ran');
    // Commands run through ctx.exec get the same environment, not Rune's.
    const execEnv = (await h.call('named_execenv')).text;
    expect(execEnv).toContain('RUNE_TEST_NAMED=visible');
    expect(execEnv).not.toContain('RUNE_TEST_SECRET');
  });

  it('loads plugins from a folder that is a link to elsewhere (a dotfiles checkout)', async () => {
    const real = tmpDir('rune-dotfiles-');
    writePlugin(real, 'linked.mjs', toolPlugin('linked', 'linked_hi', 'hi '));
    const link = path.join(tmpDir('rune-cfg-'), 'plugins');
    fs.symlinkSync(real, link);
    const h = harness([link]);
    live.push(h.manager);
    await h.manager.start();
    expect(h.manager.list().map((p) => [p.id, p.state, p.error])).toEqual([
      ['linked', 'active', undefined],
    ]);
    expect((await h.call('linked_hi', { text: 'there' })).text).toBe('hi there');
  });

  it('does not run plugins at all without a sandbox unless allowed, and says why', async () => {
    const dir = tmpDir();
    const marker = path.join(tmpDir('rune-ran-'), 'ran');
    writePlugin(
      dir,
      'eager.mjs',
      `import * as fs from 'node:fs'; fs.writeFileSync(${JSON.stringify(marker)}, 'top level ran'); export default { id: 'eager', version: '1' };`,
    );
    const h = harness([dir], { bwrap: false, allowUnsandboxed: false });
    live.push(h.manager);
    await h.manager.start();
    expect(h.manager.isolation()).toEqual({ kind: 'none', reason: 'plugins.sandbox.bwrap is off' });
    const [p] = h.manager.list();
    expect(p?.state).toBe('failed');
    expect(p?.error).toContain(
      'not run: there is no sandbox (plugins.sandbox.bwrap is off), and without one a plugin runs with your rights',
    );
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('keeps plugin code from abstract Unix sockets even with "network"', async () => {
    let accepted = 0;
    const name = `rune-test-${process.pid}-${Date.now()}`;
    const server = net.createServer((s) => {
      accepted++;
      s.end();
    });
    await new Promise<void>((r) => server.listen(`\0${name}`, r));
    cleanup.push(() => server.close());
    const { h } = await setup();
    const jailed = (await h.call('jailed_abstract', { name })).text;
    const trusted = (await h.call('trusted_abstract', { name })).text;
    if (bwrap.usable) {
      // The seccomp filter refuses Unix sockets to both; without it, only the network
      // namespace would keep the plugin without "network" out.
      expect(jailed).toBe(unixSocketFilter() ? 'refused:EACCES' : 'refused:ECONNREFUSED');
      expect(trusted).toBe(unixSocketFilter() ? 'refused:EACCES' : 'ok:connected');
      expect(accepted).toBe(unixSocketFilter() ? 0 : 1);
    } else expect(trusted).toBe('ok:connected');
  });

  it('gives plugin code no network without "network"', async () => {
    let accepted = 0;
    const server = net.createServer((s) => {
      accepted++;
      s.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const { h } = await setup();
    const jailed = (await h.call('jailed_connect', { port })).text;
    if (bwrap.usable) {
      expect(jailed).toBe('refused:ECONNREFUSED');
      expect(accepted).toBe(0);
    } else expect(jailed).toBe('ok:connected');
    expect((await h.call('trusted_connect', { port })).text).toBe('ok:connected');
    await waitFor(() => accepted === (bwrap.usable ? 1 : 2), 'the server to see the connections');
  });
});

describe('orderPlugins', () => {
  const n = (id: string, ...dependsOn: string[]) => ({ id, dependsOn });

  it('puts dependencies first and keeps the given order otherwise', () => {
    const r = orderPlugins([n('c', 'b'), n('x'), n('b', 'a'), n('a')]);
    expect(r.order.map((x) => x.id)).toEqual(['x', 'a', 'b', 'c']);
    expect(r.failed).toEqual([]);
  });

  it('accepts dependencies that are already running', () => {
    const r = orderPlugins([n('b', 'a')], new Set(['a']));
    expect(r.order.map((x) => x.id)).toEqual(['b']);
  });

  it('reports self-dependency, cycles and their dependents', () => {
    const r = orderPlugins([
      n('s', 's'),
      n('a', 'b'),
      n('b', 'c'),
      n('c', 'a'),
      n('d', 'a'),
      n('e'),
    ]);
    expect(r.order.map((x) => x.id)).toEqual(['e']);
    const why = Object.fromEntries(r.failed.map((f) => [f.node.id, f.reason]));
    expect(why.s).toBe('depends on itself');
    expect(why.a).toBe('dependency cycle: a → b → c → a');
    expect(why.d).toBe('depends on "a", which failed');
  });
});
