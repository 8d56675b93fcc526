/** What a provider records in the process-wide metrics, through the real SDK and a local server. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metrics, METRICS, statsReport } from '../../../src/core/metrics.js';
import { startOllamaServer, type OllamaServer } from '../../helpers/servers/index.js';
import { FAST, collect, registryFor, rejection } from './helpers.js';

let s: OllamaServer;
let reg: ReturnType<typeof registryFor>['registry'];

const requests = (labels: Record<string, string>) =>
  metrics.counter(METRICS.providerRequests).get(labels);

beforeEach(async () => {
  metrics.reset();
  s = await startOllamaServer();
  reg = registryFor({
    local: { kind: 'ollama', url: s.url, model: 'llama3.2', ...FAST, retry: { max_attempts: 1 } },
  }).registry;
});
afterEach(async () => {
  reg.dispose();
  await s.close();
  metrics.reset();
});

describe('provider metrics', () => {
  it('records time to first token, duration and an ok request for a chat', async () => {
    s.enqueue('chat', { text: ['Hel', 'lo'], firstByteDelayMs: 30, chunkDelayMs: 20 });
    const events = await collect(
      reg.get('chat').chat({ messages: [{ role: 'user', content: 'hi' }] }),
    );
    const done = events.at(-1)!;
    expect(done.type).toBe('done');
    const labels = { provider: 'local', feature: 'chat' };
    const ttft = metrics.histogram(METRICS.providerTtft).get(labels)!;
    const total = metrics.histogram(METRICS.providerDuration).get(labels)!;
    expect(ttft.count).toBe(1);
    expect(total.count).toBe(1);
    // The first token came after the server's first-byte delay (less timer rounding), and the
    // answer ended after it.
    expect(ttft.sum).toBeGreaterThanOrEqual(25);
    expect(total.sum).toBeGreaterThan(ttft.sum);
    // The figure the done event carries is the one recorded.
    expect(done.type === 'done' && done.ttftMs).toBe(ttft.sum);
    expect(requests({ ...labels, outcome: 'ok' })).toBe(1);
    expect(metrics.counter(METRICS.errors).collect()).toEqual([]);

    const row = statsReport().providers.find((p) => p.provider === 'local')!;
    expect(row).toMatchObject({ requests: 1, errors: 0, ttft: { count: 1 }, total: { count: 1 } });
  });

  it('records a failed chat as an error of its type, with no duration', async () => {
    s.enqueue('chat', { status: 400, errorMessage: 'model "nope" not found' });
    const err = await rejection(
      collect(reg.get('chat').chat({ messages: [{ role: 'user', content: 'hi' }] })),
    );
    const code = (err as { code?: string }).code!;
    expect(code).toBeTruthy();
    expect(requests({ provider: 'local', feature: 'chat', outcome: 'error' })).toBe(1);
    expect(metrics.counter(METRICS.errors).get({ type: code, area: 'provider' })).toBe(1);
    expect(metrics.histogram(METRICS.providerDuration).collect()).toEqual([]);
    expect(statsReport().providers[0]).toMatchObject({ provider: 'local', requests: 1, errors: 1 });
  });

  it('records a chat the caller stopped reading, or cancelled, as aborted and not as an error', async () => {
    s.enqueue('chat', { text: ['a', 'b', 'c', 'd'], chunkDelayMs: 20 });
    for await (const ev of reg.get('chat').chat({ messages: [{ role: 'user', content: 'hi' }] })) {
      if (ev.type === 'text') break;
    }
    const ac = new AbortController();
    s.enqueue('chat', { hang: true });
    const stream = reg
      .get('chat')
      .chat({ messages: [{ role: 'user', content: 'hi' }] }, { signal: ac.signal });
    const pending = rejection(collect(stream));
    await s.waitForRequests(2);
    ac.abort(new Error('the user pressed stop'));
    await pending;
    expect(requests({ provider: 'local', feature: 'chat', outcome: 'aborted' })).toBe(2);
    expect(requests({ provider: 'local', feature: 'chat', outcome: 'error' })).toBe(0);
    expect(metrics.counter(METRICS.errors).collect()).toEqual([]);
    // The first one streamed a token before the break: its time to first token counts.
    expect(
      metrics.histogram(METRICS.providerTtft).get({ provider: 'local', feature: 'chat' })?.count,
    ).toBe(1);
  });

  it('records completions under feature "completion", and not the answers served from the cache', async () => {
    reg.dispose();
    reg = registryFor({
      local: { kind: 'ollama', url: s.url, model: 'llama3.2', ...FAST, cache: { max: 10 } },
    }).registry;
    s.script('generate', () => ({ text: 'return a + b', firstByteDelayMs: 10 }));
    const p = reg.get('completion');
    const req = { prefix: 'function add(a, b) {\n  ', suffix: '\n}' };
    expect((await p.complete(req)).map((c) => c.text)).toEqual(['return a + b']);
    expect((await p.complete(req)).map((c) => c.text)).toEqual(['return a + b']);
    expect(s.requestsTo('generate')).toHaveLength(1);
    const labels = { provider: 'local', feature: 'completion' };
    expect(requests({ ...labels, outcome: 'ok' })).toBe(1);
    const ttft = metrics.histogram(METRICS.providerTtft).get(labels)!;
    const total = metrics.histogram(METRICS.providerDuration).get(labels)!;
    expect(ttft.count).toBe(1);
    expect(ttft.sum).toBeGreaterThanOrEqual(8);
    expect(total.sum).toBeGreaterThanOrEqual(ttft.sum);

    s.script('generate', () => ({ status: 500, errorMessage: 'boom' }));
    const err = await rejection(p.complete({ ...req, prefix: 'other' }));
    const code = (err as { code?: string }).code!;
    expect(requests({ ...labels, outcome: 'error' })).toBe(1);
    expect(metrics.counter(METRICS.errors).get({ type: code, area: 'provider' })).toBe(1);
  });
});
