/** The Zeke provider (fetch) against a local `zeke serve` look-alike. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, ProviderUnavailableError } from '../../../src/core/errors.js';
import { startZekeServer, type ZekeServer } from '../../helpers/servers/index.js';
import { FAST, collect, registryFor, rejection } from './helpers.js';

let s: ZekeServer;
let reg: ReturnType<typeof registryFor>['registry'];

beforeEach(async () => {
  s = await startZekeServer();
  reg = registryFor({ zeke: { url: s.url, ...FAST } }).registry;
});
afterEach(async () => {
  reg.dispose();
  await s.close();
});

describe('zeke provider', () => {
  it('sends one message and yields the answer with usage', async () => {
    s.enqueue('chat', { text: 'Hi there', usage: { input: 8, output: 2 }, model: 'qwen' });
    const events = await collect(
      reg.get('chat').chat({ messages: [{ role: 'user', content: 'hello' }], maxTokens: 50 }),
    );
    expect(events).toEqual([
      { type: 'text', delta: 'Hi there' },
      expect.objectContaining({
        type: 'done',
        usage: { inputTokens: 8, outputTokens: 2 },
        model: 'qwen',
        stopReason: 'end',
      }),
    ]);
    expect(s.requestsTo('chat')[0]!.body).toEqual({ message: 'hello', max_tokens: 50 });
    expect(reg.usage()[0]).toMatchObject({ provider: 'zeke', inputTokens: 8, outputTokens: 2 });
  });

  it('flattens a conversation into one transcript message', async () => {
    await collect(
      reg.get('chat').chat({
        system: 'terse',
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
          { role: 'user', content: 'c' },
        ],
      }),
    );
    const msg = (s.requestsTo('chat')[0]!.body as { message: string }).message;
    expect(msg).toBe('System: terse\n\nUser: a\n\nAssistant: b\n\nUser: c\n\nAssistant:');
  });

  it('completes through /api/complete with prefix and suffix in the prompt', async () => {
    s.enqueue('complete', { text: 'n + 1' });
    const out = await reg.get('completion').complete({
      prefix: 'return ',
      suffix: ';',
      language: 'lua',
      maxTokens: 16,
    });
    expect(out).toEqual([{ text: 'n + 1' }]);
    const body = s.requestsTo('complete')[0]!.body as Record<string, unknown>;
    expect(body).toMatchObject({ language: 'lua', max_tokens: 16 });
    expect(body.prompt).toContain('return <CURSOR>;');
  });

  it('maps a 500 with the server error text, after retrying', async () => {
    s.script('chat', () => ({ status: 500, errorMessage: 'Completion request failed' }));
    const err = await rejection(collect(reg.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toContain('Completion request failed');
    expect(s.requestsTo('chat')).toHaveLength(3);
  });

  it('cancels a call that hangs, closing the socket', async () => {
    s.enqueue('complete', { hang: true });
    const ac = new AbortController();
    const p = reg.get('completion').complete({ prefix: 'a', suffix: 'b' }, { signal: ac.signal });
    await s.waitForRequests(1);
    ac.abort();
    expect(await rejection(p)).toBeInstanceOf(AbortError);
    await s.waitForClose(1);
  });

  it('lists models from /api/status and probes /health', async () => {
    expect(await reg.get('chat').models()).toEqual([{ id: 'qwen2.5-coder:7b', provider: 'zeke' }]);
    expect(await reg.managed('zeke').probe()).toMatch(/reachable.*status ok, version 0\.2\.8/);
  });
});
