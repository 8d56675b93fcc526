/**
 * In-process metrics: counters and latency histograms, cheap enough to record
 * on every keystroke-driven completion (well under a microsecond per event;
 * see bench/metrics.mjs).
 *
 * ```ts
 * import { metrics, METRICS } from '../core/metrics.js';
 * metrics.counter(METRICS.toolCalls).inc({ tool: 'read_file' });
 * metrics.histogram(METRICS.providerTtft).observe(ms, { provider: 'ollama' });
 * ```
 *
 * Each distinct label set is one series. A histogram series keeps a count, a
 * sum, min/max, cumulative-friendly bucket counts (for OTLP export) and the
 * most recent values in a ring (for exact p50/p95 in :RuneStats).
 */

/** Label values by label name, e.g. `{ provider: 'ollama' }`. Keep the set of values small. */
export type Labels = Readonly<Record<string, string>>;

/** The metrics Rune records; call sites use these names so :RuneStats can find them. */
export const METRICS = {
  /** Provider time to first token, ms; labels `provider`, `feature` (chat | completion). */
  providerTtft: 'rune_provider_ttft_ms',
  /** Provider request duration from send to the last byte, ms; labels `provider`, `feature`. */
  providerDuration: 'rune_provider_duration_ms',
  /** Provider requests; labels `provider`, `feature`, `outcome` (ok | error | aborted). */
  providerRequests: 'rune_provider_requests_total',
  /** Tool calls; labels `tool`, `outcome` (ok | error | denied | aborted). */
  toolCalls: 'rune_tool_calls_total',
  /** Tool call duration, ms; label `tool`. */
  toolDuration: 'rune_tool_duration_ms',
  /** Inline completions drawn as ghost text; label `provider`. */
  completionsShown: 'rune_completions_shown_total',
  /** Inline completions the user accepted (whole, word or line); labels `provider`, `kind`. */
  completionsAccepted: 'rune_completions_accepted_total',
  /** Errors by type; labels `type` (a RuneError code) and `area` (provider | tool | plugin | …). */
  errors: 'rune_errors_total',
} as const;

/** Upper bounds (ms) of the default latency buckets; the last bucket is unbounded. */
export const DEFAULT_BUCKETS_MS: readonly number[] = [
  1, 2, 5, 10, 20, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000,
  60000,
];

const RING = 1024;
const EMPTY: Labels = Object.freeze({});

/** The series key for a label set, in the order the call site wrote the labels. */
function keyOf(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  let key = '';
  for (const k in labels) key += k + '\u0001' + labels[k] + '\u0002';
  return key;
}

/** The same key with the labels sorted by name: one series whatever the order. */
function canonicalKey(labels: Labels): string {
  let key = '';
  for (const k of Object.keys(labels).sort()) key += k + '\u0001' + labels[k] + '\u0002';
  return key;
}

/**
 * Finds the series of `labels`. The hot path is one string concatenation and
 * one Map lookup: a label order seen before is an alias of the canonical key,
 * so sorting happens only the first time an order shows up.
 */
function seriesOf<S>(
  map: Map<string, S>,
  labels: Labels | undefined,
  create: (labels: Labels) => S,
): S {
  const key = keyOf(labels);
  let s = map.get(key);
  if (s !== undefined) return s;
  const copy: Labels = labels ? { ...labels } : EMPTY;
  const canon = labels ? canonicalKey(labels) : '';
  s = map.get(canon);
  if (s === undefined) {
    s = create(copy);
    map.set(canon, s);
  }
  map.set(key, s);
  return s;
}

class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}
}

export class Counter {
  readonly kind = 'counter' as const;
  private readonly series = new Map<string, CounterSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** Adds `by` (default 1) to the series of `labels`. */
  inc(labels?: Labels, by = 1): void {
    seriesOf(this.series, labels, (l) => new CounterSeries(l)).value += by;
  }

  /** The current value for exactly `labels` (0 when never recorded). */
  get(labels?: Labels): number {
    return this.series.get(labels ? canonicalKey(labels) : '')?.value ?? 0;
  }

  /** Every series: its labels and value. */
  collect(): { labels: Labels; value: number }[] {
    return [...new Set(this.series.values())].map((s) => ({ labels: s.labels, value: s.value }));
  }

  reset(): void {
    this.series.clear();
  }
}

