/** Provider configuration: defaults, key paths in errors, defaults per feature, overrides. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/errors.js';
import { parseProvidersConfig } from '../../../src/providers/config.js';
import { registryFor } from './helpers.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('providers config', () => {
  it('defaults to a local Ollama when nothing is configured (Lua nil and {} included)', () => {
    for (const providers of [undefined, null, [], {}]) {
      const c = parseProvidersConfig({ providers, default_provider: null });
      expect(c.providers.map((p) => [p.id, p.kind, p.url])).toEqual([
        ['ollama', 'ollama', 'http://127.0.0.1:11434'],
      ]);
      expect(c.defaults).toEqual({ chat: 'ollama', completion: 'ollama' });
    }
  });

  it('infers the kind from the name and applies per-kind defaults', () => {
    const c = parseProvidersConfig({ providers: { claude: {}, openai: {}, zeke: {} } });
    const byId = Object.fromEntries(c.providers.map((p) => [p.id, p]));
    expect(byId.claude).toMatchObject({ kind: 'anthropic', apiKey: 'env:ANTHROPIC_API_KEY' });
    expect(byId.openai).toMatchObject({
      kind: 'openai',
      apiKey: 'env:OPENAI_API_KEY',
      fim: 'chat',
    });
    expect(byId.zeke).toMatchObject({ kind: 'zeke', url: 'http://127.0.0.1:7878' });
    expect(c.defaults.chat).toBe('claude');
  });

  it('needs no key for an OpenAI-compatible server on a custom url, and picks FIM by asking it', () => {
    const c = parseProvidersConfig({
      providers: { lm: { kind: 'openai', url: 'http://127.0.0.1:1234/v1' } },
    });
    expect(c.providers[0]).toMatchObject({ apiKey: undefined, fim: 'auto' });
  });

  it('names the offending key path', () => {
    expect(
      configError(() =>
        parseProvidersConfig({ providers: { claude: { timeouts: { idle_ms: 'x' } } } }),
      ).path,
    ).toBe('providers.claude.timeouts.idle_ms');
    expect(
      configError(() => parseProvidersConfig({ providers: { a: { kind: 'nope' } } })).path,
    ).toBe('providers.a.kind');
    expect(configError(() => parseProvidersConfig({ providers: { x: {} } })).message).toMatch(
      /providers\.x\.kind: say which API/,
    );
    expect(
      configError(() => parseProvidersConfig({ providers: { ollama: { modle: 'x' } } })).path,
    ).toBe('providers.ollama');
    expect(
      configError(() => parseProvidersConfig({ providers: { ollama: { url: 'ftp://x' } } })).path,
    ).toBe('providers.ollama.url');
  });

  it('takes defaults per feature from chat.provider and completion.provider', () => {
    const c = parseProvidersConfig({
      providers: { ollama: {}, claude: {} },
      default_provider: 'claude',
      completion: { provider: 'ollama' },
      chat: { provider: null },
    });
    expect(c.defaults).toEqual({ chat: 'claude', completion: 'ollama' });
    expect(
      configError(() =>
        parseProvidersConfig({
          providers: {},
          chat: { provider: 'gpt' },
          plugins: { enabled: false },
        }),
      ),
    ).toMatchObject({ path: 'chat.provider', message: expect.stringContaining('plugins are off') });
  });

  it('accepts a default no provider names while plugins may supply it later', () => {
    const c = parseProvidersConfig({
      providers: { ollama: {} },
      chat: { provider: 'my-llm' },
      plugins: { enabled: true },
    });
    expect(c.defaults).toEqual({ chat: 'my-llm', completion: 'ollama' });
    expect(c.pluginProviders).toBe(true);
    expect(parseProvidersConfig({ default_provider: 'x', plugins: null }).defaults.chat).toBe('x');
    expect(configError(() => parseProvidersConfig({ chat: { provider: 42 } }))).toMatchObject({
      path: 'chat.provider',
    });
  });

  it('takes plugin provider declarations with their own limits, and refuses connection options', () => {
    const c = parseProvidersConfig({
      providers: { mine: { kind: 'plugin', model: 'm1', timeouts: { first_token_ms: 5 } } },
    });
    expect(c.providers[0]).toMatchObject({
      id: 'mine',
      kind: 'plugin',
      url: 'plugin:mine',
      apiKey: undefined,
      settings: {
        model: 'm1',
        timeouts: { connectMs: 0, firstTokenMs: 5, idleMs: 60_000 },
        retry: { maxAttempts: 1 },
      },
    });
    expect(c.providers[0]!.settings.breaker).toBeUndefined();
    expect(c.defaults.chat).toBe('mine');
    const e = configError(() =>
      parseProvidersConfig({ providers: { mine: { kind: 'plugin', url: 'http://127.0.0.1:1' } } }),
    );
    expect(e.path).toBe('providers.mine.url');
    expect(e.message).toContain('the plugin owns its connection');
  });

  it('gets the default per feature and honours a per-call override', () => {
    const { registry } = registryFor(
      { ollama: {}, claude: {} },
      { default_provider: 'ollama', chat: { provider: 'claude' } },
    );
    expect(registry.get('chat').id).toBe('claude');
    expect(registry.get('completion').id).toBe('ollama');
    expect(registry.get('chat', 'ollama').id).toBe('ollama');
    expect(() => registry.get('chat', 'nope')).toThrow(/No provider named "nope": .*:RunePlugins/);
    expect(registry.list().map((p) => [p.id, p.defaultFor])).toEqual([
      ['claude', ['chat']],
      ['ollama', ['completion']],
    ]);
    registry.dispose();
  });

  it('builds a copilot provider that forwards shown/accepted reports', () => {
    const { registry } = registryFor({ copilot: {}, ollama: {} });
    const p = registry.get('completion', 'copilot');
    expect(p.kind).toBe('copilot');
    expect(typeof p.didShow).toBe('function');
    expect(typeof p.didAccept).toBe('function');
    expect(registry.get('completion', 'ollama').didShow).toBeUndefined();
    registry.dispose();
  });

  it('reports key status without revealing a literal key', async () => {
    const { registry } = registryFor(
      { a: { kind: 'anthropic', api_key: 'sk-secret-literal' }, b: { kind: 'anthropic' } },
      {},
      {},
    );
    const a = await registry.keyStatus('a');
    expect(a.ok).toBe(true);
    expect(a.message).not.toContain('sk-secret');
    const b = await registry.keyStatus('b');
    expect(b).toMatchObject({ ok: false });
    expect(b.message).toContain('ANTHROPIC_API_KEY');
    registry.dispose();
  });
});
