import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { ROOT, startNvim, waitFor } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import { getMcpServer, mcpModule } from '../../src/nvim/mcp.js';
import { getPluginManager, pluginsModule } from '../../src/nvim/plugins.js';
import { getToolRegistry } from '../../src/nvim/tools.js';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'plugins', 'greeter.mjs');

function textOf(r: unknown): string {
  const c = (r as { content: { type: string; text?: string }[] }).content[0];
  return c?.text ?? '';
}

describe('plugins in a real Neovim', () => {
  it('loads user, project and configured plugins, publishes their tools over MCP, and reloads without dropping the session', async () => {
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-ws-')));
    const extra = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-extra-'));
    const t = await startNvim();
    const userDir = path.join(t.home, 'config', 'rune', 'plugins');
    fs.mkdirSync(userDir, { recursive: true });
    fs.copyFileSync(FIXTURE, path.join(userDir, 'greeter.mjs'));
    const projectFile = path.join(ws, '.rune', 'plugins', 'proj.mjs');
    fs.mkdirSync(path.dirname(projectFile), { recursive: true });
    const projectPlugin = (answer: string) =>
      `export default { id: 'proj', version: '1', dependsOn: ['greeter'], tools: [{ name: 'proj_answer', description: 'd', annotations: { readOnlyHint: true }, handler: () => '${answer}' }] };`;
    fs.writeFileSync(projectFile, projectPlugin('first'));
    fs.writeFileSync(
      path.join(extra, 'broken.mjs'),
      `export default { id: 'broken', version: '1', initialize() { throw new Error('missing API key'); } };`,
    );
    await t.lua(
      `local ws, extra = ...; vim.fn.chdir(ws); _G.notes = {}; vim.notify = function(m) table.insert(_G.notes, m) end;
       require('rune').setup({ plugins = { project_dir = true, paths = { extra }, config = { greeter = { greeting = 'Ahoy' } } } })`,
      [ws, extra],
    );
    const host = await startInProcessHost(t, [mcpModule, pluginsModule]);
    const server = getMcpServer(host)!;

    const list = await t.lua<{ id: string; state: string; origin: string; error?: string }[]>(
      'return require("rune.host").request("rune.plugins.list")',
    );
    expect(list.map((p) => [p.id, p.state, p.origin])).toEqual([
      ['broken', 'failed', 'config'],
      ['greeter', 'active', 'user'],
      ['proj', 'active', 'project'],
    ]);
    await waitFor(
      async () =>
        (await t.lua<string[]>('return _G.notes')).some((n) => n.includes('missing API key')),
      10000,
      'the failure notification',
    );

    const listing = await t.lua<string>('return vim.fn.execute("RunePlugins")');
    expect(listing).toMatch(/● greeter 1\.0\.0 {2}active/);
    expect(listing).toMatch(/tools: greet {2}commands: hello/);
    expect(listing).toMatch(/✗ broken .*\n {4}error: .*initialize\(\) threw: missing API key/);
    expect(
      await t.lua<string>('return vim.fn.execute("RunePlugins greeter hello nvim")'),
    ).toContain('Ahoy nvim');
    expect(
      await t.lua<string[]>(
        'return require("rune.stats").complete_plugins("", "RunePlugins greeter ")',
      ),
    ).toEqual(['hello']);

    const client = new Client({ name: 'plugin-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
      }),
    );
    const tools = (await client.listTools()).tools.map((x) => x.name);
    expect(tools).toEqual(expect.arrayContaining(['greet', 'proj_answer']));
    expect(textOf(await client.callTool({ name: 'greet', arguments: { name: 'Ada' } }))).toBe(
      'Ahoy Ada',
    );
    expect(textOf(await client.callTool({ name: 'proj_answer', arguments: {} }))).toBe('first');

    fs.writeFileSync(projectFile, projectPlugin('second'));
    await waitFor(
      async () =>
        textOf(await client.callTool({ name: 'proj_answer', arguments: {} })) === 'second',
      15000,
      'the reloaded tool on the same MCP session',
    );
    expect(getMcpServer(host)).toBe(server);
    // chat models get the same tools from the host's shared registry
    expect(getToolRegistry(host).get('proj_answer')).toBeDefined();
    expect(getToolRegistry(host).get('greet')).toBeDefined();
    expect(textOf(await client.callTool({ name: 'greet', arguments: { name: 'Bo' } }))).toBe(
      'Ahoy Bo',
    );

    // fixing the broken plugin on disk brings it back
    fs.writeFileSync(
      path.join(extra, 'broken.mjs'),
      `export default { id: 'broken', version: '2' };`,
    );
    await waitFor(
      () =>
        getPluginManager(host)!
          .list()
          .find((p) => p.id === 'broken')?.state === 'active',
      15000,
      'the fixed plugin',
    );

    // What :checkhealth rune renders for the module sections.
    const sections = await t.lua<{ name: string; items: { level: string; message: string }[] }[]>(
      'return require("rune.host").request("rune.health")',
    );
    const plugins = sections.find((s) => s.name === 'plugins')!.items;
    const bw = plugins.find((i) => /bubblewrap/.test(i.message))!;
    expect(bw.level).toBe(process.env.RUNE_TEST_BWRAP === '1' ? 'ok' : bw.level);
    expect(bw.message).toMatch(/bubblewrap sandbox available|no bubblewrap sandbox/);
    expect(plugins).toContainEqual({
      level: 'ok',
      message: expect.stringMatching(/^greeter 1\.0\.0 /),
    });
    await client.close();
  });

  it('runs in the spawned host (dist/): :RunePlugins lists a user plugin and runs its command', async () => {
    const t = await startNvim();
    const userDir = path.join(t.home, 'config', 'rune', 'plugins');
    fs.mkdirSync(userDir, { recursive: true });
    fs.copyFileSync(FIXTURE, path.join(userDir, 'greeter.mjs'));
    await t.lua(`require('rune').setup({ mcp = { enabled = false } })`);
    const listing = (await t.nvim.commandOutput('RunePlugins')) as string;
    expect(listing).toMatch(/● greeter 1\.0\.0 {2}active {2}\(user: /);
    expect((await t.nvim.commandOutput('RunePlugins greeter hello spawned')) as string).toContain(
      'Hello spawned',
    );
    const status = await t.lua<{ pid: number }>(
      'return require("rune.host").request("rune.status")',
    );
    expect(status.pid).not.toBe(process.pid);
  });

  it('leaves project plugins alone unless plugins.project_dir is set', async () => {
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-ws-')));
    fs.mkdirSync(path.join(ws, '.rune', 'plugins'), { recursive: true });
    fs.copyFileSync(FIXTURE, path.join(ws, '.rune', 'plugins', 'greeter.mjs'));
    const t = await startNvim();
    await t.lua(`vim.fn.chdir(...); require('rune').setup({ mcp = { enabled = false } })`, [ws]);
    await startInProcessHost(t, [pluginsModule]);
    expect(await t.lua('return require("rune.host").request("rune.plugins.list")')).toEqual([]);
    expect(await t.lua<string>('return vim.fn.execute("RunePlugins")')).toContain(
      'No plugins installed',
    );
  });

  it('names the bad key when the plugins section is invalid', async () => {
    const t = await startNvim();
    const err = await t
      .lua(`require('rune').setup({ plugins = { limits = { memory_mb = 'lots' } } })`)
      .then(
        () => '',
        (e: Error) => e.message,
      );
    expect(err).toContain('plugins.limits.memory_mb must be a number, got string');
  });
});
