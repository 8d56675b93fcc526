/**
 * OpenTelemetry export of the host's metrics over OTLP/HTTP with the JSON
 * encoding (POST <endpoint>/v1/metrics), for users who configure a collector.
 *
 * Hand-written rather than built on @opentelemetry/sdk-metrics: that SDK and
 * its exporter are several packages Rune does not otherwise need, while the
 * wire format for cumulative sums and explicit-bucket histograms is a small,
 * stable JSON document (opentelemetry-proto, ExportMetricsServiceRequest).
 */
import type { Logger } from './log.js';
import { nullLogger } from './log.js';
import { VERSION } from './version.js';
import type { Labels, MetricsRegistry } from './metrics.js';

export interface OtlpOptions {
  /** The collector's base URL (`http://127.0.0.1:4318`) or the full `/v1/metrics` URL. */
  endpoint: string;
  /** Extra request headers, e.g. an authorization header for a hosted collector. */
  headers?: Record<string, string>;
  /** How often to export, ms (default 60000). 0 exports only on `flush()` and `dispose()`. */
  intervalMs?: number;
  /** Resource attributes besides `service.name` and `service.version`. */
  resource?: Record<string, string>;
  registry: MetricsRegistry;
  logger?: Logger;
  fetch?: typeof fetch;
  /** Per-request timeout, ms (default 10000). */
  timeoutMs?: number;
}

type AnyValue = { stringValue: string };
type KeyValue = { key: string; value: AnyValue };

/** Cumulative temporality (AGGREGATION_TEMPORALITY_CUMULATIVE). */
const CUMULATIVE = 2;

function attrs(labels: Labels | Record<string, string>): KeyValue[] {
  return Object.entries(labels).map(([key, v]) => ({ key, value: { stringValue: String(v) } }));
}

/** Nanoseconds since the epoch as the decimal string OTLP/JSON uses for fixed64. */
function nanos(ms: number): string {
  return (BigInt(Math.round(ms)) * 1_000_000n).toString();
}

/** The ExportMetricsServiceRequest for the registry's current values. */
export function otlpPayload(
  registry: MetricsRegistry,
  resource: Record<string, string> = {},
  now = Date.now(),
): unknown {
  const start = nanos(registry.startedAt);
  const time = nanos(now);
  const out: unknown[] = [];
  for (const m of registry.list()) {
    if (m.kind === 'counter') {
      const points = m.collect();
      if (!points.length) continue;
      out.push({
        name: m.name,
        description: m.help,
        sum: {
          aggregationTemporality: CUMULATIVE,
          isMonotonic: true,
          dataPoints: points.map((p) => ({
            attributes: attrs(p.labels),
            startTimeUnixNano: start,
            timeUnixNano: time,
            asDouble: p.value,
          })),
        },
      });
    } else {
      const points = m.collect();
      if (!points.length) continue;
      out.push({
        name: m.name,
        description: m.help,
        unit: m.name.endsWith('_ms') ? 'ms' : '',
        histogram: {
          aggregationTemporality: CUMULATIVE,
          dataPoints: points.map((p) => ({
            attributes: attrs(p.labels),
            startTimeUnixNano: start,
            timeUnixNano: time,
            count: String(p.count),
            sum: p.sum,
            min: p.min,
            max: p.max,
            bucketCounts: p.bucketCounts.map(String),
            explicitBounds: [...m.bounds],
          })),
        },
      });
    }
  }
  return {
    resourceMetrics: [
      {
        resource: {
          attributes: attrs({ 'service.name': 'rune', 'service.version': VERSION, ...resource }),
        },
        scopeMetrics: [{ scope: { name: 'rune', version: VERSION }, metrics: out }],
      },
    ],
  };
}

/** Sends the registry to an OTLP/HTTP collector every `intervalMs` and on dispose. */
export class OtlpExporter {
  private readonly url: string;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;
  private failing = false;
  /** Exports that reached the collector with a 2xx answer. */
  sent = 0;

  constructor(private readonly opts: OtlpOptions) {
    const u = new URL(opts.endpoint);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new TypeError(`OTLP endpoint must be http(s), got ${u.protocol}`);
    }
    this.url = u.pathname.endsWith('/v1/metrics')
      ? u.toString()
      : new URL(u.pathname.replace(/\/?$/, '/') + 'v1/metrics', u).toString();
    this.logger = opts.logger ?? nullLogger;
    const every = opts.intervalMs ?? 60_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.flush(), every);
      this.timer.unref();
    }
  }

  /** The URL exports go to. */
  get target(): string {
    return this.url;
  }

  /** Exports now. Never throws: a failure is logged once until an export succeeds again. */
  async flush(): Promise<boolean> {
    const body = JSON.stringify(otlpPayload(this.opts.registry, this.opts.resource));
    try {
      const res = await (this.opts.fetch ?? fetch)(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.opts.headers },
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      this.sent++;
      if (this.failing) this.logger.info('OTLP export works again', { url: this.url });
      this.failing = false;
      return true;
    } catch (err) {
      if (!this.failing) {
        this.logger.warn('OTLP export failed; check telemetry.otlp_endpoint and the collector', {
          url: this.url,
          err,
        });
      }
      this.failing = true;
      return false;
    }
  }

  /** Stops the timer and sends the last values. */
  async dispose(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
