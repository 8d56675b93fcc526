/** The Ollama provider with the `ollama` package against a wire-faithful local server. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, ProviderUnavailableError, TimeoutError } from '../../../src/core/errors.js';
import { startOllamaServer, type OllamaServer } from '../../helpers/servers/index.js';
import { FAST, collect, registryFor, rejection, textOf } from './helpers.js';

let s: OllamaServer;
let reg: ReturnType<typeof registryFor>['registry'];

beforeEach(async () => {
  s = await startOllamaServer();
  reg = registryFor({ ollama: { url: s.url, model: 'llama3.2', ...FAST } }).registry;
});
afterEach(async () => {
  reg.dispose();
  await s.close();
});

describe('ollama provider', () => {
  it('streams text, tool calls and a done event with usage', async () => {
    s.enqueue('chat', {
      text: ['Hel', 'lo'],
      toolCalls: [{ name: 'read_file', input: { path: 'a.ts' } }],
      usage: { input: 11, output: 4 },
    });
    const events = await collect(
      reg.get('chat').chat({
        messages: [{ role: 'user', content: 'hi' }],
        system: 'be brief',
        tools: [{ name: 'read_file', description: 'reads', inputSchema: { type: 'object' } }],
      }),
    );
    expect(textOf(events)).toBe('Hello');
    expect(events.find((e) => e.type === 'tool_call')).toEqual({
      type: 'tool_call',
      id: 'call_0',
      name: 'read_file',
      input: { path: 'a.ts' },
    });
    const done = events.at(-1);
    expect(done).toMatchObject({
      type: 'done',
      usage: { inputTokens: 11, outputTokens: 4 },
      stopReason: 'tool_use',
      model: 'llama3.2',
    });
    expect(done?.type === 'done' && typeof done.ttftMs).toBe('number');
    const body = s.requestsTo('chat')[0]?.body as Record<string, unknown>;
    expect(body).toMatchObject({
      model: 'llama3.2',
      stream: true,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
      ],
      tools: [{ type: 'function', function: { name: 'read_file' } }],
    });
  });

  it('sends images and tool results in Ollama message shape', async () => {
    await collect(
      reg.get('chat').chat({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is this' },
              { type: 'image', mediaType: 'image/png', data: 'iVBORw0K' },
            ],
          },
          { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'ls', input: {} }] },
          { role: 'tool', content: [{ type: 'tool_result', id: 'c1', content: 'a.txt' }] },
        ],
      }),
    );
    const body = s.requestsTo('chat')[0]?.body as { messages: unknown[] };
    expect(body.messages).toEqual([
      { role: 'user', content: 'what is this', images: ['iVBORw0K'] },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'ls', arguments: {} } }] },
      { role: 'tool', content: 'a.txt', tool_name: 'ls' },
    ]);
  });

  it('completes in the middle with /api/generate prompt and suffix', async () => {
    s.enqueue('generate', { text: ['a +', ' b'], usage: { input: 30, output: 2 } });
    const out = await reg.get('completion').complete({
      prefix: 'function add(a, b) {\n  return ',
      suffix: ';\n}',
      maxTokens: 64,
      temperature: 0.1,
      stop: ['\n\n'],
    });
    expect(out).toEqual([{ text: 'a + b' }]);
    expect(s.requestsTo('generate')[0]?.body).toMatchObject({
      model: 'qwen2.5-coder:1.5b',
      prompt: 'function add(a, b) {\n  return ',
      suffix: ';\n}',
      options: { num_predict: 64, temperature: 0.1, stop: ['\n\n'] },
    });
    expect(reg.usage()).toContainEqual(
      expect.objectContaining({
        provider: 'ollama',
        inputTokens: 30,
        outputTokens: 2,
        requests: 1,
      }),
    );
  });

  it('lists models and embeds', async () => {
    const models = await reg.get('chat').models();
    expect(models.map((m) => m.id)).toEqual(['llama3.2:latest', 'qwen2.5-coder:1.5b']);
    const vecs = await reg.get('chat').embed!(['a', 'b'], { model: 'all-minilm' });
    expect(vecs).toHaveLength(2);
    expect(s.requestsTo('embed')[0]?.body).toEqual({ model: 'all-minilm', input: ['a', 'b'] });
  });

  it('closes the connection when the loop breaks after the first delta', async () => {
    s.enqueue('chat', { text: ['a', 'b', 'c', 'd'], chunkDelayMs: 50 });
    for await (const ev of reg.get('chat').chat({ messages: [{ role: 'user', content: 'x' }] })) {
      expect(ev).toEqual({ type: 'text', delta: 'a' });
      break;
    }
    await s.waitForClose(1);
    expect(s.closes).toBe(1);
  });

  it('closes the connection when the signal aborts before the headers', async () => {
    s.enqueue('chat', { hang: true });
    const ac = new AbortController();
    const p = collect(reg.get('chat').chat({ messages: [] }, { signal: ac.signal }));
    await s.waitForRequests(1);
    ac.abort();
    expect(await rejection(p)).toBeInstanceOf(AbortError);
    await s.waitForClose(1);
    expect(s.requests).toHaveLength(1);
  });

  it('retries a 503 that came before any token and then streams', async () => {
    s.enqueue('chat', { status: 503, errorMessage: 'loading model' }, { text: 'ok' });
    const events = await collect(reg.get('chat').chat({ messages: [] }));
    expect(textOf(events)).toBe('ok');
    expect(s.requestsTo('chat')).toHaveLength(2);
  });

  it('does not retry a reset after the first token, and says the connection failed', async () => {
    s.enqueue('chat', { text: ['a', 'b', 'c'], resetAfter: 2 });
    const got: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const e of reg.get('chat').chat({ messages: [] })) {
          if (e.type === 'text') got.push(e.delta);
        }
      })(),
    );
    expect(got).toEqual(['a', 'b']);
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(s.requestsTo('chat')).toHaveLength(1);
    expect(reg.usage()).toContainEqual(expect.objectContaining({ errors: 1 }));
  });

  it('reports an error line inside the stream as a typed error', async () => {
    s.enqueue('chat', { text: ['a'], streamError: true });
    const err = await rejection(collect(reg.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toContain('model runner has unexpectedly stopped');
    expect(s.requestsTo('chat')).toHaveLength(1);
  });

  it('reports a malformed chunk as an unreadable reply', async () => {
    // ollama-js itself would skip the line and drop part of the answer silently.
    s.enqueue('chat', { text: ['a', 'b'], malformedAt: 1, chunkDelayMs: 30 });
    const err = await rejection(collect(reg.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toMatch(/could not read/);
    expect(s.requestsTo('chat')).toHaveLength(1);
  });

  it('times out silence before the first line as first_token and closes the socket', async () => {
    // Ollama holds its headers until the first line, so this silence is a loading model.
    const r = registryFor({
      ollama: {
        url: s.url,
        timeouts: { connect_ms: 20, first_token_ms: 80 },
        retry: { max_attempts: 1 },
      },
    }).registry;
    s.enqueue('chat', { firstByteDelayMs: 5000 });
    const err = await rejection(collect(r.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('first_token');
    await s.waitForClose(1);
    r.dispose();
  });

  it('times out a stalled stream as idle', async () => {
    const r = registryFor({
      ollama: { url: s.url, timeouts: { idle_ms: 80 }, retry: { max_attempts: 1 } },
    }).registry;
    s.enqueue('chat', { text: ['a', 'b'], stallAt: 1 });
    const err = await rejection(collect(r.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('idle');
    await s.waitForClose(1);
    r.dispose();
  });

  it('says where it tried to connect when nothing listens', async () => {
    const url = s.url;
    await s.close();
    const r = registryFor({ ollama: { url, retry: { max_attempts: 1 } } }).registry;
    const err = await rejection(collect(r.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toContain(url);
    expect(err.message).toMatch(/connection refused/);
    r.dispose();
    s = await startOllamaServer();
  });

  it('reuses keep-alive connections for sequential requests', async () => {
    // The next request may start before the previous body's last bytes arrived, so the
    // pool can hold two connections; without keep-alive there would be one per request.
    for (let i = 0; i < 6; i++) await collect(reg.get('chat').chat({ messages: [] }));
    expect(s.connections).toBeLessThanOrEqual(2);
    // Completions go through node:http (src/providers/http-lines.ts), a pool of its own.
    const before = s.connections;
    for (let i = 0; i < 6; i++) await reg.get('chat').complete({ prefix: 'a', suffix: 'b' });
    expect(s.requests).toHaveLength(12);
    expect(s.connections - before).toBeLessThanOrEqual(2);
  });
});
