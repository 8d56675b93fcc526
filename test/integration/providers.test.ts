/**
 * The providers service in a real Neovim: the registry built from setup(), the
 * `rune.providers.*` requests answered to Lua, and the :checkhealth section.
 */
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startNvim, type TestNvim } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import { providersModule, getProviderRegistry } from '../../src/nvim/providers.js';
import {
  startAnthropicServer,
  startOllamaServer,
  type AnthropicServer,
  type OllamaServer,
} from '../helpers/servers/index.js';

let t: TestNvim | undefined;
const servers: (OllamaServer | AnthropicServer)[] = [];

afterEach(async () => {
  await t?.close();
  t = undefined;
  for (const s of servers.splice(0)) await s.close();
});

describe('providers service', () => {
  it('serves list, models and usage to Lua and reports health per provider', async () => {
    const ollama = await startOllamaServer();
    const claude = await startAnthropicServer();
    servers.push(ollama, claude);
    t = await startNvim({
      setup: `require('rune').setup({
        providers = {
          ollama = { url = '${ollama.url}', model = 'llama3.2', fim_model = 'starcoder2:3b' },
          claude = { url = '${claude.url}', api_key = 'env:RUNE_TEST_UNSET_KEY' },
        },
        default_provider = 'ollama',
      })`,
    });
    const host = await startInProcessHost(t, [providersModule]);
    expect(host.status().modules).toEqual(['auth', 'providers']);

    const list = await t.lua<{ id: string; kind: string; defaultFor: string[] }[]>(
      'return require("rune.host").request("rune.providers.list")',
    );
    expect(list.map((p) => [p.id, p.kind, p.defaultFor])).toEqual([
      ['claude', 'anthropic', []],
      ['ollama', 'ollama', ['chat', 'completion']],
    ]);

    const models = await t.lua<Record<string, unknown>>(
      'return require("rune.host").request("rune.providers.models")',
    );
    expect(models.ollama).toEqual([
      { id: 'llama3.2:latest', provider: 'ollama' },
      { id: 'qwen2.5-coder:1.5b', provider: 'ollama' },
    ]);
    expect(models.claude).toMatchObject({ error: { code: 'auth' } });
    expect(JSON.stringify(models.claude)).toContain('RUNE_TEST_UNSET_KEY');

    ollama.enqueue('chat', { text: 'hi', usage: { input: 9, output: 1 } });
    for await (const _ of getProviderRegistry(host).get('chat').chat({ messages: [] })) {
      // drain
    }
    const usage = await t.lua<unknown[]>(
      'return require("rune.host").request("rune.providers.usage")',
    );
    expect(usage).toEqual([
      expect.objectContaining({
        provider: 'ollama',
        model: 'llama3.2',
        inputTokens: 9,
        outputTokens: 1,
      }),
    ]);

    await t.nvim.command('checkhealth rune');
    const text = (await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).join(
      '\n',
    );
    expect(text).toMatch(/rune: providers/);
    expect(text).toMatch(/OK ollama \(ollama, llama3\.2\): reachable/);
    expect(text).toMatch(/ERROR claude \(anthropic.*RUNE_TEST_UNSET_KEY/);
    // llama3.2 is installed (as llama3.2:latest); the FIM model is not.
    expect(text).not.toMatch(/model llama3\.2 is not installed/);
    expect(text).toMatch(/WARNING ollama: the model starcoder2:3b is not installed/);
    expect(text).toMatch(/ollama pull starcoder2:3b/);
  });

  it('reports an invalid providers config naming the key, at start and on each use', async () => {
    t = await startNvim({
      setup: `require('rune').setup({ providers = { ollama = { timeouts = { idle_ms = 'soon' } } } })`,
    });
    const host = await startInProcessHost(t, [providersModule]);
    // Kept on, so the features that need it (chat, completion…) start and name the key when used.
    expect(host.status().modules).toEqual(['auth', 'providers']);
    expect(host.logLines.join('\n')).toContain('providers.ollama.timeouts.idle_ms');
    const err = await t.lua('return require("rune.host").request("rune.providers.list")').then(
      () => '',
      (e: Error) => e.message,
    );
    expect(err).toContain('providers.ollama.timeouts.idle_ms');
  });

  it('works in the real spawned host (dist/), and keeps the API key out of the log', async () => {
    const ollama = await startOllamaServer();
    const claude = await startAnthropicServer();
    servers.push(ollama, claude);
    const key = 'sk-ant-e2e-secret-4242';
    t = await startNvim({
      env: { RUNE_TEST_E2E_KEY: key },
      setup: `require('rune').setup({
        providers = {
          ollama = { url = '${ollama.url}' },
          claude = { url = '${claude.url}', api_key = 'env:RUNE_TEST_E2E_KEY' },
        },
        host = { log_level = 'debug' },
      })`,
    });
    const models = await t.lua<Record<string, { id: string }[]>>(
      'return require("rune.host").request("rune.providers.models")',
    );
    expect(models.claude?.map((m) => m.id)).toEqual([
      'claude-sonnet-5-5',
      'claude-haiku-5-5',
      'claude-haiku-4-5',
      'claude-sonnet-4-5',
    ]);
    expect(models.ollama?.length).toBe(2);
    const h = claude.requests[0]!.headers;
    expect(h.authorization ?? h['x-api-key']).toContain(key);
    const status = await t.lua<{ log_file: string; pid: number }>(
      'return require("rune.host").request("rune.status")',
    );
    expect(status.pid).not.toBe(process.pid);
    const log = fs.readFileSync(status.log_file, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    expect(log).not.toContain(key);
  });
});
