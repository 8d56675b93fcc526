import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { definePlugin } from '../../../src/plugins/api.js';
import { discoverPlugins } from '../../../src/plugins/discovery.js';
import type { PluginManager } from '../../../src/plugins/manager.js';
import type { ChatEvent } from '../../../src/providers/types.js';
import {
  harness,
  tmpDir,
  toolPlugin,
  useIsolation,
  waitFor,
  writePlugin,
  type Harness,
} from './helpers.js';

const live: PluginManager[] = [];
function start(h: Harness): Promise<void> {
  live.push(h.manager);
  return h.manager.start();
}
afterEach(async () => {
  await Promise.all(live.splice(0).map((m) => m.dispose()));
});

const state = (h: Harness, id: string) => h.manager.list().find((p) => p.id === id);

// Every case runs with plugins in sandboxed processes (where bubblewrap works) and in worker threads.
describe.each(['process', 'thread'] as const)('plugins in %s', (kind) => {
  beforeAll(() => useIsolation(kind));
  afterAll(() => useIsolation('process'));

  describe('plugin loading', () => {
    it('loads a plain-object plugin and serves its tool through the ToolRegistry', async () => {
      const dir = tmpDir();
      writePlugin(dir, 'echo.mjs', toolPlugin('echo', 'echo_text', 'echo:'));
      const h = harness([dir]);
      await start(h);
      expect(state(h, 'echo')).toMatchObject({
        state: 'active',
        version: '1.0.0',
        tools: ['echo_text'],
      });
      expect(await h.call('echo_text', { text: 'hi' })).toEqual({
        text: 'echo:hi',
        isError: false,
      });
      // the registry validates arguments with the schema the plugin declared
      expect((await h.call('echo_text', { text: 5 })).isError).toBe(true);
      expect(state(h, 'echo')!.loadMs).toBeGreaterThan(0);
    });

    it('finds .js/.mjs files and directories with an index, skipping hidden and _ files', () => {
      const dir = tmpDir();
      writePlugin(dir, 'a.mjs', '');
      writePlugin(dir, 'b.js', '');
      writePlugin(dir, 'c/index.mjs', '');
      writePlugin(dir, 'c/helper.mjs', '');
      writePlugin(dir, '_draft.mjs', '');
      writePlugin(dir, '.hidden.mjs', '');
      writePlugin(dir, 'notes.txt', '');
      const found = discoverPlugins([
        { path: dir, origin: 'user' },
        { path: path.join(dir, 'missing'), origin: 'user' },
      ]).map((e) => path.relative(dir, e.file));
      expect(found).toEqual(['a.mjs', 'b.js', path.join('c', 'index.mjs')]);
    });

    it('definePlugin returns the definition unchanged', () => {
      const def = { id: 'x', version: '1' };
      expect(definePlugin(def)).toBe(def);
    });

    it('names the file and field of an invalid plugin and keeps loading the others', async () => {
      const dir = tmpDir();
      writePlugin(dir, 'noid.mjs', `export default { version: '1' };`);
      writePlugin(
        dir,
        'badtool.mjs',
        `export default { id: 'badtool', version: '1', tools: [{ name: 't', description: 'd', handler: 42 }] };`,
      );
      writePlugin(dir, 'syntax.mjs', `export default {{{`);
      writePlugin(dir, 'notobj.mjs', `export default 7;`);
      writePlugin(dir, 'good.mjs', toolPlugin('good', 'good_tool', 'ok'));
      const h = harness([dir]);
      await start(h);
      const all = h.manager.list();
      const byFile = (f: string) => all.find((p) => p.file === path.join(dir, f))!;
      expect(byFile('noid.mjs').state).toBe('failed');
      expect(byFile('noid.mjs').error).toContain(path.join(dir, 'noid.mjs'));
      expect(byFile('noid.mjs').error).toMatch(/field "id" is required/);
      expect(byFile('badtool.mjs').error).toMatch(/field "tools\.0\.handler" must be a function/);
      expect(byFile('syntax.mjs').error).toMatch(/could not be imported/);
      expect(byFile('notobj.mjs').error).toMatch(/default export must be an object/);
      expect(byFile('good.mjs').state).toBe('active');
      expect((await h.call('good_tool')).text).toBe('ok');
    });

    it('reports a missing configured path', async () => {
      const dir = tmpDir();
      const h = harness([path.join(dir, 'nope.mjs')]);
      await start(h);
      expect(h.manager.list()[0]).toMatchObject({ state: 'failed' });
      expect(h.manager.list()[0]!.error).toMatch(/not found; fix plugins\.paths/);
    });

    it('refuses a second plugin with the same id', async () => {
      const dir = tmpDir();
      writePlugin(dir, 'one.mjs', toolPlugin('same', 'tool_one', '1'));
      writePlugin(dir, 'two.mjs', toolPlugin('same', 'tool_two', '2'));
      const h = harness([dir]);
      await start(h);
      const list = h.manager.list();
      expect(list.filter((p) => p.state === 'active')).toHaveLength(1);
      expect(list.find((p) => p.state === 'failed')!.error).toMatch(/id "same" is already used by/);
    });

    it('skips disabled plugins', async () => {
      const dir = tmpDir();
      writePlugin(dir, 'off.mjs', toolPlugin('off', 'off_tool', 'x'));
      const h = harness([dir], { disabled: ['off'] });
      await start(h);
      expect(state(h, 'off')!.state).toBe('disabled');
      expect(h.tools.get('off_tool')).toBeUndefined();
    });
  });

  describe('dependencies and lifecycle', () => {
    const recorder = (id: string, deps: string[], log: string, extra = '') => `
import * as fs from 'node:fs';
export default {
  id: '${id}', version: '1', dependsOn: ${JSON.stringify(deps)}, capabilities: ['fs-write'],
  initialize(ctx) { fs.appendFileSync(${JSON.stringify(log)}, 'init ${id} ' + JSON.stringify(ctx.config) + '\\n'); ${extra} },
  shutdown() { fs.appendFileSync(${JSON.stringify(log)}, 'shutdown ${id}\\n'); },
};`;

    it('initializes in dependency order and hands each plugin its config', async () => {
      const dir = tmpDir();
      const ws = tmpDir('rune-ws-');
      const log = path.join(ws, 'order.log');
      // file names sort against the dependency order
      writePlugin(dir, 'a.mjs', recorder('top', ['mid'], log));
      writePlugin(dir, 'b.mjs', recorder('mid', ['base'], log));
      writePlugin(dir, 'c.mjs', recorder('base', [], log));
      const h = harness([dir], { workspace: ws, config: { mid: { level: 2 } } });
      await start(h);
      expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toEqual([
        'init base {}',
        'init mid {"level":2}',
        'init top {}',
      ]);
      await h.manager.dispose();
      expect(fs.readFileSync(log, 'utf8').trim().split('\n').slice(3)).toEqual([
        'shutdown top',
        'shutdown mid',
        'shutdown base',
      ]);
    });

    it('reports a missing dependency, a cycle, and what depends on them', async () => {
      const dir = tmpDir();
      const ws = tmpDir('rune-ws-');
      const log = path.join(ws, 'x.log');
      writePlugin(dir, 'lonely.mjs', recorder('lonely', ['ghost'], log));
      writePlugin(dir, 'c1.mjs', recorder('c1', ['c2'], log));
      writePlugin(dir, 'c2.mjs', recorder('c2', ['c1'], log));
      writePlugin(dir, 'after.mjs', recorder('after', ['lonely'], log));
      writePlugin(dir, 'fine.mjs', recorder('fine', [], log));
      const h = harness([dir], { workspace: ws });
      await start(h);
      expect(state(h, 'lonely')!.error).toMatch(/depends on "ghost", which is not installed/);
      expect(state(h, 'c1')!.error).toMatch(/dependency cycle: c1 → c2 → c1/);
      expect(state(h, 'c2')!.state).toBe('failed');
      expect(state(h, 'after')!.error).toMatch(/depends on "lonely", which failed/);
      expect(state(h, 'fine')!.state).toBe('active');
      expect(fs.readFileSync(log, 'utf8')).toBe('init fine {}\n');
    });

    it('disables a plugin whose initialize throws, and what depends on it', async () => {
      const dir = tmpDir();
      const ws = tmpDir('rune-ws-');
      const log = path.join(ws, 'x.log');
      writePlugin(dir, 'boom.mjs', recorder('boom', [], log, `throw new Error('no database');`));
      writePlugin(dir, 'child.mjs', recorder('child', ['boom'], log));
      writePlugin(dir, 'ok.mjs', toolPlugin('ok', 'ok_tool', 'fine'));
      const h = harness([dir], { workspace: ws });
      const failures: string[] = [];
      h.manager.onDidChange((p) => p.state === 'failed' && failures.push(p.id));
      await start(h);
      expect(state(h, 'boom')!.error).toMatch(/boom\.mjs: initialize\(\) threw: no database/);
      expect(state(h, 'child')!.error).toMatch(/depends on "boom", which failed/);
      expect(failures.sort()).toEqual(['boom', 'child']);
      expect((await h.call('ok_tool')).text).toBe('fine');
    });

    it('registers tools, providers and commands from initialize, and runs commands', async () => {
      const dir = tmpDir();
      writePlugin(
        dir,
        'dyn.mjs',
        `export default {
  id: 'dyn', version: '2.0.0',
  commands: [{ name: 'hello', run: (args) => ['hello ' + args.join(' '), 'bye'] }],
  initialize(ctx) {
    ctx.logger.info('starting', { n: 1 });
    ctx.registerTool({ name: 'dyn_tool', description: 'd', handler: () => ({ content: [{ type: 'text', text: 'structured' }] }) });
    ctx.registerProvider({
      id: 'dyn-llm',
      async *chat(req) { yield { type: 'text', delta: 'Hel' }; yield { type: 'text', delta: 'lo ' + req.messages.length }; },
      complete: (req) => [{ text: req.prefix.toUpperCase() }],
      models: () => ['m1', { id: 'm2' }],
    });
  },
};`,
      );
      const h = harness([dir]);
      await start(h);
      expect(state(h, 'dyn')).toMatchObject({
        tools: ['dyn_tool'],
        providers: ['dyn-llm'],
        commands: ['hello'],
      });
      expect((await h.call('dyn_tool')).text).toBe('structured');
      expect(await h.manager.runCommand('dyn', 'hello', ['a', 'b'])).toEqual(['hello a b', 'bye']);
      await expect(h.manager.runCommand('dyn', 'nope', [])).rejects.toThrow(
        /has no command "nope"/,
      );
      await expect(h.manager.runCommand('ghost', 'x', [])).rejects.toThrow(/No plugin "ghost"/);

      const p = h.providers.get('dyn-llm')!;
      const events: ChatEvent[] = [];
      for await (const ev of p.chat({ messages: [{ role: 'user', content: 'x' }] }))
        events.push(ev);
      expect(events.slice(0, 2)).toEqual([
        { type: 'text', delta: 'Hel' },
        { type: 'text', delta: 'lo 1' },
      ]);
      expect(events[2]).toMatchObject({ type: 'done', stopReason: 'end' });
      expect(await p.complete({ prefix: 'ab', suffix: '' })).toEqual([{ text: 'AB' }]);
      expect(await p.models()).toEqual([
        { id: 'm1', provider: 'dyn-llm' },
        { id: 'm2', provider: 'dyn-llm' },
      ]);
      expect(h.log.some((l) => l.includes('"msg":"starting"') && l.includes('"plugin"'))).toBe(
        true,
      );
      await h.manager.dispose();
      expect(h.tools.get('dyn_tool')).toBeUndefined();
      expect(h.providers.size).toBe(0);
    });
  });

  describe('failure isolation and limits', () => {
    it('turns a throwing tool into an error result and keeps the plugin', async () => {
      const dir = tmpDir();
      writePlugin(
        dir,
        'thrower.mjs',
        `export default { id: 'thrower', version: '1', tools: [{ name: 'bad', description: 'd', handler: () => { throw new Error('disk on fire'); } }] };`,
      );
      const h = harness([dir]);
      await start(h);
      expect(await h.call('bad')).toEqual({ text: 'disk on fire', isError: true });
      expect(state(h, 'thrower')).toMatchObject({ state: 'active', calls: 1, errors: 1 });
    });

    it('stops a tool that runs over its time limit and disables the plugin', async () => {
      const dir = tmpDir();
      writePlugin(
        dir,
        'spin.mjs',
        `export default { id: 'spin', version: '1', tools: [{ name: 'spin', description: 'd', timeoutMs: 300, handler: () => { for (;;) {} } }] };`,
      );
      writePlugin(dir, 'ok.mjs', toolPlugin('ok', 'ok_tool', 'alive'));
      const h = harness([dir]);
      await start(h);
      const r = await h.call('spin');
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/tool "spin" ran longer than 300 ms; the plugin was stopped/);
      expect(state(h, 'spin')).toMatchObject({ state: 'failed', tools: [] });
      expect(h.tools.get('spin')).toBeUndefined();
      expect((await h.call('ok_tool')).text).toBe('alive');
    });

    it('stops a plugin that exceeds its memory limit', async () => {
      const dir = tmpDir();
      writePlugin(
        dir,
        'hog.mjs',
        `export default { id: 'hog', version: '1', tools: [{ name: 'hog', description: 'd', handler: () => {
        const keep = []; for (;;) keep.push(new Array(100000).fill(Math.random()));
      } }] };`,
      );
      writePlugin(dir, 'ok.mjs', toolPlugin('ok', 'ok_tool', 'alive'));
      const h = harness([dir], { limits: { memoryMb: 32, toolTimeoutMs: 60000 } });
      await start(h);
      const r = await h.call('hog');
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/ran out of memory \(limit 32 MiB\)/);
      expect(state(h, 'hog')!.state).toBe('failed');
      expect((await h.call('ok_tool')).text).toBe('alive');
    });

    it('stops a plugin whose initialize never returns', async () => {
      const dir = tmpDir();
      writePlugin(
        dir,
        'stuck.mjs',
        `export default { id: 'stuck', version: '1', initialize() { for (;;) {} } };`,
      );
      const h = harness([dir], { limits: { initTimeoutMs: 500 } });
      await start(h);
      expect(h.manager.list()[0]!.error).toMatch(/initialize\(\) took longer than 500 ms/);
    });

    it('disables a plugin whose worker crashes later, and says so', async () => {
      const dir = tmpDir();
      writePlugin(
        dir,
        'late.mjs',
        `export default { id: 'late', version: '1', tools: [{ name: 'late', description: 'd', handler: () => { setTimeout(() => { throw new Error('async boom'); }, 10); return 'ok'; } }] };`,
      );
      const h = harness([dir]);
      await start(h);
      expect((await h.call('late')).text).toBe('ok');
      await waitFor(() => state(h, 'late')!.state === 'failed', 'the crash to be reported');
      expect(state(h, 'late')!.error).toMatch(/crashed: async boom/);
    });
  });

  describe('hot reload', () => {
    it('reloads a changed plugin without touching the others, and follows adds and removals', async () => {
      const dir = tmpDir();
      const file = writePlugin(dir, 'live.mjs', toolPlugin('live', 'live_tool', 'v1:'));
      writePlugin(dir, 'steady.mjs', toolPlugin('steady', 'steady_tool', 'same'));
      const h = harness([dir], { watch: true });
      await start(h);
      const steadyTool = h.tools.get('steady_tool');
      const removed: string[] = [];
      h.tools.onDidChange((c) => c.type === 'removed' && removed.push(c.tool.def.name));
      expect((await h.call('live_tool')).text).toBe('v1:');

      fs.writeFileSync(file, toolPlugin('live', 'live_tool', 'v2:').replace("'1.0.0'", "'1.1.0'"));
      await waitFor(async () => (await h.call('live_tool')).text === 'v2:', 'the new version');
      expect(state(h, 'live')!.version).toBe('1.1.0');
      expect(h.tools.get('steady_tool')).toBe(steadyTool);
      expect(removed).toEqual(['live_tool']);

      writePlugin(dir, 'fresh.mjs', toolPlugin('fresh', 'fresh_tool', 'new'));
      await waitFor(() => state(h, 'fresh')?.state === 'active', 'the added plugin');
      fs.rmSync(file);
      await waitFor(() => !state(h, 'live'), 'the removed plugin to go');
      expect(h.tools.get('live_tool')).toBeUndefined();
      expect((await h.call('steady_tool')).text).toBe('same');
    });

    it('recovers a broken plugin when its file is fixed, and loads a late dependency', async () => {
      const dir = tmpDir();
      const file = writePlugin(dir, 'fix.mjs', 'export default {{');
      writePlugin(
        dir,
        'needy.mjs',
        toolPlugin('needy', 'needy_tool', 'ok', "dependsOn: ['helper'],"),
      );
      const h = harness([dir], { watch: true });
      await start(h);
      expect(h.manager.list().find((p) => p.file === file)!.state).toBe('failed');
      expect(state(h, 'needy')!.state).toBe('failed');
      fs.writeFileSync(file, toolPlugin('fix', 'fix_tool', 'fixed'));
      await waitFor(() => state(h, 'fix')?.state === 'active', 'the fixed plugin');
      expect(h.manager.list().filter((p) => p.file === file)).toHaveLength(1);
      writePlugin(dir, 'helper.mjs', toolPlugin('helper', 'helper_tool', 'h'));
      await waitFor(() => state(h, 'needy')?.state === 'active', 'the dependent plugin');
    });

    it('reloads on request, one plugin or all', async () => {
      const dir = tmpDir();
      const ws = tmpDir('rune-ws-');
      const log = path.join(ws, 'n.log');
      writePlugin(
        dir,
        'count.mjs',
        `import * as fs from 'node:fs'; export default { id: 'count', version: '1', capabilities: ['fs-write'], initialize() { fs.appendFileSync(${JSON.stringify(log)}, 'x'); } };`,
      );
      const h = harness([dir], { workspace: ws });
      await start(h);
      await h.manager.reload('count');
      await h.manager.reload();
      expect(fs.readFileSync(log, 'utf8')).toBe('xxx');
      await expect(h.manager.reload('ghost')).rejects.toThrow(/No plugin "ghost"/);
    });
  });
});
