/** The Anthropic provider with `@anthropic-ai/sdk` against a wire-faithful local server. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AbortError,
  AuthError,
  BadRequestError,
  ProviderUnavailableError,
  RateLimitError,
  TimeoutError,
} from '../../../src/core/errors.js';
import { startAnthropicServer, type AnthropicServer } from '../../helpers/servers/index.js';
import { waitFor } from '../../helpers/nvim.js';
import { FAST, collect, registryFor, rejection, textOf } from './helpers.js';

let s: AnthropicServer;
let reg: ReturnType<typeof registryFor>['registry'];
const ENV = { TEST_ANTHROPIC_KEY: 'sk-ant-test' };

beforeEach(async () => {
  s = await startAnthropicServer();
  reg = registryFor(
    { claude: { url: s.url, api_key: 'env:TEST_ANTHROPIC_KEY', ...FAST } },
    {},
    ENV,
  ).registry;
});
afterEach(async () => {
  reg.dispose();
  await s.close();
});

describe('anthropic provider', () => {
  it('streams text and tool_use with the usage the server sent', async () => {
    s.enqueue('messages', {
      text: ['Let me ', 'look'],
      toolCalls: [{ id: 'toolu_1', name: 'read_file', input: { path: 'src/a.ts', n: [1, 2] } }],
      usage: { input: 120, output: 17 },
    });
    const events = await collect(
      reg.get('chat').chat({
        model: 'claude-test',
        system: 'sys',
        messages: [{ role: 'user', content: 'read it' }],
        tools: [{ name: 'read_file', description: 'Reads', inputSchema: { type: 'object' } }],
        maxTokens: 100,
      }),
    );
    expect(textOf(events)).toBe('Let me look');
    expect(events.filter((e) => e.type === 'tool_call')).toEqual([
      {
        type: 'tool_call',
        id: 'toolu_1',
        name: 'read_file',
        input: { path: 'src/a.ts', n: [1, 2] },
      },
    ]);
    expect(events.at(-1)).toMatchObject({
      type: 'done',
      usage: { inputTokens: 120, outputTokens: 17 },
      stopReason: 'tool_use',
      model: 'claude-test',
    });
    const req = s.requestsTo('messages')[0]!;
    expect(req.headers.authorization ?? req.headers['x-api-key']).toMatch(/sk-ant-test/);
    expect(req.body).toMatchObject({
      model: 'claude-test',
      system: 'sys',
      max_tokens: 100,
      stream: true,
      tools: [{ name: 'read_file', description: 'Reads', input_schema: { type: 'object' } }],
    });
  });

  it('sends images, tool calls and tool results as content blocks, merging turns', async () => {
    await collect(
      reg.get('chat').chat({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', mediaType: 'image/png', data: 'iVBOR' },
              { type: 'text', text: 'describe' },
            ],
          },
          {
            role: 'assistant',
            content: [{ type: 'tool_call', id: 't1', name: 'ls', input: { dir: '.' } }],
          },
          {
            role: 'tool',
            content: [{ type: 'tool_result', id: 't1', content: 'a', isError: true }],
          },
          { role: 'user', content: 'and?' },
        ],
      }),
    );
    expect((s.requestsTo('messages')[0]!.body as { messages: unknown }).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } },
          { type: 'text', text: 'describe' },
        ],
      },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 't1', name: 'ls', input: { dir: '.' } }],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: 'a', is_error: true },
          { type: 'text', text: 'and?' },
        ],
      },
    ]);
  });

  it('sums usage per provider and model over several calls', async () => {
    s.enqueue('messages', { text: 'a', usage: { input: 5, output: 2 } });
    s.enqueue('messages', { text: 'b', usage: { input: 7, output: 3 } });
    s.enqueue('messages', { status: 400 });
    await collect(reg.get('chat').chat({ model: 'm1', messages: [] }));
    await collect(reg.get('chat').chat({ model: 'm1', messages: [] }));
    await rejection(collect(reg.get('chat').chat({ model: 'm1', messages: [] })));
    const [row] = reg.usage();
    expect(row).toMatchObject({
      provider: 'claude',
      model: 'm1',
      requests: 3,
      errors: 1,
      inputTokens: 12,
      outputTokens: 5,
    });
    expect(typeof row?.ttftMsP50).toBe('number');
  });

  it('completes in the middle through a chat prompt holding prefix and suffix', async () => {
    s.enqueue('messages', { text: '```ts\nreturn a + b;\n```' });
    const out = await reg.get('completion').complete({
      prefix: 'function add(a, b) {\n  ',
      suffix: '\n}',
      language: 'typescript',
      filename: 'add.ts',
    });
    expect(out).toEqual([{ text: 'return a + b;' }]);
    const body = s.requestsTo('messages')[0]!.body as {
      model: string;
      system: string;
      messages: { content: { text: string }[] }[];
    };
    expect(body.model).toBe('claude-haiku-5-5');
    expect(body.system).toMatch(/code completion/);
    expect(body.messages[0]!.content[0]!.text).toContain('function add(a, b) {\n  <CURSOR>\n}');
  });

  it('honours Retry-After on 429 before retrying', async () => {
    s.enqueue('messages', { status: 429, retryAfter: 1 }, { text: 'ok' });
    const events = await collect(reg.get('chat').chat({ messages: [] }));
    expect(textOf(events)).toBe('ok');
    const [a, b] = s.requestsTo('messages');
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(950);
  });

  it('gives a RateLimitError saying when to retry once attempts run out', async () => {
    const r = registryFor(
      { claude: { url: s.url, api_key: 'env:K', retry: { max_attempts: 1 } } },
      {},
      { K: 'k' },
    ).registry;
    s.enqueue('messages', { status: 429, retryAfter: 30 });
    const err = await rejection(collect(r.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).retryAfterMs).toBe(30_000);
    expect(err.message).toMatch(/in 30 s/);
    r.dispose();
  });

  it('fails at once when Retry-After is longer than max_retry_after_ms', async () => {
    const r = registryFor(
      { claude: { url: s.url, api_key: 'env:K', retry: { max_retry_after_ms: 1000 } } },
      {},
      { K: 'k' },
    ).registry;
    s.enqueue('messages', { status: 429, retryAfter: 120 });
    expect(await rejection(collect(r.get('chat').chat({ messages: [] })))).toBeInstanceOf(
      RateLimitError,
    );
    expect(s.requests).toHaveLength(1);
    r.dispose();
  });

  it('does not retry 401 and names the key to fix', async () => {
    s.enqueue('messages', { status: 401, errorMessage: 'invalid x-api-key' });
    const err = await rejection(collect(reg.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toContain('providers.claude.api_key');
    expect(s.requests).toHaveLength(1);
  });

  it('does not retry 400', async () => {
    s.enqueue('messages', { status: 400, errorMessage: 'max_tokens: too large' });
    const err = await rejection(collect(reg.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toContain('max_tokens: too large');
    expect(s.requests).toHaveLength(1);
  });

  it('uses the key stored by :RuneAuth when the variable is not set, and says so when neither is', async () => {
    const { createMemoryLogger } = await import('../../../src/core/log.js');
    const { parseProvidersConfig } = await import('../../../src/providers/config.js');
    const { createProviderRegistry } = await import('../../../src/providers/registry.js');
    const stored = new Map<string, string>();
    const secrets = { get: async (name: string) => stored.get(name) };
    const make = () =>
      createProviderRegistry(parseProvidersConfig({ providers: { claude: { url: s.url } } }), {
        logger: createMemoryLogger(),
        env: {},
        secrets,
        storedKeyAccount: (id) => `api-key/${id}`,
      });
    const none = make();
    const err = await rejection(collect(none.get('chat').chat({ messages: [] })));
    expect(err.message).toContain('ANTHROPIC_API_KEY');
    expect(err.message).toContain(':RuneAuth claude');
    none.dispose();

    stored.set('api-key/claude', 'sk-stored-key');
    s.enqueue('messages', { text: 'ok' });
    const r = make();
    await collect(r.get('chat').chat({ messages: [{ role: 'user', content: 'hi' }] }));
    const h = s.requests.at(-1)!.headers;
    expect(h.authorization ?? h['x-api-key']).toMatch(/sk-stored-key/);
    r.dispose();
  });

  it('reports a missing key without sending anything, naming the variable', async () => {
    const r = registryFor({ claude: { url: s.url } }, {}, {}).registry;
    const err = await rejection(collect(r.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toContain('ANTHROPIC_API_KEY');
    expect(s.requests).toHaveLength(0);
    r.dispose();
  });

  it('reads the key from a command run without a shell', async () => {
    const r = registryFor(
      {
        claude: {
          url: s.url,
          api_key: `cmd:${process.execPath} -e "process.stdout.write('from-cmd $HOME')"`,
        },
      },
      {},
      {},
    ).registry;
    await collect(r.get('chat').chat({ messages: [] }));
    const h = s.requests[0]!.headers;
    expect(h.authorization ?? h['x-api-key']).toMatch(/from-cmd \$HOME/);
    r.dispose();
  });

  it('maps an error event inside the stream to a typed error without retrying', async () => {
    s.enqueue('messages', { text: ['a'], streamError: true });
    const err = await rejection(collect(reg.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toMatch(/Overloaded/);
    expect(s.requests).toHaveLength(1);
  });

  it('times out when no token comes after the headers, and closes the socket', async () => {
    const r = registryFor(
      {
        claude: {
          url: s.url,
          api_key: 'env:K',
          timeouts: { first_token_ms: 100 },
          retry: { max_attempts: 1 },
        },
      },
      {},
      { K: 'k' },
    ).registry;
    s.enqueue('messages', { text: ['late'], stallAt: 2 });
    const err = await rejection(collect(r.get('chat').chat({ messages: [] })));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('first_token');
    await s.waitForClose(1);
    r.dispose();
  });

  it('closes the connection when the consumer breaks mid-stream', async () => {
    s.enqueue('messages', { text: ['a', 'b', 'c', 'd', 'e'], chunkDelayMs: 30 });
    let n = 0;
    for await (const e of reg.get('chat').chat({ messages: [] })) {
      if (e.type === 'text' && ++n === 2) break;
    }
    await s.waitForClose(1);
    expect(s.closes).toBe(1);
  });

  it('lists models, and offers no embeddings (the API has none)', async () => {
    expect(reg.get('chat').embed).toBeUndefined();
    const models = await reg.get('chat').models();
    // Retired models stay in the API's catalogue but are not offered.
    expect(models).toEqual([
      { id: 'claude-sonnet-5-5', provider: 'claude' },
      { id: 'claude-haiku-5-5', provider: 'claude' },
      { id: 'claude-haiku-4-5', provider: 'claude' },
      { id: 'claude-sonnet-4-5', provider: 'claude' },
    ]);
  });

  it('aborting mid-stream is a cancellation, not a broken server', async () => {
    const r = registryFor(
      { claude: { url: s.url, api_key: 'k', ...FAST, breaker: { failures: 1 } } },
      {},
      {},
    ).registry;
    s.enqueue('messages', { text: ['a', 'b', 'c', 'd', 'e', 'f'], chunkDelayMs: 50 });
    const ac = new AbortController();
    const err = await rejection(
      (async () => {
        for await (const ev of r
          .get('chat')
          .chat({ messages: [{ role: 'user', content: 'x' }] }, { signal: ac.signal })) {
          if (ev.type === 'text') ac.abort();
        }
      })(),
    );
    expect(err).toBeInstanceOf(AbortError);
    s.enqueue('messages', { text: ['a', 'b', 'c', 'd', 'e', 'f'], chunkDelayMs: 50 });
    const ac2 = new AbortController();
    const p = r.get('completion').complete({ prefix: 'a', suffix: 'b' }, { signal: ac2.signal });
    // Aborted while the answer streams.
    await waitFor(() => s.requestsTo('messages').length === 2, 5000, 'the second request');
    ac2.abort();
    expect(await rejection(p)).toBeInstanceOf(AbortError);
    expect(r.usage().every((u) => u.errors === 0)).toBe(true);
    expect(r.list()[0]!.state.circuit).toBe('closed');
    r.dispose();
  });
});
