import { describe, expect, it } from 'vitest';
import { startNvim, waitFor } from '../helpers/nvim.js';
import { createMemoryLogger } from '../../src/core/log.js';
import { StartingHost, type ReadyHost } from '../../src/nvim/host.js';
import { startInProcessHost } from '../helpers/host.js';
import { toAsyncDisposable, toDisposable } from '../../src/core/disposable.js';
import { defineModule, provide } from '../../src/nvim/module.js';

describe('host core attached in-process', () => {
  it('answers Lua requests, runs modules, and reports their health', async () => {
    const t = await startNvim();
    let disposed = false;
    const mod = defineModule({
      name: 'echo',
      activate({ host }) {
        const a = host.onRequest('test.echo', (args) => args);
        const b = host.addHealth('echo', () => [{ level: 'ok', message: 'echo works' }]);
        const c = host.onNotification('test.note', (args) => {
          notes.push(args);
        });
        return toDisposable(() => {
          a.dispose();
          b.dispose();
          c.dispose();
          disposed = true;
        });
      },
    });
    const notes: unknown[] = [];
    const broken = defineModule({
      name: 'broken',
      activate() {
        throw new Error('cannot activate');
      },
    });
    const host = await startInProcessHost(t, [broken, mod]);
    expect(host.status().modules).toEqual(['echo']);
    expect(host.logLines.some((l) => l.includes('module failed to activate'))).toBe(true);

    const status = await t.lua<{ pid: number; state: string }>(
      'return require("rune.host").request("rune.status")',
    );
    expect(status).toMatchObject({ pid: process.pid, state: 'ready' });
    expect(await t.lua('return require("rune.host").request("test.echo", 1, "two")')).toEqual([
      1,
      'two',
    ]);

    await t.lua('require("rune.host").notify("test.note", { x = 1 })');
    await expect.poll(() => notes).toEqual([[{ x: 1 }]]);

    const unknown = await t.lua('return require("rune.host").request("test.nope")').then(
      () => '',
      (e: Error) => e.message,
    );
    expect(unknown).toContain('Unknown Rune request "test.nope"');

    await t.nvim.command('checkhealth rune');
    const text = (await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).join(
      '\n',
    );
    expect(text).toMatch(/rune: echo/);
    expect(text).toMatch(/OK.*echo works/);

    await host.shutdown('test').done;
    expect(disposed).toBe(true);
    expect(host.status().state).toBe('stopped');
  });

  it('activates modules after their needs, hands them services and facts, and disposes them in reverse', async () => {
    const t = await startNvim({ preCmds: ['cd /tmp'] });
    const events: string[] = [];
    const store = defineModule({
      name: 'store',
      config: (all) => ({ greeting: String((all.store as { greeting?: string })?.greeting) }),
      activate(ctx) {
        events.push(`up store ${ctx.facts.cwd}`);
        return provide(
          toAsyncDisposable(async () => {
            await new Promise((r) => setImmediate(r));
            events.push('down store');
          }),
          { greet: (n: string) => `${ctx.config.greeting} ${n}` },
        );
      },
    });
    const user = defineModule({
      name: 'user',
      needs: [store],
      activate(ctx) {
        events.push(`up user: ${ctx.needs.store.greet('you')}`);
        return toDisposable(() => events.push('down user'));
      },
    });
    const broken = defineModule({
      name: 'broken',
      activate() {
        throw new Error('cannot activate');
      },
    });
    const dependent = defineModule({
      name: 'dependent',
      needs: [broken],
      activate: () => toDisposable(() => events.push('down dependent')),
    });
    await t.lua(
      'require("rune").setup({}); require("rune").config().store = { greeting = "hello" }',
    );
    // Listed needs-last: they start after what they need.
    const host = await startInProcessHost(t, [dependent, user, store, broken]);
    expect(host.status().modules).toEqual(['store', 'user']);
    expect(host.service(user)).toBeUndefined();
    expect(host.service(store)?.greet('me')).toBe('hello me');
    expect(host.logLines.join('\n')).toMatch(/dependent.*it needs broken, which is off/s);
    expect(events).toEqual(['up store /tmp', 'up user: hello you']);
    // The modules asked Neovim nothing: the handshake's one call gave them everything.

    await t.lua('vim.cmd.cd(vim.fn.fnameescape(vim.env.HOME))');
    const home = await t.lua<string>('return vim.fn.getcwd()');
    await expect.poll(() => host.facts.cwd).toBe(home);

    await host.shutdown('test').done;
    expect(events.slice(2)).toEqual(['down user', 'down store']);
    await t.close();
  });

  it('is ready before its modules load; what Lua asks of them meanwhile waits for them', async () => {
    const t = await startNvim();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const notes: unknown[] = [];
    const slow = defineModule({
      name: 'slow',
      async activate({ host }) {
        await gate;
        const a = host.onRequest('slow.echo', ([x]) => x);
        const b = host.onNotification('slow.note', ([x]) => {
          notes.push(x);
        });
        return toDisposable(() => {
          a.dispose();
          b.dispose();
        });
      },
    });
    let loaded = false;
    let ready: ReadyHost | undefined;
    const starting = new StartingHost({
      nvim: t.nvim,
      logger: createMemoryLogger(),
      logFile: null,
    });
    const started = starting.ready(
      async () => {
        loaded = true;
        return [slow];
      },
      { onReady: (h) => (ready = h) },
    );
    const host = (await waitFor(() => ready, 10000, 'the host to be ready')) as ReadyHost;
    // Neovim knows the host is ready; the modules are loading or starting.
    expect(await t.lua('return require("rune.host").info().state')).toBe('ready');
    await waitFor(() => loaded, 10000, 'the modules to load');
    const answer = host.dispatch('slow.echo', ['hi']);
    host.dispatchNotification('slow.note', ['first']);
    host.dispatchNotification('slow.note', ['second']);
    const status = host.dispatch('rune.status', []) as Promise<{ modules: string[] }>;
    expect(host.status().modules).toEqual([]);
    release();
    expect(await answer).toBe('hi');
    expect((await status).modules).toEqual(['slow']);
    await expect.poll(() => notes).toEqual(['first', 'second']);
    expect(await started).toBe(host);
    // Once they have started, a method nobody registered is unknown.
    await expect(host.dispatch('slow.nope', [])).rejects.toThrow(
      /Unknown Rune request "slow.nope"/,
    );
    await host.shutdown('test finished').done;
    await t.close();
  });

  it('answers what a started module registered while a later one is still starting', async () => {
    const t = await startNvim();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const notes: unknown[] = [];
    const quick = defineModule({
      name: 'quick',
      activate({ host }) {
        const a = host.onRequest('quick.echo', ([x]) => x);
        const b = host.onNotification('quick.note', ([x]) => {
          notes.push(x);
        });
        return toDisposable(() => {
          a.dispose();
          b.dispose();
        });
      },
    });
    const slow = defineModule({
      name: 'slow',
      needs: [quick],
      async activate({ host }) {
        await gate;
        return host.onRequest('slow.echo', ([x]) => x);
      },
    });
    let ready: ReadyHost | undefined;
    let loaded!: () => void;
    const loading = new Promise<void>((resolve) => (loaded = resolve));
    const started = new StartingHost({
      nvim: t.nvim,
      logger: createMemoryLogger(),
      logFile: null,
    }).ready(
      async () => {
        // What Neovim sends while the modules load waits for them.
        await loading;
        return [quick, slow];
      },
      { onReady: (h) => (ready = h) },
    );
    const host = (await waitFor(() => ready, 10000, 'the host to be ready')) as ReadyHost;
    const slowAnswer = host.dispatch('slow.echo', ['late']);
    const unknown = host.dispatch('nobody.echo', []).catch((e: Error) => e.message);
    await t.lua('require("rune.host").notify("quick.note", "first")');
    await t.lua('require("rune.host").notify("quick.note", "second")');
    loaded();
    // Through Neovim, as Lua asks: answered once `quick` has started, `slow` still starting.
    expect(await t.lua('return require("rune.host").request("quick.echo", "hi")')).toBe('hi');
    await expect.poll(() => notes).toEqual(['first', 'second']);
    expect(host.status().modules).toEqual(['quick']);
    // A method of the module still starting, or of none, waits for the start to end.
    let settled = false;
    void Promise.all([slowAnswer, unknown]).then(() => (settled = true));
    await t.lua('return require("rune.host").request("quick.echo", "again")');
    expect(settled).toBe(false);
    release();
    expect(await slowAnswer).toBe('late');
    expect(await unknown).toContain('Unknown Rune request "nobody.echo"');
    expect(await started).toBe(host);
    await host.shutdown('test finished').done;
    await t.close();
  });

  it('answers what the RuneHostReady autocmd asks of a module that is still starting', async () => {
    const t = await startNvim();
    await t.lua(`vim.api.nvim_create_autocmd('User', {
      pattern = 'RuneHostReady',
      once = true,
      callback = function() _G.echoed = require('rune.host').request('quick.echo', 'hi') end,
    })`);
    const quick = defineModule({
      name: 'quick',
      activate: ({ host }) => host.onRequest('quick.echo', ([x]) => x),
    });
    await startInProcessHost(t, [quick]);
    expect(await t.lua('return _G.echoed')).toBe('hi');
    await t.close();
  });

  it('stops while a module is still starting: what started is disposed, the rest when it ends', async () => {
    const t = await startNvim();
    const disposed: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = defineModule({
      name: 'first',
      activate: () => toDisposable(() => disposed.push('first')),
    });
    const stuck = defineModule({
      name: 'stuck',
      async activate() {
        await gate;
        return toDisposable(() => disposed.push('stuck'));
      },
    });
    const never = defineModule({
      name: 'never',
      activate: () => toDisposable(() => disposed.push('never')),
    });
    const logger = createMemoryLogger();
    let ready: ReadyHost | undefined;
    const started = new StartingHost({ nvim: t.nvim, logger, logFile: null }).ready(
      [first, stuck, never],
      { onReady: (h) => (ready = h) },
    );
    const host = (await waitFor(() => ready, 10000, 'the host to be ready')) as ReadyHost;
    await waitFor(() => host.status().modules.includes('first'), 10000, 'the first module');
    await host.shutdown('test').done;
    expect(disposed).toEqual(['first']);
    expect(host.status().state).toBe('stopped');
    expect(logger.lines.some((l) => l.includes('modules still starting'))).toBe(true);
    // The stuck module ends its start: it is disposed at once, and nothing after it starts.
    release();
    await started;
    expect(disposed).toEqual(['first', 'stuck']);
    await t.close();
  });

  it('gives up waiting for a module whose start hangs after host.start_timeout_ms: Neovim is not frozen', async () => {
    const t = await startNvim();
    await t.lua("require('rune').setup({ host = { start_timeout_ms = 300 } })");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stuck = defineModule({
      name: 'stuck',
      async activate({ host }) {
        await gate;
        return host.onRequest('stuck.echo', ([x]) => x);
      },
    });
    let ready: ReadyHost | undefined;
    const started = new StartingHost({
      nvim: t.nvim,
      logger: createMemoryLogger(),
      logFile: null,
    }).ready([stuck], { onReady: (h) => (ready = h) });
    const host = (await waitFor(() => ready, 10000, 'the host to be ready')) as ReadyHost;
    // Lua asks with Neovim blocked on the answer: it comes, as an error that says why.
    const answer = await t.lua<string>(
      'local ok, err = pcall(require("rune.host").request, "stuck.echo", "hi") return ok and "answered" or err',
    );
    expect(answer).toContain('still starting after 300 ms (host.start_timeout_ms)');
    expect(answer).toContain('"stuck.echo"');
    // Once the module has started, the same request is answered.
    release();
    await started;
    expect(await t.lua('return require("rune.host").request("stuck.echo", "hi")')).toBe('hi');
    await host.shutdown('test finished').done;
    await t.close();
  });
});
