/**
 * Ollama fill-in-the-middle through node:http (src/providers/http-lines.ts) against the
 * wire-faithful server: what the `ollama` package did for this request, this path does too.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, ProviderUnavailableError, TimeoutError } from '../../../src/core/errors.js';
import { ModelNotPulledError } from '../../../src/providers/errors.js';
import { createProviderRegistry } from '../../../src/providers/registry.js';
import { parseProvidersConfig } from '../../../src/providers/config.js';
import { createMemoryLogger } from '../../../src/core/log.js';
import { startOllamaServer, type OllamaServer } from '../../helpers/servers/index.js';
import { FAST, registryFor, rejection } from './helpers.js';

let s: OllamaServer;
let reg: ReturnType<typeof registryFor>['registry'];
const fim = { prefix: 'function add(a, b) {\n  return ', suffix: ';\n}' };

beforeEach(async () => {
  s = await startOllamaServer();
  reg = registryFor({ ollama: { url: s.url, model: 'qwen2.5-coder:1.5b', ...FAST } }).registry;
});
afterEach(async () => {
  reg.dispose();
  await s.close();
});

describe('ollama completion over node:http', () => {
  it('joins deltas split across chunks, multi-byte characters included, and counts usage', async () => {
    s.enqueue('generate', {
      text: ['a ', 'é', '✓ + ', 'b'],
      chunkDelayMs: 5,
      usage: { input: 12, output: 4 },
    });
    expect(await reg.get('completion').complete({ ...fim, maxTokens: 8 })).toEqual([
      { text: 'a é✓ + b' },
    ]);
    const sent = s.requestsTo('generate')[0]!;
    expect(sent.body).toEqual({
      model: 'qwen2.5-coder:1.5b',
      prompt: fim.prefix,
      suffix: fim.suffix,
      stream: true,
      think: false,
      options: { num_predict: 8 },
    });
    expect(sent.headers['content-type']).toBe('application/json');
    expect(reg.usage()).toContainEqual(
      expect.objectContaining({ provider: 'ollama', inputTokens: 12, outputTokens: 4 }),
    );
  });

  it('sends the configured headers and the API key as a bearer', async () => {
    const r = registryFor(
      {
        ollama: {
          url: s.url,
          api_key: 'env:OLLAMA_TEST_KEY',
          headers: { 'X-Team': 'editors' },
          ...FAST,
        },
      },
      {},
      { OLLAMA_TEST_KEY: 'sk-test-1' },
    ).registry;
    await r.get('completion').complete(fim);
    const h = s.requestsTo('generate')[0]!.headers;
    expect(h.authorization).toBe('Bearer sk-test-1');
    expect(h['x-team']).toBe('editors');
    r.dispose();
  });

  it('reports an error line inside the stream as a typed error; nothing was shown, so it is retried', async () => {
    const r = registryFor({ ollama: { url: s.url, retry: { max_attempts: 1 } } }).registry;
    s.enqueue('generate', { text: ['a'], streamError: true });
    const err = await rejection(r.get('completion').complete(fim));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toContain('model runner has unexpectedly stopped');
    r.dispose();
    s.enqueue('generate', { text: ['a'], streamError: true }, { text: 'ok' });
    expect(await reg.get('completion').complete(fim)).toEqual([{ text: 'ok' }]);
    expect(s.requestsTo('generate')).toHaveLength(3);
  });

  it('reports a malformed line as an unreadable reply and closes the connection', async () => {
    const r = registryFor({ ollama: { url: s.url, retry: { max_attempts: 1 } } }).registry;
    s.enqueue('generate', { text: ['a', 'b'], malformedAt: 1, chunkDelayMs: 20 });
    const err = await rejection(r.get('completion').complete(fim));
    r.dispose();
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toMatch(/could not read/);
    await s.waitForClose(1);
  });

  it('says the connection failed when it resets in the middle of the answer', async () => {
    const r = registryFor({ ollama: { url: s.url, retry: { max_attempts: 1 } } }).registry;
    s.enqueue('generate', { text: ['a', 'b', 'c'], resetAfter: 1 });
    const err = await rejection(r.get('completion').complete(fim));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toMatch(/connection/i);
    r.dispose();
  });

  it('closes the connection when the signal aborts before the headers and in the middle', async () => {
    s.enqueue('generate', { hang: true });
    const ac = new AbortController();
    const p = reg.get('completion').complete(fim, { signal: ac.signal });
    await s.waitForRequests(1);
    ac.abort();
    expect(await rejection(p)).toBeInstanceOf(AbortError);
    await s.waitForClose(1);

    s.enqueue('generate', { text: ['a', 'b', 'c'], stallAt: 1 });
    const ac2 = new AbortController();
    const p2 = reg.get('completion').complete(fim, { signal: ac2.signal });
    await s.waitForRequests(2);
    setTimeout(() => ac2.abort(), 30);
    expect(await rejection(p2)).toBeInstanceOf(AbortError);
    await s.waitForClose(2);
  });

  it('retries a 503 that came before any token', async () => {
    s.enqueue('generate', { status: 503, errorMessage: 'loading model' }, { text: 'ok' });
    expect(await reg.get('completion').complete(fim)).toEqual([{ text: 'ok' }]);
    expect(s.requestsTo('generate')).toHaveLength(2);
  });

  it('names a model that is not pulled (404 with the server message)', async () => {
    const strict = await startOllamaServer({ strictModels: true, catalog: {} });
    const r = registryFor({ ollama: { url: strict.url, ...FAST } }).registry;
    const err = await rejection(r.get('completion').complete(fim));
    expect(err).toBeInstanceOf(ModelNotPulledError);
    expect(err.message).toMatch(
      /has no model "qwen2.5-coder:1.5b": pull it with :RunePull qwen2.5-coder:1.5b/,
    );
    r.dispose();
    await strict.close();
  });

  it('times out silence before the first line as first_token and closes the socket', async () => {
    const r = registryFor({
      ollama: {
        url: s.url,
        timeouts: { connect_ms: 20, first_token_ms: 80 },
        retry: { max_attempts: 1 },
      },
    }).registry;
    s.enqueue('generate', { firstByteDelayMs: 5000 });
    const err = await rejection(r.get('completion').complete(fim));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('first_token');
    await s.waitForClose(1);
    r.dispose();
  });

  it('says where it tried to connect when nothing listens', async () => {
    const url = s.url;
    await s.close();
    const r = registryFor({ ollama: { url, retry: { max_attempts: 1 } } }).registry;
    const err = await rejection(r.get('completion').complete(fim));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect(err.message).toContain(url);
    expect(err.message).toMatch(/connection refused/);
    r.dispose();
    s = await startOllamaServer();
  });

  it('answers the same through a fetch of the caller (the SDK path)', async () => {
    const seen: string[] = [];
    const r = createProviderRegistry(
      parseProvidersConfig({ providers: { ollama: { url: s.url, retry: { max_attempts: 1 } } } }),
      {
        logger: createMemoryLogger(),
        env: {},
        fetch: (input, init) => {
          seen.push(String(input));
          return fetch(input, init);
        },
      },
    );
    s.enqueue('generate', { text: ['a ', 'é✓'], usage: { input: 3, output: 2 } });
    expect(await r.get('completion').complete(fim)).toEqual([{ text: 'a é✓' }]);
    expect(seen).toEqual([`${s.url}/api/generate`]);
    s.enqueue('generate', { text: ['a'], streamError: true });
    expect(await rejection(r.get('completion').complete(fim))).toBeInstanceOf(
      ProviderUnavailableError,
    );
    r.dispose();
  });
});
