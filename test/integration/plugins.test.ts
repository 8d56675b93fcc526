import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { ROOT, startNvim, trustDirLua, waitFor } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import { getMcpServer, mcpModule } from '../../src/nvim/mcp.js';
import { getPluginManager, pluginsModule } from '../../src/nvim/plugins.js';
import { getToolRegistry } from '../../src/nvim/tools.js';
import { providersModule } from '../../src/nvim/providers.js';
import { startChat, type ChatHarness } from './chat-helpers.js';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'plugins', 'greeter.mjs');
const ECHO = path.join(ROOT, 'test', 'fixtures', 'plugins', 'echo-provider.mjs');

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
    await t.lua(trustDirLua(path.dirname(projectFile)));
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
      await t.lua<string[]>('return require("rune.plugins").complete("", "RunePlugins greeter ")'),
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
    if (process.env.RUNE_TEST_BWRAP === '1') {
      expect(bw.message).toMatch(/each plugin runs in its own sandboxed process/);
      expect(getPluginManager(host)!.isolation().kind).toBe('process');
    }
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

  it('selects a plugin provider for chat from setup(), streams from it, replaces it on reload and names it when it is gone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-provider-plugins-'));
    const file = path.join(dir, 'echo-provider.mjs');
    fs.copyFileSync(ECHO, file);
    fs.writeFileSync(
      path.join(dir, 'clash.mjs'),
      `export default { id: 'clash', version: '1', providers: [{ id: 'ollama', chat: async function* () {} }] };`,
    );
    // chat.provider names a provider no config lists: the plugin supplies it once loaded.
    const c = await startChat({
      chat: { provider: 'echo' },
      setup: { plugins: { paths: [dir], user_dir: false }, mcp: { enabled: false } },
      modules: [providersModule, pluginsModule],
    });
    const request = <T>(method: string, ...args: unknown[]) =>
      c.t.lua<T>('return require("rune.host").request(...)', [method, ...args]);
    const plugins = () =>
      request<{ id: string; version: string; state: string; error?: string }[]>(
        'rune.plugins.list',
      );
    expect((await plugins()).map((p) => [p.id, p.state])).toEqual([
      ['clash', 'failed'],
      ['echo-provider', 'active'],
    ]);
    // A plugin cannot take over a configured provider's id.
    expect((await plugins())[0]!.error).toContain(
      'the provider id "ollama" is taken by the configured provider providers.ollama',
    );
    const providers = () =>
      request<{ id: string; kind: string; defaultFor: string[] }[]>('rune.providers.list');
    expect((await providers()).map((p) => [p.id, p.kind, p.defaultFor])).toEqual([
      ['echo', 'plugin', ['chat']],
      ['ollama', 'ollama', ['completion']],
    ]);

    await c.t.nvim.command('RuneChat');
    const buf = await ask(c, 'ping one');
    await c.idle(buf);
    expect(await c.text(buf)).toContain('echo v1 (no model): ping one');

    // :RuneChatModel offers the plugin's models; pick echo-large as a person would.
    await c.t.lua(`_G.offered = {}
      vim.ui.select = function(items, _, cb)
        for _, i in ipairs(items) do table.insert(_G.offered, i.provider .. '/' .. i.model) end
        for _, i in ipairs(items) do
          if i.provider == 'echo' and i.model == 'echo-large' then return cb(i) end
        end
        cb(nil)
      end`);
    await c.t.nvim.command('RuneChatModel');
    expect(await c.t.lua<string[]>('return _G.offered')).toEqual(
      expect.arrayContaining(['echo/echo-small', 'echo/echo-large']),
    );
    await ask(c, 'ping two');
    await c.idle(buf);
    expect(await c.text(buf)).toContain('echo v1 (echo-large): ping two');
    expect(await request<unknown[]>('rune.providers.usage')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          provider: 'echo',
          model: 'echo-large',
          requests: 1,
          inputTokens: 'ping two'.length,
          outputTokens: 2,
        }),
      ]),
    );

    // Saving the plugin file reloads it; the chat's next answer comes from the new provider.
    fs.writeFileSync(
      file,
      fs
        .readFileSync(ECHO, 'utf8')
        .replace("RELEASE = 'v1'", "RELEASE = 'v2'")
        .replace("version: '1.0.0'", "version: '2.0.0'"),
    );
    await waitFor(
      async () => (await plugins()).some((p) => p.version === '2.0.0' && p.state === 'active'),
      15000,
      'the reloaded plugin',
    );
    await ask(c, 'ping three');
    await c.idle(buf);
    expect(await c.text(buf)).toContain('echo v2 (echo-large): ping three');

    // Removing the plugin removes its provider; the chat says which one and what to do.
    fs.unlinkSync(file);
    await waitFor(
      async () => !(await plugins()).some((p) => p.id === 'echo-provider'),
      15000,
      'the unloaded plugin',
    );
    expect((await providers()).map((p) => p.id)).toEqual(['ollama']);
    await ask(c, 'ping four');
    await c.idle(buf);
    const text = await c.text(buf);
    expect(text).toContain('> [!ERROR] The provider "echo" is gone: its plugin was unloaded');
    expect(text).toContain(':RuneChatModel');
    const health =
      await request<{ name: string; items: { level: string; message: string }[] }[]>('rune.health');
    expect(health.find((s) => s.name === 'providers')!.items).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: expect.stringMatching(/^echo \(default for chat\): not available yet/),
      }),
    );
  });
});

/** Types `question` under the last `## You` of the chat and submits it. */
async function ask(c: ChatHarness, question: string): Promise<number> {
  const buf = await c.chatBuf();
  await c.t.lua('vim.api.nvim_buf_set_lines(..., -2, -1, false, { select(2, ...) })', [
    buf,
    question,
  ]);
  await c.t.lua('require("rune.chat").submit(...)', [buf]);
  return buf;
}