class HistogramSeries {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  readonly buckets: Float64Array;
  readonly ring = new Float64Array(RING);
  next = 0;
  constructor(
    readonly labels: Labels,
    nBuckets: number,
  ) {
    this.buckets = new Float64Array(nBuckets + 1);
  }
}

/** A summary of one histogram series, as :RuneStats and the exporter read it. */
export interface HistogramPoint {
  labels: Labels;
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Per-bucket counts (not cumulative); one more entry than `bounds` (the overflow bucket). */
  bucketCounts: number[];
  /** Quantiles over the most recent values (at most 1024). */
  p50: number;
  p95: number;
  p99: number;
}

export class Histogram {
  readonly kind = 'histogram' as const;
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
  ) {}

  /** Records one value (e.g. a latency in ms) in the series of `labels`. */
  observe(value: number, labels?: Labels): void {
    if (!(value === value)) return; // NaN carries no information and would poison the sum
    const s = seriesOf(this.series, labels, (l) => new HistogramSeries(l, this.bounds.length));
    s.count++;
    s.sum += value;
    if (value < s.min) s.min = value;
    if (value > s.max) s.max = value;
    // binary search for the first bound >= value (the overflow bucket when none)
    const b = this.bounds;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (value > b[mid]!) lo = mid + 1;
      else hi = mid;
    }
    s.buckets[lo]!++;
    s.ring[s.next++ % RING] = value;
  }

  /** Starts a timer; calling the result records the elapsed ms and returns it. */
  startTimer(labels?: Labels): () => number {
    const t0 = performance.now();
    return () => {
      const ms = performance.now() - t0;
      this.observe(ms, labels);
      return ms;
    };
  }

  /** The summary of exactly `labels`, or undefined when never recorded. */
  get(labels?: Labels): HistogramPoint | undefined {
    const s = this.series.get(labels ? canonicalKey(labels) : '');
    return s && summarize(s);
  }

  /** The most recent values (at most 1024) of exactly `labels`, unsorted. */
  recent(labels?: Labels): number[] {
    const s = this.series.get(labels ? canonicalKey(labels) : '');
    return s ? Array.from(s.ring.subarray(0, Math.min(s.count, RING))) : [];
  }

  collect(): HistogramPoint[] {
    return [...new Set(this.series.values())].map(summarize);
  }

  reset(): void {
    this.series.clear();
  }
}

function summarize(s: HistogramSeries): HistogramPoint {
  const n = Math.min(s.count, RING);
  const recent = Array.from(s.ring.subarray(0, n)).sort((a, b) => a - b);
  return {
    labels: s.labels,
    count: s.count,
    sum: s.sum,
    min: s.count ? s.min : 0,
    max: s.count ? s.max : 0,
    bucketCounts: Array.from(s.buckets),
    p50: quantile(recent, 0.5),
    p95: quantile(recent, 0.95),
    p99: quantile(recent, 0.99),
  };
}

/** The nearest-rank quantile of sorted values; NaN for none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export type Metric = Counter | Histogram;

/** A set of named metrics. `metrics` below is the process-wide one. */
export class MetricsRegistry {
  private readonly byName = new Map<string, Metric>();
  /** When the registry started counting (ms since the epoch); OTLP's start time. */
  startedAt = Date.now();

  /** The counter named `name`, created on first use. */
  counter(name: string, help = ''): Counter {
    const m = this.byName.get(name);
    if (m instanceof Counter) return m;
    if (m) throw new TypeError(`Metric "${name}" is a ${m.kind}, not a counter.`);
    const c = new Counter(name, help);
    this.byName.set(name, c);
    return c;
  }

  /** The histogram named `name`, created on first use (default buckets: latency in ms). */
  histogram(name: string, opts: { help?: string; buckets?: readonly number[] } = {}): Histogram {
    const m = this.byName.get(name);
    if (m instanceof Histogram) return m;
    if (m) throw new TypeError(`Metric "${name}" is a ${m.kind}, not a histogram.`);
    const bounds = [...(opts.buckets ?? DEFAULT_BUCKETS_MS)].sort((a, b) => a - b);
    const h = new Histogram(name, opts.help ?? '', bounds);
    this.byName.set(name, h);
    return h;
  }

  list(): Metric[] {
    return [...this.byName.values()];
  }

  /** Clears every series (tests and `:RuneStats reset`). */
  reset(): void {
    for (const m of this.byName.values()) m.reset();
    this.startedAt = Date.now();
  }
}

