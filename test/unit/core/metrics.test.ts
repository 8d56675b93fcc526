import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { METRICS, MetricsRegistry, quantile, statsReport } from '../../../src/core/metrics.js';
import { OtlpExporter, otlpPayload } from '../../../src/core/otel.js';
import { createMemoryLogger } from '../../../src/core/log.js';

describe('metrics', () => {
  it('counts per label set, whatever order the labels were written in', () => {
    const reg = new MetricsRegistry();
    const c = reg.counter('calls');
    c.inc({ tool: 'a', outcome: 'ok' });
    c.inc({ outcome: 'ok', tool: 'a' });
    c.inc({ tool: 'b', outcome: 'ok' }, 3);
    c.inc();
    expect(c.get({ tool: 'a', outcome: 'ok' })).toBe(2);
    expect(c.get({ outcome: 'ok', tool: 'b' })).toBe(3);
    expect(c.get()).toBe(1);
    expect(c.collect()).toHaveLength(3);
  });

  it('returns the same metric for the same name and refuses a kind clash', () => {
    const reg = new MetricsRegistry();
    expect(reg.counter('x')).toBe(reg.counter('x'));
    expect(() => reg.histogram('x')).toThrow(/is a counter/);
  });

  it('keeps count, sum, min, max, buckets and quantiles of a histogram', () => {
    const reg = new MetricsRegistry();
    const h = reg.histogram('lat', { buckets: [10, 100] });
    for (let v = 1; v <= 200; v++) h.observe(v, { p: 'x' });
    h.observe(NaN, { p: 'x' });
    const s = h.get({ p: 'x' })!;
    expect(s.count).toBe(200);
    expect(s.sum).toBe((200 * 201) / 2);
    expect([s.min, s.max]).toEqual([1, 200]);
    expect(s.bucketCounts).toEqual([10, 90, 100]);
    expect(s.p50).toBe(100);
    expect(s.p95).toBe(190);
  });

  it('computes quantiles over the most recent 1024 values', () => {
    const reg = new MetricsRegistry();
    const h = reg.histogram('lat');
    for (let i = 0; i < 5000; i++) h.observe(1000);
    for (let i = 0; i < 1024; i++) h.observe(5);
    expect(h.get()!.p95).toBe(5);
    expect(h.get()!.count).toBe(6024);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('times with startTimer', async () => {
    const reg = new MetricsRegistry();
    const stop = reg.histogram('t').startTimer({ a: '1' });
    await new Promise((r) => setTimeout(r, 5));
    const ms = stop();
    expect(ms).toBeGreaterThan(0);
    expect(reg.histogram('t').get({ a: '1' })!.sum).toBe(ms);
  });

  it('reports acceptance rate, p50/p95 per provider, tools and errors', () => {
    const reg = new MetricsRegistry();
    const ttft = reg.histogram(METRICS.providerTtft);
    const total = reg.histogram(METRICS.providerDuration);
    for (let i = 1; i <= 100; i++) {
      ttft.observe(i, { provider: 'ollama', feature: i % 2 ? 'chat' : 'completion' });
      total.observe(i * 10, { provider: 'ollama', feature: 'chat' });
      reg.counter(METRICS.providerRequests).inc({ provider: 'ollama', outcome: 'ok' });
    }
    reg.counter(METRICS.providerRequests).inc({ provider: 'claude', outcome: 'error' });
    reg.counter(METRICS.completionsShown).inc({ provider: 'ollama' }, 8);
    reg.counter(METRICS.completionsAccepted).inc({ provider: 'ollama', kind: 'all' }, 2);
    reg.counter(METRICS.toolCalls).inc({ tool: 'read', outcome: 'ok' }, 4);
    reg.counter(METRICS.toolCalls).inc({ tool: 'read', outcome: 'error' });
    reg.histogram(METRICS.toolDuration).observe(7, { tool: 'read' });
    reg.counter(METRICS.errors).inc({ type: 'timeout', area: 'provider' }, 2);

    const r = statsReport(reg);
    const o = r.providers.find((p) => p.provider === 'ollama')!;
    expect(o.requests).toBe(100);
    expect(o.ttft).toEqual({ count: 100, p50: 50, p95: 95 });
    expect(o.total.p50).toBe(500);
    expect(o.acceptanceRate).toBe(0.25);
    const c = r.providers.find((p) => p.provider === 'claude')!;
    expect([c.requests, c.errors, c.acceptanceRate]).toEqual([1, 1, null]);
    expect(r.completions).toEqual({ shown: 8, accepted: 2, acceptanceRate: 0.25 });
    expect(r.tools).toEqual([{ tool: 'read', calls: 5, errors: 1, p50: 7, p95: 7 }]);
    expect(r.errors).toEqual([{ type: 'timeout', area: 'provider', count: 2 }]);
  });
});

describe('OTLP/HTTP JSON export', () => {
  const servers: http.Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  async function collector(status = 200) {
    const received: { url: string; headers: http.IncomingHttpHeaders; body: unknown }[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          url: req.url ?? '',
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        });
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    return { received, url: `http://127.0.0.1:${port}` };
  }

  it('posts counters as cumulative sums and histograms with explicit buckets', async () => {
    const { received, url } = await collector();
    const reg = new MetricsRegistry();
    reg.counter('rune_tool_calls_total', 'tool calls').inc({ tool: 'read' }, 3);
    reg.histogram('rune_provider_ttft_ms', { buckets: [10, 100] }).observe(42, { provider: 'o' });
    const exp = new OtlpExporter({
      endpoint: url,
      registry: reg,
      intervalMs: 0,
      headers: { authorization: 'Bearer abc' },
    });
    expect(await exp.flush()).toBe(true);
    expect(received).toHaveLength(1);
    const r = received[0]!;
    expect(r.url).toBe('/v1/metrics');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers.authorization).toBe('Bearer abc');
    const rm = (r.body as { resourceMetrics: any[] }).resourceMetrics[0]; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON read back from the wire
    expect(rm.resource.attributes).toContainEqual({
      key: 'service.name',
      value: { stringValue: 'rune' },
    });
    const ms = rm.scopeMetrics[0].metrics;
    const sum = ms.find((m: { name: string }) => m.name === 'rune_tool_calls_total');
    expect(sum.sum.isMonotonic).toBe(true);
    expect(sum.sum.aggregationTemporality).toBe(2);
    expect(sum.sum.dataPoints[0].asDouble).toBe(3);
    expect(sum.sum.dataPoints[0].attributes).toEqual([
      { key: 'tool', value: { stringValue: 'read' } },
    ]);
    const hist = ms.find((m: { name: string }) => m.name === 'rune_provider_ttft_ms');
    const p = hist.histogram.dataPoints[0];
    expect(p.count).toBe('1');
    expect(p.sum).toBe(42);
    expect(p.bucketCounts).toEqual(['0', '1', '0']);
    expect(p.explicitBounds).toEqual([10, 100]);
    expect(BigInt(p.timeUnixNano) >= BigInt(p.startTimeUnixNano)).toBe(true);
    await exp.dispose();
    expect(received).toHaveLength(2);
  });

  it('accepts a full /v1/metrics URL and logs a failing collector once', async () => {
    const { received, url } = await collector(503);
    const logger = createMemoryLogger();
    const exp = new OtlpExporter({
      endpoint: `${url}/v1/metrics`,
      registry: new MetricsRegistry(),
      intervalMs: 0,
      logger,
    });
    expect(exp.target).toBe(`${url}/v1/metrics`);
    expect(await exp.flush()).toBe(false);
    expect(await exp.flush()).toBe(false);
    expect(received).toHaveLength(2);
    expect(logger.lines.filter((l) => l.includes('OTLP export failed'))).toHaveLength(1);
    expect(
      () => new OtlpExporter({ endpoint: 'ftp://x', registry: new MetricsRegistry() }),
    ).toThrow(/http/);
  });

  it('exports on its interval', async () => {
    const { received, url } = await collector();
    const reg = new MetricsRegistry();
    reg.counter('c').inc();
    const exp = new OtlpExporter({ endpoint: url, registry: reg, intervalMs: 20 });
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (received.length >= 2) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
    await exp.dispose();
    expect(received.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(otlpPayload(reg))).toContain('"name":"c"');
  });
});
