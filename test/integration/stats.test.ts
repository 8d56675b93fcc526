import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startNvim, waitFor } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import { metrics, METRICS } from '../../src/core/metrics.js';
import { statsModule } from '../../src/nvim/stats.js';

/** A local OTLP/HTTP collector that keeps what it received. */
async function collector() {
  const bodies: { url: string; auth: string | undefined; json: unknown }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({
        url: req.url ?? '',
        auth: req.headers.authorization,
        json: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { bodies, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const servers: http.Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

describe(':RuneStats', () => {
  it('shows acceptance rate and p50/p95 per provider from recorded events, and exports them over OTLP', async () => {
    const c = await collector();
    servers.push(c.server);
    const t = await startNvim();
    await t.lua(
      `require('rune').setup({ telemetry = { otlp_endpoint = ..., otlp_headers = { authorization = 'Bearer s3cret-token' } } })`,
      [c.url],
    );
    const host = await startInProcessHost(t, [statsModule]);
    metrics.reset();

    // Real events through the metrics API, as providers and the completion engine record them.
    const ttft = metrics.histogram(METRICS.providerTtft);
    const total = metrics.histogram(METRICS.providerDuration);
    const requests = metrics.counter(METRICS.providerRequests);
    for (let i = 1; i <= 20; i++) {
      ttft.observe(i * 10, { provider: 'ollama', feature: 'completion' });
      total.observe(i * 100, { provider: 'ollama', feature: 'completion' });
      requests.inc({ provider: 'ollama', feature: 'completion', outcome: 'ok' });
    }
    ttft.observe(300, { provider: 'claude', feature: 'chat' });
    total.observe(4000, { provider: 'claude', feature: 'chat' });
    requests.inc({ provider: 'claude', feature: 'chat', outcome: 'ok' });
    requests.inc({ provider: 'claude', feature: 'chat', outcome: 'error' });
    metrics.counter(METRICS.errors).inc({ type: 'rate_limited', area: 'provider' });
    metrics.counter(METRICS.completionsShown).inc({ provider: 'ollama' }, 8);
    metrics.counter(METRICS.toolCalls).inc({ tool: 'read_file', outcome: 'ok' }, 3);
    metrics.histogram(METRICS.toolDuration).observe(12, { tool: 'read_file' });
    // Acceptances come from Lua, where ghost text is accepted without a round trip.
    await t.lua(`
      local stats = require('rune.stats')
      stats.accepted('ollama', 'all')
      stats.accepted('ollama', 'word')
    `);
    await waitFor(
      () =>
        metrics.counter(METRICS.completionsAccepted).get({ provider: 'ollama', kind: 'word' }) ===
        1,
      5000,
      'the acceptance notifications',
    );

    await t.nvim.command('RuneStats');
    const lines = await t.lua<string[]>(
      'return vim.api.nvim_buf_get_lines(vim.fn.bufnr("rune://stats"), 0, -1, false)',
    );
    const text = lines.join('\n');
    expect(text).toContain('Inline completions: 8 shown, 2 accepted, acceptance rate 25.0%');
    const row = (name: string) =>
      lines
        .find((l) => l.trim().startsWith(name + ' '))!
        .trim()
        .split(/\s{2,}/);
    expect(row('ollama')).toEqual([
      'ollama',
      '20',
      '0',
      '100 ms',
      '190 ms',
      '1000 ms',
      '1900 ms',
      '2/8 25.0%',
    ]);
    expect(row('claude')).toEqual([
      'claude',
      '2',
      '1',
      '300 ms',
      '300 ms',
      '4000 ms',
      '4000 ms',
      '-',
    ]);
    expect(row('read_file')).toEqual(['read_file', '3', '0', '12 ms', '12 ms']);
    expect(text).toMatch(/rate_limited\s+provider\s+1/);
    expect(await t.lua('return vim.bo.filetype')).toBe('runestats');

    const report = await t.lua<{
      providers: { provider: string; acceptanceRate: number | null }[];
    }>('return require("rune.host").request("rune.stats.get")');
    expect(report.providers.find((p) => p.provider === 'ollama')!.acceptanceRate).toBe(0.25);

    expect(await t.lua('return require("rune.host").request("rune.stats.flush")')).toBe(true);
    const last = c.bodies.at(-1)!;
    expect(last.url).toBe('/v1/metrics');
    expect(last.auth).toBe('Bearer s3cret-token');
    const names = JSON.stringify(last.json);
    expect(names).toContain('"rune_provider_ttft_ms"');
    expect(names).toContain('"rune_completions_accepted_total"');
    expect(host.logLines.join('\n')).not.toContain('s3cret-token');

    const sections = await t.lua<{ name: string; items: { message: string }[] }[]>(
      'return require("rune.host").request("rune.health")',
    );
    expect(sections.find((s) => s.name === 'telemetry')!.items[0]!.message).toContain(
      `OTLP export to ${c.url}/v1/metrics`,
    );

    await t.nvim.command('RuneStats reset');
    await t.nvim.command('RuneStats');
    const after = await t.lua<string[]>(
      'return vim.api.nvim_buf_get_lines(vim.fn.bufnr("rune://stats"), 0, -1, false)',
    );
    expect(after).toContain('No provider requests recorded yet.');
    expect(after.join('\n')).toContain('0 shown, 0 accepted, acceptance rate -');
  });

  it('refuses a telemetry endpoint that is not an http(s) URL, naming the key', async () => {
    const t = await startNvim();
    await t.lua(`require('rune').setup({ telemetry = { otlp_endpoint = 'ftp://x' } })`);
    const host = await startInProcessHost(t, [statsModule]);
    expect(host.status().modules).toEqual([]);
    expect(host.logLines.join('\n')).toContain('telemetry.otlp_endpoint');
  });
});