/** The process-wide registry every part of the host records into. */
export const metrics = new MetricsRegistry();

/** Per provider: what :RuneStats shows. */
export interface ProviderStats {
  provider: string;
  requests: number;
  errors: number;
  ttft: { count: number; p50: number; p95: number };
  total: { count: number; p50: number; p95: number };
  shown: number;
  accepted: number;
  /** accepted / shown, or null when nothing was shown. */
  acceptanceRate: number | null;
}

export interface StatsReport {
  since: string;
  providers: ProviderStats[];
  completions: { shown: number; accepted: number; acceptanceRate: number | null };
  tools: { tool: string; calls: number; errors: number; p50: number; p95: number }[];
  errors: { type: string; area: string; count: number }[];
}

/**
 * Reads the standard metrics (METRICS) into the figures :RuneStats shows.
 * Series of the same provider with different `feature` labels are merged.
 */
export function statsReport(reg: MetricsRegistry = metrics): StatsReport {
  const by = new Map<string, ProviderStats>();
  const prov = (id: string): ProviderStats => {
    let p = by.get(id);
    if (!p) {
      p = {
        provider: id,
        requests: 0,
        errors: 0,
        ttft: { count: 0, p50: NaN, p95: NaN },
        total: { count: 0, p50: NaN, p95: NaN },
        shown: 0,
        accepted: 0,
        acceptanceRate: null,
      };
      by.set(id, p);
    }
    return p;
  };
  for (const s of reg.counter(METRICS.providerRequests).collect()) {
    const p = prov(s.labels.provider ?? '?');
    p.requests += s.value;
    if (s.labels.outcome === 'error') p.errors += s.value;
  }
  const merged = (name: string, key: 'ttft' | 'total'): void => {
    const values = new Map<string, number[]>();
    const counts = new Map<string, number>();
    const h = reg.histogram(name);
    for (const s of h.collect()) {
      const id = s.labels.provider ?? '?';
      counts.set(id, (counts.get(id) ?? 0) + s.count);
      const list = values.get(id) ?? [];
      list.push(...h.recent(s.labels));
      values.set(id, list);
    }
    for (const [id, list] of values) {
      list.sort((a, b) => a - b);
      prov(id)[key] = {
        count: counts.get(id) ?? 0,
        p50: quantile(list, 0.5),
        p95: quantile(list, 0.95),
      };
    }
  };
  merged(METRICS.providerTtft, 'ttft');
  merged(METRICS.providerDuration, 'total');
  let shown = 0;
  let accepted = 0;
  for (const s of reg.counter(METRICS.completionsShown).collect()) {
    prov(s.labels.provider ?? '?').shown += s.value;
    shown += s.value;
  }
  for (const s of reg.counter(METRICS.completionsAccepted).collect()) {
    prov(s.labels.provider ?? '?').accepted += s.value;
    accepted += s.value;
  }
  for (const p of by.values()) p.acceptanceRate = p.shown ? p.accepted / p.shown : null;

  const tools = new Map<string, StatsReport['tools'][number]>();
  for (const s of reg.counter(METRICS.toolCalls).collect()) {
    const name = s.labels.tool ?? '?';
    const t = tools.get(name) ?? { tool: name, calls: 0, errors: 0, p50: NaN, p95: NaN };
    t.calls += s.value;
    if (s.labels.outcome === 'error') t.errors += s.value;
    tools.set(name, t);
  }
  for (const s of reg.histogram(METRICS.toolDuration).collect()) {
    const name = s.labels.tool ?? '?';
    const t = tools.get(name) ?? { tool: name, calls: 0, errors: 0, p50: NaN, p95: NaN };
    t.p50 = s.p50;
    t.p95 = s.p95;
    tools.set(name, t);
  }
  const errors = reg
    .counter(METRICS.errors)
    .collect()
    .map((s) => ({ type: s.labels.type ?? '?', area: s.labels.area ?? '?', count: s.value }))
    .sort((a, b) => b.count - a.count);
  return {
    since: new Date(reg.startedAt).toISOString(),
    providers: [...by.values()].sort((a, b) => a.provider.localeCompare(b.provider)),
    completions: { shown, accepted, acceptanceRate: shown ? accepted / shown : null },
    tools: [...tools.values()].sort((a, b) => a.tool.localeCompare(b.tool)),
    errors,
  };
}
