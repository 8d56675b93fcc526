/**
 * The OpenAI-compatible provider with the `openai` package against a wire-faithful local
 * server, and the reliability layer (retries, breaker, limiter, bulkhead, cache) through it.
 */
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, ProviderUnavailableError } from '../../../src/core/errors.js';
import { startOpenAIServer, type OpenAIServer } from '../../helpers/servers/index.js';
import { FAST, collect, registryFor, rejection, textOf } from './helpers.js';

let s: OpenAIServer;
let reg: ReturnType<typeof registryFor>['registry'];

function make(extra: Record<string, unknown> = {}) {
  return registryFor({
    local: {
      kind: 'openai',
      url: `${s.url}/v1`,
      model: 'qwen',
      fim_model: 'qwen-fim',
      fim: 'native',
      ...FAST,
      ...extra,
    },
  }).registry;
}

beforeEach(async () => {
  s = await startOpenAIServer();
  reg = make();
});
afterEach(async () => {
  reg.dispose();
  await s.close();
});

describe('openai-compatible provider', () => {
  it('streams text and tool calls, with usage from the include_usage chunk', async () => {
    s.enqueue('chat', {
      text: 'Hello world',
      toolCalls: [
        { id: 'call_a', name: 'grep', input: { q: 'x' } },
        { id: 'call_b', name: 'ls', input: {} },
      ],
      usage: { input: 40, output: 9 },
    });
    const events = await collect(
      reg.get('chat').chat({
        messages: [{ role: 'user', content: 'hi' }],
        tools: [{ name: 'grep', description: 'g', inputSchema: { type: 'object' } }],
        temperature: 0.2,
      }),
    );
    expect(textOf(events)).toBe('Hello world');
    expect(events.filter((e) => e.type === 'tool_call')).toEqual([
      { type: 'tool_call', id: 'call_a', name: 'grep', input: { q: 'x' } },
      { type: 'tool_call', id: 'call_b', name: 'ls', input: {} },
    ]);
    expect(events.at(-1)).toMatchObject({
      type: 'done',
      usage: { inputTokens: 40, outputTokens: 9 },
      stopReason: 'tool_use',
    });
    expect(s.requestsTo('chat')[0]!.body).toMatchObject({
      model: 'qwen',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      tools: [{ type: 'function', function: { name: 'grep', parameters: { type: 'object' } } }],
    });
  });

  it('sends tool results right after the assistant turn and images as data URLs', async () => {
    await collect(
      reg.get('chat').chat({
        messages: [
          { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'ls', input: {} }] },
          {
            role: 'user',
            content: [
              { type: 'tool_result', id: 'c1', content: 'a.txt' },
              { type: 'image', mediaType: 'image/jpeg', data: '/9j/' },
            ],
          },
        ],
      }),
    );
    expect((s.requestsTo('chat')[0]!.body as { messages: unknown }).messages).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'ls', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'a.txt' },
      {
        role: 'user',
        content: [{ type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/' } }],
      },
    ]);
  });

  it('completes in the middle with /v1/completions prompt and suffix, n alternatives', async () => {
    s.enqueue('completions', { choices: ['a + b', 'b + a'], usage: { input: 20, output: 6 } });
    const out = await reg.get('completion').complete({
      prefix: 'return ',
      suffix: ';',
      n: 2,
      maxTokens: 32,
      stop: ['\n'],
    });
    expect(out).toEqual([{ text: 'a + b' }, { text: 'b + a' }]);
    expect(s.requestsTo('completions')[0]!.body).toMatchObject({
      model: 'qwen-fim',
      prompt: 'return ',
      suffix: ';',
      n: 2,
      max_tokens: 32,
      stop: ['\n'],
    });
    expect(reg.usage()).toContainEqual(
      expect.objectContaining({ model: 'qwen-fim', inputTokens: 20, outputTokens: 6 }),
    );
  });

  it('uses a chat prompt for FIM when configured as chat-only', async () => {
    const r = make({ fim: 'chat' });
    s.enqueue('chat', { text: 'a + b' });
    expect(await r.get('completion').complete({ prefix: 'x = ', suffix: '\n' })).toEqual([
      { text: 'a + b' },
    ]);
    expect(s.requestsTo('completions')).toHaveLength(0);
    const body = s.requestsTo('chat')[0]!.body as { messages: { content: string }[] };
    expect(body.messages[1]!.content).toContain('x = <CURSOR>\n');
    r.dispose();
  });

  it('retries 500 up to max_attempts, then says the service failed', async () => {
    s.enqueue('chat', { status: 500 }, { status: 500 }, { status: 500 });
    const err = await rejection(collect(reg.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toMatch(/HTTP 500/);
    expect(s.requestsTo('chat')).toHaveLength(3);
  });

  it('retries a connection reset before the first token', async () => {
    s.enqueue('chat', { text: 'x', resetAfter: 0 }, { text: 'fine' });
    expect(textOf(await collect(reg.get('chat').chat({ messages: [] })))).toBe('fine');
    expect(s.requestsTo('chat')).toHaveLength(2);
  });

  it('never retries once a token has streamed', async () => {
    s.enqueue('chat', { text: ['a', 'b', 'c'], resetAfter: 3 });
    const seen: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const e of reg.get('chat').chat({ messages: [] })) {
          if (e.type === 'text') seen.push(e.delta);
        }
      })(),
    );
    expect(seen).toEqual(['a', 'b']);
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(s.requestsTo('chat')).toHaveLength(1);
  });

  it('reports a malformed SSE chunk', async () => {
    const r = make({ retry: { max_attempts: 1 } });
    s.enqueue('chat', { text: ['a', 'b'], malformedAt: 2 });
    expect(await rejection(collect(r.get('chat').chat({ messages: [] })))).toBeInstanceOf(
      ProviderUnavailableError,
    );
    r.dispose();
  });

  it('opens the breaker after repeated failures, fails fast, then recovers', async () => {
    const r = make({ retry: { max_attempts: 1 }, breaker: { failures: 2, cooldown_ms: 150 } });
    s.script('chat', () => ({ status: 503 }));
    for (let i = 0; i < 2; i++) await rejection(collect(r.get('chat').chat({ messages: [] })));
    expect(s.requestsTo('chat')).toHaveLength(2);
    const fast = await rejection(collect(r.get('chat').chat({ messages: [] })));
    expect(fast).toBeInstanceOf(ProviderUnavailableError);
    expect(fast.message).toMatch(/not sending it requests/);
    expect(s.requestsTo('chat')).toHaveLength(2);
    expect(r.list()[0]!.state.circuit).toBe('open');
    s.script('chat', undefined);
    await new Promise((res) => setTimeout(res, 200));
    expect(textOf(await collect(r.get('chat').chat({ messages: [] })))).toBe('Hello from OpenAI');
    expect(r.list()[0]!.state.circuit).toBe('closed');
    r.dispose();
  });

  it('spaces requests with the token bucket', async () => {
    const r = make({ rate_limit: { rps: 10, burst: 1 } });
    // The k-th request cannot be granted before start + k * 100 ms, and it reaches the server
    // after its grant: lower bounds on arrival hold however loaded the machine is (the gap
    // between two arrivals does not: the first may be delayed on its way more than the second).
    const start = performance.now();
    await Promise.all(
      [0, 1, 2].map(() => r.get('completion').complete({ prefix: 'a', suffix: '' })),
    );
    const at = s.requestsTo('completions').map((q) => q.at - start);
    expect(at).toHaveLength(3);
    expect(at[1]!).toBeGreaterThanOrEqual(95);
    expect(at[2]!).toBeGreaterThanOrEqual(195);
    r.dispose();
  });

  it('keeps chat going while completion slots are full (bulkhead per feature)', async () => {
    const r = make({ concurrency: { chat: 1, completion: 1 } });
    s.enqueue('completions', { hang: true });
    const ac = new AbortController();
    const first = r.get('completion').complete({ prefix: '1', suffix: '' }, { signal: ac.signal });
    await s.waitForRequests(1);
    const second = r.get('completion').complete({ prefix: '2', suffix: '' });
    expect(textOf(await collect(r.get('chat').chat({ messages: [] })))).toBe('Hello from OpenAI');
    expect(s.requestsTo('completions')).toHaveLength(1);
    expect(r.list()[0]!.state).toMatchObject({ activeCompletion: 1, queued: 1 });
    ac.abort();
    expect(await rejection(first)).toBeInstanceOf(AbortError);
    await s.waitForClose(1);
    expect(await second).toEqual([{ text: 'a + b' }]);
    r.dispose();
  });

  it('answers identical completion requests from the cache when enabled', async () => {
    const r = make({ cache: { max: 10, ttl_ms: 60_000 } });
    const req = { prefix: 'let x = ', suffix: ';' };
    const a = await r.get('completion').complete(req);
    const b = await r.get('completion').complete({ ...req });
    const c = await r.get('completion').complete({ ...req, suffix: '; // other' });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(s.requestsTo('completions')).toHaveLength(2);
    r.dispose();
  });

  it('lists models and embeds', async () => {
    expect((await reg.get('chat').models()).map((m) => m.id)).toEqual([
      'gpt-4o-mini',
      'gpt-3.5-turbo-instruct',
    ]);
    const v = await reg.get('chat').embed!(['a', 'b'], { model: 'emb' });
    expect(v).toHaveLength(2);
    expect(v[1]![0]).toBeCloseTo(0.2);
  });

  it('leaves no listener on the signal of the caller after calls end', async () => {
    const ac = new AbortController();
    await collect(reg.get('chat').chat({ messages: [] }, { signal: ac.signal }));
    await reg.get('completion').complete({ prefix: 'a', suffix: '' }, { signal: ac.signal });
    s.enqueue('chat', { text: ['a', 'b', 'c'], chunkDelayMs: 20 });
    for await (const _ of reg.get('chat').chat({ messages: [] }, { signal: ac.signal })) break;
    await s.waitForClose(1);
    s.enqueue('chat', { status: 400 });
    await rejection(collect(reg.get('chat').chat({ messages: [] }, { signal: ac.signal })));
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('aborting during the retry wait ends the call at once', async () => {
    s.enqueue('chat', { status: 503, retryAfter: 30 });
    const ac = new AbortController();
    const p = collect(reg.get('chat').chat({ messages: [] }, { signal: ac.signal }));
    await s.waitForRequests(1);
    await new Promise((res) => setTimeout(res, 20));
    ac.abort();
    expect(await rejection(p)).toBeInstanceOf(AbortError);
    expect(s.requests).toHaveLength(1);
  });
});
