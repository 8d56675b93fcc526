import { describe, expect, it } from 'vitest';
import { startNvim } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import { toDisposable } from '../../src/core/disposable.js';
import type { HostModule } from '../../src/nvim/host.js';

describe('host core attached in-process', () => {
  it('answers Lua requests, runs modules, and reports their health', async () => {
    const t = await startNvim();
    let disposed = false;
    const mod: HostModule = {
      name: 'echo',
      activate(host) {
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
    };
    const notes: unknown[] = [];
    const broken: HostModule = {
      name: 'broken',
      activate() {
        throw new Error('cannot activate');
      },
    };
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
});
