/**
 * The OpenAI-compatible provider against a double that enforces what OpenAI and vLLM
 * refuse (test/helpers/servers/openai.ts cites each rule): tool-name patterns,
 * reasoning-model parameters, native FIM refusals, refusals, billing 429s and
 * rate-limit reset headers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BadRequestError, RateLimitError } from '../../../src/core/errors.js';
import { QuotaError } from '../../../src/providers/errors.js';
import {
  startOpenAIServer,
  type OpenAIServer,
  type OpenAIServerOptions,
} from '../../helpers/servers/index.js';
import { FAST, collect, registryFor, rejection, textOf } from './helpers.js';

let s: OpenAIServer | undefined;
let dispose: (() => void) | undefined;

afterEach(async () => {
  dispose?.();
  dispose = undefined;
  await s?.close();
  s = undefined;
});

async function setup(server: OpenAIServerOptions = {}, provider: Record<string, unknown> = {}) {
  s = await startOpenAIServer(server);
  const { registry, logger } = registryFor({
    local: { kind: 'openai', url: `${s.url}/v1`, model: 'gpt-4o-mini', ...FAST, ...provider },
  });
  dispose = () => registry.dispose();
  return { server: s, registry, logger };
}

type Sent = Record<string, unknown> & {
  tools?: { function: { name: string } }[];
  messages: { role: string; tool_calls?: { function: { name: string } }[] }[];
};

describe('openai provider against the real API rules', () => {
  it('maps tool names with dots or over 64 characters, in tools and history, and back', async () => {
    const { server, registry } = await setup();
    const long = `server__${'b'.repeat(70)}`;
    server.script('chat', (req) => ({
      toolCalls: ((req.body as Sent).tools ?? []).map((t) => ({
        name: t.function.name,
        input: {},
      })),
    }));
    const events = await collect(
      registry.get('chat').chat({
        messages: [
          { role: 'user', content: 'go' },
          {
            role: 'assistant',
            content: [{ type: 'tool_call', id: 'call_1', name: long, input: {} }],
          },
          { role: 'tool', content: [{ type: 'tool_result', id: 'call_1', content: 'ok' }] },
        ],
        tools: ['server__fs.read', long].map((name) => ({
          name,
          description: name,
          inputSchema: { type: 'object' },
        })),
      }),
    );
    expect(events.flatMap((e) => (e.type === 'tool_call' ? [e.name] : []))).toEqual([
      'server__fs.read',
      long,
    ]);
    const sent = server.requestsTo('chat')[0]!.body as Sent;
    expect(sent.messages[1]!.tool_calls![0]!.function.name).toBe(sent.tools![1]!.function.name);
  });

  it('sends max_completion_tokens and no temperature to reasoning models (chat FIM)', async () => {
    const { server, registry } = await setup({}, { model: 'gpt-5-mini', fim: 'chat' });
    server.enqueue('chat', { text: 'a + b' });
    const out = await registry
      .get('completion')
      .complete({ prefix: 'return ', suffix: ';', maxTokens: 64, temperature: 0.2 });
    expect(out).toEqual([{ text: 'a + b' }]);
    const body = server.requestsTo('chat')[0]!.body as Sent;
    expect(body.max_completion_tokens).toBe(64);
    expect(body).not.toHaveProperty('max_tokens');
    expect(body).not.toHaveProperty('temperature');
  });

  it('asks once more with reasoning parameters when an unknown model refuses max_tokens', async () => {
    // A reasoning model behind a name the family check does not know (e.g. a proxy alias).
    const { server, registry } = await setup({}, { model: 'o4-mini' });
    const r = registry.get('chat');
    // Through a router prefix the family is still recognised; an alias is found by the 400.
    await collect(r.chat({ model: 'openai/o3', messages: [], maxTokens: 10 }));
    expect(server.requestsTo('chat')).toHaveLength(1);
    server.script('chat', (req) => {
      const b = req.body as Sent;
      return b.max_tokens !== undefined
        ? {
            status: 400,
            errorCode: 'unsupported_parameter',
            errorMessage:
              "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
          }
        : { text: 'ok' };
    });
    const events = await collect(r.chat({ model: 'my-reasoner', messages: [], maxTokens: 10 }));
    expect(textOf(events)).toBe('ok');
    expect(server.requestsTo('chat')).toHaveLength(3);
  });

  for (const [fim, why] of [
    ['openai', /chat model/],
    ['vllm', /suffix is not currently supported/],
  ] as const) {
    it(`completes through a chat prompt when /v1/completions refuses a suffix (${fim})`, async () => {
      const { server, registry, logger } = await setup(
        { fim },
        { fim: 'native', fim_model: 'code-model' },
      );
      server.enqueue('chat', { text: 'x + y' }, { text: 'x - y' });
      const c = registry.get('completion');
      expect(await c.complete({ prefix: 'return ', suffix: '' })).toEqual([{ text: 'x + y' }]);
      expect(await c.complete({ prefix: 'return ', suffix: '\n' })).toEqual([{ text: 'x - y' }]);
      expect(server.requestsTo('completions')).toHaveLength(1);
      expect(logger.lines.join('\n')).toMatch(why);
    });
  }

  it('shows a refusal streamed as delta.refusal, and says it was one', async () => {
    const { server, registry } = await setup();
    server.enqueue('chat', { refusal: "I'm sorry, I can't help with that." });
    const events = await collect(registry.get('chat').chat({ messages: [] }));
    expect(textOf(events)).toBe("I'm sorry, I can't help with that.");
    expect(events.at(-1)).toMatchObject({ type: 'done', stopReason: 'refusal' });
    expect(events.some((e) => e.type === 'notice')).toBe(true);
  });

  it('names the models the server offers when the model is retired, without retrying', async () => {
    const { server, registry } = await setup({}, { model: 'gpt-4-32k' });
    server.enqueue('models', { models: ['gpt-4o-mini', 'gpt-5-mini'] });
    const err = await rejection(collect(registry.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toMatch(
      /gpt-4-32k .*It offers: gpt-4o-mini, gpt-5-mini\. Set providers\.local\.model/,
    );
    expect(server.requestsTo('chat')).toHaveLength(1);
  });

  it('does not retry insufficient_quota', async () => {
    const { server, registry } = await setup();
    server.enqueue('chat', {
      status: 429,
      errorType: 'insufficient_quota',
      errorCode: 'insufficient_quota',
      errorMessage: 'You exceeded your current quota, please check your plan and billing details.',
    });
    const err = await rejection(collect(registry.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(QuotaError);
    expect(server.requestsTo('chat')).toHaveLength(1);
  });

  it('waits as long as x-ratelimit-reset-* says when there is no Retry-After', async () => {
    const { server, registry } = await setup({}, { retry: { max_attempts: 1 } });
    server.enqueue('chat', {
      status: 429,
      headers: { 'x-ratelimit-reset-requests': '1m30s', 'x-ratelimit-reset-tokens': '250ms' },
    });
    const err = await rejection(collect(registry.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).retryAfterMs).toBe(90_000);
  });
});
