import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer } from '../../helpers/servers/index.js';
import { LLAMA_SERVER, startLlama } from '../../helpers/llama.js';
import { ROOT } from '../../helpers/nvim.js';
import { which } from '../../../src/core/which.js';
import {
  detectProviders,
  detectedConfig,
  guidance,
  ollamaUrl,
} from '../../../src/providers/detect.js';
import { parseProvidersConfig } from '../../../src/providers/config.js';
import { freePort as closedPort } from '../../helpers/ports.js';

const ZEKE_BIN = path.join(ROOT, 'test', 'fixtures', 'zeke', 'bin');

/** A loopback port nobody listens on. */

/** An environment with nothing in it: closed ports, no keys, nothing on PATH. */
async function bareEnv(extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  return {
    OLLAMA_HOST: `127.0.0.1:${await closedPort()}`,
    LLAMA_ARG_PORT: String(await closedPort()),
    PATH: '',
    ...extra,
  };
}

const deps = (env: NodeJS.ProcessEnv) => ({ env, which: (n: string) => which(n, env) });

const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(stops.map((s) => s()));
});

describe('provider detection', () => {
  it('finds nothing on a bare machine and says what to install or set', async () => {
    const det = await detectProviders(deps(await bareEnv()));
    expect(det.chat).toBeUndefined();
    expect(det.completion).toBeUndefined();
    const text = guidance(det);
    expect(text).toContain(':RuneSetup');
    expect(text).toContain('ANTHROPIC_API_KEY');
    expect(text).toContain('ollama pull');
    expect(text).toContain('llama-server');
  });

  it('finds a running Ollama and picks its chat and coder models', async () => {
    const s = await startOllamaServer();
    stops.push(() => s.close());
    s.enqueue('tags', { models: ['llama3.2:latest', 'qwen2.5-coder:1.5b', 'nomic-embed-text'] });
    const det = await detectProviders(deps(await bareEnv({ OLLAMA_HOST: s.url })));
    expect(det.chat).toEqual({ id: 'ollama', why: `Ollama at ${s.url} with 3 model(s)` });
    expect(det.completion?.id).toBe('ollama');
    const cfg = parseProvidersConfig(detectedConfig({}, det));
    expect(cfg.providers.map((p) => [p.id, p.url, p.settings.model, p.settings.fimModel])).toEqual([
      ['ollama', s.url, 'llama3.2:latest', 'qwen2.5-coder:1.5b'],
    ]);
    expect(cfg.defaults).toEqual({ chat: 'ollama', completion: 'ollama' });
  });

  it('tells a running Ollama with no model pulled apart from none', async () => {
    const s = await startOllamaServer();
    stops.push(() => s.close());
    s.enqueue('tags', { models: [] });
    const det = await detectProviders(deps(await bareEnv({ OLLAMA_HOST: s.url })));
    expect(det.chat).toBeUndefined();
    expect(guidance(det)).toContain('has no chat model pulled');
  });

  it('finds the real llama-server answering and prefers it for completion', async () => {
    const l = await startLlama();
    stops.push(() => l.stop());
    const det = await detectProviders(
      deps(await bareEnv({ LLAMA_ARG_PORT: String(l.port), ANTHROPIC_API_KEY: 'sk-test' })),
    );
    expect(det.completion).toEqual({ id: 'llamacpp', why: `llama-server at ${l.url}` });
    expect(det.chat).toEqual({ id: 'anthropic', why: 'ANTHROPIC_API_KEY is set' });
    const cfg = parseProvidersConfig(detectedConfig({}, det));
    expect(cfg.defaults).toEqual({ chat: 'anthropic', completion: 'llamacpp' });
    expect(cfg.providers.find((p) => p.id === 'llamacpp')?.url).toBe(l.url);
  }, 60_000);

  it('counts an installed llama-server as guidance, not a pick', async () => {
    const env = await bareEnv({ PATH: path.dirname(LLAMA_SERVER) });
    const det = await detectProviders(deps(env));
    expect(det.completion).toBeUndefined();
    const llama = det.candidates.find((c) => c.id === 'llamacpp')!;
    expect(llama.usable).toBe(false);
    expect(llama.found).toContain('installed');
    expect(llama.needs).toContain('serve');
  });

  it('finds zeke on PATH', async () => {
    const det = await detectProviders(deps(await bareEnv({ PATH: ZEKE_BIN })));
    expect(det.chat).toEqual({ id: 'zeke', why: `zeke on PATH (${ZEKE_BIN}/zeke)` });
  });

  it('finds a stored key and a Copilot sign-in', async () => {
    const det = await detectProviders({
      ...deps(await bareEnv()),
      storedKey: (id) => Promise.resolve(id === 'openai'),
      copilotToken: () => Promise.resolve('/home/u/.config/github-copilot/apps.json'),
    });
    expect(det.chat).toEqual({ id: 'openai', why: 'a key stored with :RuneAuth openai' });
    expect(det.completion?.id).toBe('copilot');
  });

  it('never probes an address off this machine', () => {
    expect(ollamaUrl({ OLLAMA_HOST: 'http://10.0.0.5:11434' })).toBeUndefined();
    expect(ollamaUrl({ OLLAMA_HOST: '0.0.0.0' })).toBe('http://127.0.0.1:11434');
    expect(ollamaUrl({})).toBe('http://127.0.0.1:11434');
  });

  it('gives up on a peer that does not answer within the deadline', async () => {
    const s = await startOllamaServer();
    stops.push(() => s.close());
    s.enqueue('tags', { hang: true });
    const det = await detectProviders({
      ...deps(await bareEnv({ OLLAMA_HOST: s.url })),
      timeoutMs: 200,
    });
    expect(det.candidates.find((c) => c.id === 'ollama')?.usable).toBe(false);
  });
});

describe('hasConfiguredProviders', () => {
  it('detects only when the user named no provider anywhere', async () => {
    const { hasConfiguredProviders } = await import('../../../src/providers/detect.js');
    expect(hasConfiguredProviders({})).toBe(false);
    expect(hasConfiguredProviders({ providers: {}, chat: { model: 'x' } })).toBe(false);
    expect(hasConfiguredProviders({ providers: { ollama: {} } })).toBe(true);
    expect(hasConfiguredProviders({ default_provider: 'ollama' })).toBe(true);
    expect(hasConfiguredProviders({ chat: { provider: 'echo' } })).toBe(true);
    expect(hasConfiguredProviders({ completion: { provider: 'echo' } })).toBe(true);
  });
});
