/**
 * Observability as a host module: serves :RuneStats from the process-wide
 * metrics registry, takes the acceptance events the Lua layer reports, and
 * exports the metrics over OTLP/HTTP when `telemetry.otlp_endpoint` is set.
 */
import { z } from 'zod';
import { DisposableStore, toDisposable, type Disposable } from '../core/disposable.js';
import { luaMap, parseSection } from '../core/config.js';
import { metrics, METRICS, statsReport, type StatsReport } from '../core/metrics.js';
import { OtlpExporter } from '../core/otel.js';
import { defineModule } from './module.js';

/** The `telemetry` section of setup() (`:help rune-telemetry`). */
export const telemetryConfigSchema = z.object({
  otlp_endpoint: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .optional()
    .describe('OTLP/HTTP collector URL; metrics are exported when set'),
  otlp_headers: luaMap(z.string())
    .default({})
    .describe('Extra headers for the collector (e.g. authorization)'),
  export_interval_ms: z
    .number()
    .int()
    .min(1000)
    .default(60_000)
    .describe('How often to export, ms'),
});

export type TelemetryConfig = z.output<typeof telemetryConfigSchema>;

export function parseTelemetryConfig(raw: unknown): TelemetryConfig {
  return parseSection('telemetry', telemetryConfigSchema, raw);
}

const ms = (v: number): string =>
  Number.isFinite(v) ? `${v < 10 ? v.toFixed(1) : Math.round(v)} ms` : '-';
const pct = (r: number | null): string => (r === null ? '-' : `${(r * 100).toFixed(1)}%`);

function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map(
    (r) =>
      '  ' +
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
  );
}

/** The lines :RuneStats shows. */
export function formatStats(r: StatsReport): string[] {
  const out = [`Rune stats since ${r.since} (kept in memory while the host runs)`, ''];
  const c = r.completions;
  out.push(
    `Inline completions: ${c.shown} shown, ${c.accepted} accepted, acceptance rate ${pct(c.acceptanceRate)}`,
    '',
  );
  if (r.providers.length) {
    out.push('Providers');
    out.push(
      ...columns([
        [
          'provider',
          'requests',
          'errors',
          'ttft p50',
          'ttft p95',
          'total p50',
          'total p95',
          'accepted',
        ],
        ...r.providers.map((p) => [
          p.provider,
          String(p.requests),
          String(p.errors),
          ms(p.ttft.p50),
          ms(p.ttft.p95),
          ms(p.total.p50),
          ms(p.total.p95),
          p.shown ? `${p.accepted}/${p.shown} ${pct(p.acceptanceRate)}` : '-',
        ]),
      ]),
    );
  } else out.push('No provider requests recorded yet.');
  out.push('');
  if (r.tools.length) {
    out.push('Tools');
    out.push(
      ...columns([
        ['tool', 'calls', 'errors', 'p50', 'p95'],
        ...r.tools.map((t) => [t.tool, String(t.calls), String(t.errors), ms(t.p50), ms(t.p95)]),
      ]),
    );
  } else out.push('No tool calls recorded yet.');
  if (r.errors.length) {
    out.push('', 'Errors');
    out.push(...columns(r.errors.map((e) => [e.type, e.area, String(e.count)])));
  }
  return out;
}

/** NaN (no values) becomes null, which msgpack sends to Lua as nil. */
function plain(r: StatsReport): unknown {
  return JSON.parse(
    JSON.stringify(r, (_k, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? null : v,
    ),
  );
}

const label = z.preprocess(
  (v) => (v === null || v === undefined ? 'unknown' : String(v)),
  z.string(),
);

export const statsModule = defineModule({
  name: 'stats',
  config: (all) => parseTelemetryConfig(all.telemetry),
  activate(ctx): Disposable {
    const { host, config: cfg, logger } = ctx;
    const store = new DisposableStore();
    for (const v of Object.values(cfg.otlp_headers)) logger.addSecret(v);
    let exporter: OtlpExporter | undefined;
    if (cfg.otlp_endpoint) {
      exporter = new OtlpExporter({
        endpoint: cfg.otlp_endpoint,
        headers: cfg.otlp_headers,
        intervalMs: cfg.export_interval_ms,
        registry: metrics,
        logger,
        resource: { 'process.pid': String(process.pid) },
      });
      const exp = exporter;
      store.add(toDisposable(() => void exp.dispose()));
    }
    store.add(host.onRequest('rune.stats.get', () => plain(statsReport())));
    store.add(host.onRequest('rune.stats.lines', () => formatStats(statsReport())));
    store.add(
      host.onRequest('rune.stats.reset', () => {
        metrics.reset();
        return true;
      }),
    );
    store.add(
      host.onRequest('rune.stats.flush', async () => (exporter ? await exporter.flush() : false)),
    );
    // Acceptances of ghost text drawn by others (plugins), from require('rune.stats').accepted;
    // Rune's own ghost text reports through rune.completion.accepted (src/nvim/completion).
    store.add(
      host.onNotification('rune.stats.accepted', ([provider, kind]) => {
        metrics
          .counter(METRICS.completionsAccepted)
          .inc({ provider: label.parse(provider), kind: label.parse(kind ?? 'all') });
      }),
    );
    store.add(
      host.addHealth('telemetry', () => [
        exporter
          ? {
              level: 'ok',
              message: `OTLP export to ${exporter.target} every ${cfg.export_interval_ms} ms (${exporter.sent} sent)`,
            }
          : {
              level: 'info',
              message: 'OTLP export is off (set telemetry.otlp_endpoint to turn it on)',
            },
      ]),
    );
    return store;
  },
});
