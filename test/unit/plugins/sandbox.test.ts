import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectBwrap, runSandboxed, sandboxCommand } from '../../../src/plugins/sandbox.js';
import { orderPlugins } from '../../../src/plugins/order.js';
import type { PluginManager } from '../../../src/plugins/manager.js';
import { harness, tmpDir, writePlugin } from './helpers.js';

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
