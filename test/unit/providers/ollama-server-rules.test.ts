/**
 * The Ollama provider against a double that behaves as the real server does
 * (test/helpers/servers/ollama.ts cites the rules): silent model loads, thinking
 * chunks, capability refusals, GenerateHandler's empty prompt and empty suffix, and
 * failures that repeat.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TimeoutError } from '../../../src/core/errors.js';
import { ModelFailedError } from '../../../src/providers/errors.js';
import type { ManagedProvider } from '../../../src/providers/managed.js';
import {
  CHATBOT_ANSWER,
  startOllamaServer,
  type OllamaServer,
} from '../../helpers/servers/index.js';
import { FAST, collect, registryFor, rejection, textOf } from './helpers.js';

let s: OllamaServer | undefined;
let dispose: (() => void) | undefined;

afterEach(async () => {
  dispose?.();
  dispose = undefined;
  await s?.close();
  s = undefined;
});

async function setup(
  server: Parameters<typeof startOllamaServer>[0],
  provider: Record<string, unknown> = {},
) {
  s = await startOllamaServer(server);
  const { registry, logger } = registryFor({ ollama: { url: s.url, ...FAST, ...provider } });
  dispose = () => registry.dispose();
  return { server: s, registry, logger };
}

const TOOLS = [{ name: 'read_file', description: 'reads', inputSchema: { type: 'object' } }];

describe('ollama provider against the real server rules', () => {
  it('waits through a silent cold load longer than connect_ms, in one request', async () => {
    // Real Ollama writes no status line until the model is loaded and the first line is ready.
    const { server, registry } = await setup(
      { loadMs: 600 },
      { model: 'llama3.2', timeouts: { connect_ms: 150 } },
    );
    server.enqueue('chat', { text: 'loaded' });
    const events = await collect(registry.get('chat').chat({ messages: [] }));
    expect(textOf(events)).toBe('loaded');
    expect(server.requestsTo('chat')).toHaveLength(1);
  });

  it('survives the chat and completion models swapping in and out of memory', async () => {
    const { server, registry } = await setup(
      { loadMs: 400, maxLoaded: 1 },
      { model: 'llama3.2', fim_model: 'qwen2.5-coder:1.5b', timeouts: { connect_ms: 100 } },
    );
    for (let i = 0; i < 2; i++) {
      expect(textOf(await collect(registry.get('chat').chat({ messages: [] })))).toBe(
        'Hello from Ollama',
      );
      expect(await registry.get('completion').complete({ prefix: 'a', suffix: 'b' })).toEqual([
        { text: 'x + y' },
      ]);
    }
    // One request each: no load was cut short and retried.
    expect(server.requestsTo('chat')).toHaveLength(2);
    expect(server.requestsTo('generate')).toHaveLength(2);
  });

  it('streams thinking as events, which keep the first-token watchdog fed', async () => {
    const { server, registry } = await setup(
      {},
      { model: 'qwen3:0.6b', timeouts: { first_token_ms: 150 } },
    );
    server.enqueue('chat', {
      thinking: ['Hmm', ', the', ' user', ' wants', ' a', ' greeting.'],
      text: 'Hi!',
      chunkDelayMs: 60,
    });
    const events = await collect(registry.get('chat').chat({ messages: [] }));
    const thinking = events.flatMap((e) => (e.type === 'thinking' ? [e.delta] : []));
    expect(thinking.join('')).toBe('Hmm, the user wants a greeting.');
    expect(textOf(events)).toBe('Hi!');
  });

  it('sends think: false for fill-in-the-middle', async () => {
    const { server, registry } = await setup(
      { catalog: { 'qwen3-coder': ['completion', 'insert', 'thinking'] } },
      { fim_model: 'qwen3-coder' },
    );
    server.enqueue('generate', { text: 'a + b' });
    const out = await registry.get('completion').complete({ prefix: 'return ', suffix: ';\n' });
    expect(out).toEqual([{ text: 'a + b' }]);
    expect(server.requestsTo('generate')[0]?.body).toMatchObject({ think: false });
  });

  it('never sends an empty suffix: at the end of a file the suffix is the final newline', async () => {
    const { server, registry } = await setup({});
    server.enqueue('generate', { text: 'x + y' });
    const out = await registry
      .get('completion')
      .complete({ prefix: 'def add(x, y):\n  return ', suffix: '' });
    expect(out[0]?.text).not.toContain(CHATBOT_ANSWER.slice(0, 10));
    expect(out).toEqual([{ text: 'x + y' }]);
    expect(server.requestsTo('generate')[0]?.body).toMatchObject({ suffix: '\n' });
  });

  it('completes at the top of a file (empty prompt) through a chat prompt, not an empty load reply', async () => {
    const { server, registry } = await setup({});
    server.enqueue('chat', { text: 'import os' });
    const out = await registry
      .get('completion')
      .complete({ prefix: '', suffix: '\nprint(os.getcwd())\n' });
    expect(out).toEqual([{ text: 'import os' }]);
    expect(server.requestsTo('generate')).toHaveLength(0);
    expect(server.requestsTo('chat')[0]?.body).toMatchObject({ think: false });
  });

  it('asks again without tools when the model does not support them, and says so once', async () => {
    const { server, registry, logger } = await setup({}, { model: 'gemma:2b' });
    const provider = registry.get('chat');
    const first = await collect(
      provider.chat({ messages: [{ role: 'user', content: 'hi' }], tools: TOOLS }),
    );
    expect(textOf(first)).toBe('Hello from Ollama');
    const notices = first.filter((e) => e.type === 'notice');
    expect(notices).toHaveLength(1);
    expect(JSON.stringify(notices)).toMatch(/gemma:2b does not support tools/);
    const second = await collect(
      provider.chat({ messages: [{ role: 'user', content: 'again' }], tools: TOOLS }),
    );
    expect(second.filter((e) => e.type === 'notice')).toHaveLength(0);
    const bodies = server.requestsTo('chat').map((r) => r.body as { tools?: unknown[] });
    expect(bodies.map((b) => Boolean(b.tools))).toEqual([true, false, false]);
    expect(logger.lines.join('\n')).toMatch(/does not support tools/);
  });

  it('completes through a chat prompt when the model cannot insert', async () => {
    const { server, registry } = await setup({}, { fim_model: 'llama3.2' });
    server.enqueue('chat', { text: 'a + b' }, { text: 'a - b' });
    const c = registry.get('completion');
    expect(await c.complete({ prefix: 'return ', suffix: '\n}' })).toEqual([{ text: 'a + b' }]);
    expect(await c.complete({ prefix: 'return ', suffix: '\n}' })).toEqual([{ text: 'a - b' }]);
    // One refused /api/generate, then chat only.
    expect(server.requestsTo('generate')).toHaveLength(1);
    expect(server.requestsTo('chat')).toHaveLength(2);
  });

  it('does not retry an out-of-memory 500, nor let it open the circuit', async () => {
    const { server, registry } = await setup({}, { breaker: { failures: 1, cooldown_ms: 60000 } });
    const oom = {
      status: 500,
      errorMessage: 'model requires more system memory (8.0 GiB) than is available (4.0 GiB)',
    };
    server.enqueue('chat', oom, oom);
    const err = await rejection(collect(registry.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(ModelFailedError);
    expect(err.message).toMatch(/smaller model/);
    expect(server.requestsTo('chat')).toHaveLength(1);
    // The breaker stays closed: the next request still reaches the server.
    await rejection(collect(registry.get('chat').chat({ messages: [] })));
    expect(server.requestsTo('chat')).toHaveLength(2);
  });

  it('maps tool names the model may not take and maps its calls back', async () => {
    const { server, registry } = await setup({});
    const long = `server__${'x'.repeat(70)}`;
    const tools = [
      { name: 'server__fs.read', description: 'reads', inputSchema: { type: 'object' } },
      { name: long, description: 'long', inputSchema: { type: 'object' } },
    ];
    server.script('chat', (req) => {
      const sent = (req.body as { tools: { function: { name: string } }[] }).tools;
      return { toolCalls: sent.map((t) => ({ name: t.function.name, input: {} })) };
    });
    const events = await collect(registry.get('chat').chat({ messages: [], tools }));
    const wire = (
      server.requestsTo('chat')[0]?.body as { tools: { function: { name: string } }[] }
    ).tools.map((t) => t.function.name);
    for (const n of wire) expect(n).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(events.flatMap((e) => (e.type === 'tool_call' ? [e.name] : []))).toEqual([
      'server__fs.read',
      long,
    ]);
  });

  it('reports what the server says a model supports', async () => {
    const { registry } = await setup({ strictModels: true });
    const p = registry.get('chat') as ManagedProvider;
    expect(await p.describe('qwen3:0.6b')).toEqual({
      exists: true,
      supports: ['tools', 'thinking'],
    });
    expect(await p.describe('qwen2.5-coder:1.5b')).toEqual({
      exists: true,
      supports: ['tools', 'fim'],
    });
    expect(await p.describe('nosuch')).toEqual({ exists: false });
  });
});

describe('ollama first-token phase', () => {
  it('names the first-token phase when the load outlasts first_token_ms', async () => {
    const { registry } = await setup(
      { loadMs: 5000 },
      { timeouts: { first_token_ms: 100 }, retry: { max_attempts: 1 } },
    );
    const err = await rejection(collect(registry.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('first_token');
  });
});
