/**
 * The fake servers are read correctly by each official SDK (so provider tests exercise the
 * real parsing code), and their faults behave as documented.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Ollama } from 'ollama';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import {
  startAnthropicServer,
  startOllamaServer,
  startOpenAIServer,
  startZekeServer,
} from '../../helpers/servers/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('fake servers with the official SDKs', () => {
  it('ollama: streams chat NDJSON and a FIM generate with suffix', async () => {
    const s = await startOllamaServer();
    cleanups.push(() => s.close());
    const client = new Ollama({ host: s.url });
    s.enqueue('chat', {
      text: ['a', 'b'],
      toolCalls: [{ name: 't', input: { x: 1 } }],
      usage: { input: 4, output: 2 },
    });
    const parts = [];
    for await (const p of await client.chat({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    })) {
      parts.push(p);
    }
    expect(parts.map((p) => p.message.content).join('')).toBe('ab');
    expect(parts.at(-2)?.message.tool_calls?.[0]?.function).toEqual({
      name: 't',
      arguments: { x: 1 },
    });
    expect(parts.at(-1)).toMatchObject({ done: true, prompt_eval_count: 4, eval_count: 2 });
    const g = await client.generate({ model: 'm', prompt: 'p', suffix: 's', stream: false });
    expect(g.response).toBe('x + y');
    expect(s.requestsTo('generate')[0]?.body).toMatchObject({ prompt: 'p', suffix: 's' });
    expect((await client.list()).models.map((m) => m.name)).toContain('llama3.2:latest');
    expect((await client.embed({ model: 'e', input: ['a', 'b'] })).embeddings).toHaveLength(2);
  });

  it('anthropic: streams text and tool_use with usage', async () => {
    const s = await startAnthropicServer();
    cleanups.push(() => s.close());
    const client = new Anthropic({ baseURL: s.url, apiKey: 'k', maxRetries: 0 });
    s.enqueue('messages', {
      text: 'Hello there',
      toolCalls: [{ id: 'toolu_1', name: 'read', input: { path: 'a.txt' } }],
      usage: { input: 12, output: 7 },
    });
    const stream = client.messages.stream({
      model: 'claude-x',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const msg = await stream.finalMessage();
    expect(msg.content).toEqual(
      [
        { type: 'text', text: 'Hello there', citations: null },
        { type: 'tool_use', id: 'toolu_1', name: 'read', input: { path: 'a.txt' } },
      ].map((c) =>
        c.type === 'text' ? expect.objectContaining({ type: 'text', text: c.text }) : c,
      ),
    );
    expect(msg.usage).toMatchObject({ input_tokens: 12, output_tokens: 7 });
    expect(msg.stop_reason).toBe('tool_use');
    const h = s.requests[0]?.headers;
    expect(h?.['x-api-key'] ?? h?.authorization).toMatch(/^(Bearer )?k$/);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('claude-sonnet-4-5');
    s.enqueue('messages', { status: 429, retryAfter: 3 });
    await expect(
      client.messages.create({
        model: 'x',
        max_tokens: 1,
        messages: [{ role: 'user', content: 'a' }],
      }),
    ).rejects.toMatchObject({ status: 429 });
  });

  it('openai: streams chat chunks with tool calls and usage; completions with suffix', async () => {
    const s = await startOpenAIServer();
    cleanups.push(() => s.close());
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'k', maxRetries: 0 });
    s.enqueue('chat', {
      text: 'Hello',
      toolCalls: [{ id: 'call_1', name: 'f', input: { a: [1, 2] } }],
      usage: { input: 9, output: 4 },
    });
    const stream = await client.chat.completions.create({
      model: 'gpt',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let args = '';
    let usage;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      args += c.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('Hello');
    expect(JSON.parse(args)).toEqual({ a: [1, 2] });
    expect(usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 4 });
    s.enqueue('completions', { choices: ['one', 'two'] });
    const c = await client.completions.create({ model: 'x', prompt: 'p', suffix: 's', n: 2 });
    expect(c.choices.map((x) => x.text)).toEqual(['one', 'two']);
    expect(s.requestsTo('completions')[0]?.body).toMatchObject({ prompt: 'p', suffix: 's' });
    const e = await client.embeddings.create({ model: 'e', input: ['a'] });
    expect(e.data[0]?.embedding[0]).toBeCloseTo(0.1);
    expect((await client.models.list()).data.map((m) => m.id)).toContain('gpt-4o-mini');
  });

  it('zeke: answers like zeke serve, as strictly', async () => {
    const s = await startZekeServer();
    cleanups.push(() => s.close());
    const post = async (body: unknown) => {
      const r = await fetch(`${s.url}/api/chat`, { method: 'POST', body: JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    expect(await post({ message: 'hi', model: 'qwen2.5-coder:7b' })).toMatchObject({
      status: 200,
      json: { response: 'Hello from Zeke', tokens_in: 10, provider: 'ollama' },
    });
    // Zig's std.json defaults: an unknown field is an error.
    expect(await post({ message: 'hi', stream: false })).toEqual({
      status: 400,
      json: { error: 'Invalid JSON request' },
    });
    // router.zig: no hint and over 2000 bytes routes to the removed cloud path.
    expect(await post({ message: 'x'.repeat(2001), model: 'qwen2.5-coder:7b' })).toEqual({
      status: 500,
      json: { error: 'Completion request failed', code: 'NoCloudProvider' },
    });
    expect(
      (await post({ message: 'x'.repeat(2001), model: 'qwen2.5-coder:7b', complexity: 'medium' }))
        .status,
    ).toBe(200);
    // zeke's default model is not pulled here.
    expect((await post({ message: 'hi' })).json).toMatchObject({ code: 'OllamaGenerateError' });
    const status = await (await fetch(`${s.url}/api/status`)).json();
    expect(status).not.toHaveProperty('models');
  });

  it('counts a connection closed by the client before the reply ended', async () => {
    const s = await startOpenAIServer();
    cleanups.push(() => s.close());
    s.enqueue('chat', { hang: true });
    const ac = new AbortController();
    const p = fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      body: '{}',
      signal: ac.signal,
    });
    await s.waitForRequests(1);
    ac.abort();
    await expect(p).rejects.toThrow();
    await s.waitForClose(1);
    expect(s.closes).toBe(1);
  });

  it('resets the connection mid-stream', async () => {
    const s = await startOllamaServer();
    cleanups.push(() => s.close());
    s.enqueue('chat', { text: ['a', 'b', 'c'], resetAfter: 2 });
    const client = new Ollama({ host: s.url });
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const p of await client.chat({ model: 'm', messages: [], stream: true })) {
          got.push(p.message.content);
        }
      })(),
    ).rejects.toThrow();
    expect(got).toEqual(['a', 'b']);
    expect(s.closes).toBe(0);
  });
});
