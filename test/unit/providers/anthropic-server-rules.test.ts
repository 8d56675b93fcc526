/**
 * The Anthropic provider against a double that enforces what the real Messages API
 * refuses (test/helpers/servers/anthropic.ts cites each rule): tool-name patterns,
 * empty turns, the temperature range, retired models, spend limits, refusals and
 * rate-limit headers.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BadRequestError, RateLimitError } from '../../../src/core/errors.js';
import { parseProvidersConfig } from '../../../src/providers/config.js';
import { QuotaError } from '../../../src/providers/errors.js';
import type { ManagedProvider } from '../../../src/providers/managed.js';
import { startAnthropicServer, type AnthropicServer } from '../../helpers/servers/index.js';
import { FAST, collect, registryFor, rejection, textOf } from './helpers.js';

let s: AnthropicServer | undefined;
let dispose: (() => void) | undefined;
const ENV = { TEST_ANTHROPIC_KEY: 'sk-ant-test' };

afterEach(async () => {
  dispose?.();
  dispose = undefined;
  await s?.close();
  s = undefined;
});

async function setup(provider: Record<string, unknown> = {}) {
  s = await startAnthropicServer({ strictModels: true });
  const { registry } = registryFor(
    {
      claude: { url: s.url, api_key: 'env:TEST_ANTHROPIC_KEY', ...FAST, ...provider },
    },
    {},
    ENV,
  );
  dispose = () => registry.dispose();
  return { server: s, registry, chat: registry.get('chat') };
}

type Sent = {
  tools?: { name: string }[];
  messages: { role: string; content: { type: string; name?: string }[] }[];
  temperature?: number;
};

describe('anthropic provider against the real API rules', () => {
  it('maps hub and long tool names to the allowed pattern, in tools and history, and back', async () => {
    const { server, chat } = await setup();
    const long = `server__${'a'.repeat(130)}`;
    server.script('messages', (req) => {
      const sent = (req.body as Sent).tools ?? [];
      return { toolCalls: sent.map((t) => ({ name: t.name, input: {} })) };
    });
    const tools = ['server__fs.read', long].map((name) => ({
      name,
      description: name,
      inputSchema: { type: 'object' },
    }));
    const events = await collect(
      chat.chat({
        messages: [
          { role: 'user', content: 'read it' },
          {
            role: 'assistant',
            content: [{ type: 'tool_call', id: 'toolu_0', name: 'server__fs.read', input: {} }],
          },
          { role: 'tool', content: [{ type: 'tool_result', id: 'toolu_0', content: 'text' }] },
        ],
        tools,
      }),
    );
    expect(events.flatMap((e) => (e.type === 'tool_call' ? [e.name] : []))).toEqual([
      'server__fs.read',
      long,
    ]);
    const sent = server.requestsTo('messages')[0]!.body as Sent;
    const history = sent.messages[1]!.content[0]!.name!;
    expect(history).toBe(sent.tools![0]!.name);
    expect(history).toMatch(/^server__fs_read_[0-9a-f]{8}$/);
  });

  it('drops empty turns and empty text blocks instead of sending content: []', async () => {
    const { server, chat } = await setup();
    const events = await collect(
      chat.chat({
        messages: [
          { role: 'user', content: 'first' },
          { role: 'assistant', content: '' },
          { role: 'user', content: 'second' },
          { role: 'assistant', content: [{ type: 'text', text: '' }] },
          { role: 'user', content: 'third' },
        ],
      }),
    );
    expect(textOf(events)).toBe('Hello from Claude');
    const sent = server.requestsTo('messages')[0]!.body as Sent;
    expect(sent.messages.map((m) => m.role)).toEqual(['user']);
    expect(sent.messages[0]!.content).toHaveLength(3);
  });

  it('keeps temperature within the API range 0..1', async () => {
    const { server, chat } = await setup();
    await collect(chat.chat({ messages: [{ role: 'user', content: 'hi' }], temperature: 1.6 }));
    expect((server.requestsTo('messages')[0]!.body as Sent).temperature).toBe(1);
  });

  it('names current models when the configured one is retired, without retrying', async () => {
    const { server, chat } = await setup({ model: 'claude-3-5-sonnet-20241022' });
    const err = await rejection(
      collect(chat.chat({ messages: [{ role: 'user', content: 'hi' }] })),
    );
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toMatch(/claude-3-5-sonnet-20241022/);
    expect(err.message).toMatch(
      /Pick one of: claude-sonnet-5-5, claude-haiku-5-5, claude-haiku-4-5\./,
    );
    expect(err.message).toMatch(/providers\.claude\.model/);
    expect(server.requestsTo('messages')).toHaveLength(1);
  });

  it('does not retry a spend-limit 429', async () => {
    const { server, chat } = await setup();
    server.enqueue('messages', {
      status: 429,
      retryAfter: 1,
      errorCode: 'enforced_spend_limit_reached',
      errorMessage: 'You have reached your specified API usage limits.',
    });
    const err = await rejection(
      collect(chat.chat({ messages: [{ role: 'user', content: 'hi' }] })),
    );
    expect(err).toBeInstanceOf(QuotaError);
    expect(err.message).toMatch(/enforced_spend_limit_reached/);
    expect(server.requestsTo('messages')).toHaveLength(1);
  });

  it('reads the wait from the rate-limit reset headers when there is no Retry-After', async () => {
    const { server, chat } = await setup({ retry: { max_attempts: 1 } });
    const reset = new Date(Date.now() + 20_000).toISOString();
    server.enqueue('messages', {
      status: 429,
      headers: { 'anthropic-ratelimit-requests-reset': reset },
    });
    const err = await rejection(
      collect(chat.chat({ messages: [{ role: 'user', content: 'hi' }] })),
    );
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).retryAfterMs).toBeGreaterThan(10_000);
  });

  it('says when the model declined to answer', async () => {
    const { server, chat } = await setup();
    server.enqueue('messages', { text: 'I can', refusal: true });
    const events = await collect(chat.chat({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(events.at(-1)).toMatchObject({ type: 'done', stopReason: 'refusal' });
    expect(events.find((e) => e.type === 'notice')).toMatchObject({
      message: expect.stringMatching(/declined to answer/),
    });
  });

  it('lists no retired models and reports what the configured one supports', async () => {
    const { chat } = await setup({ model: 'claude-sonnet-4-5' });
    const ids = (await chat.models()).map((m) => m.id);
    expect(ids).not.toContain('claude-3-5-sonnet-20241022');
    const p = chat as ManagedProvider;
    expect(await p.describe()).toEqual({
      exists: true,
      supports: ['tools', 'vision', 'thinking'],
      note: expect.stringMatching(/^deprecated: pick a current model \(claude-sonnet-5-5/),
    });
    expect(await p.describe('claude-3-5-sonnet-20241022')).toMatchObject({ exists: false });
  });

  it('defaults to models the installed SDK does not list as deprecated', async () => {
    const cfg = parseProvidersConfig({ providers: { claude: {} } }).providers[0]!;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const { chat } = await setup({ model: cfg.settings.model });
      await collect(chat.chat({ messages: [{ role: 'user', content: 'hi' }] }));
      await collect(
        chat.chat({ model: cfg.settings.fimModel!, messages: [{ role: 'user', content: 'hi' }] }),
      );
      // The SDK warns on every request naming a model past its end of life.
      expect(warn.mock.calls.flat().join('\n')).not.toMatch(/deprecated/);
    } finally {
      warn.mockRestore();
    }
  });
});
