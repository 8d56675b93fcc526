// Overhead per recorded metric event, against an empty function call measured
// in the same run (seed target: under 1 µs per event).
// Run after `npx tsc -p tsconfig.build.json`: node bench/metrics.mjs
import { MetricsRegistry } from '../dist/core/metrics.js';
import { fmt, median, p99, table } from './lib.mjs';

const N = Number(process.env.N ?? 1_000_000);
const RUNS = Number(process.env.RUNS ?? 15);
const reg = new MetricsRegistry();
const counter = reg.counter('rune_tool_calls_total');
const hist = reg.histogram('rune_provider_ttft_ms');
const providers = ['ollama', 'claude', 'openai', 'zeke'];
let sink = 0;
function empty(v, labels) {
  sink += labels === undefined ? v : 1;
}

const cases = {
  'empty function call (baseline)': (i) => empty(i, { provider: providers[i & 3] }),
  'counter.inc()': () => counter.inc(),
  'counter.inc({ tool })': (i) => counter.inc({ tool: providers[i & 3] }),
  'counter.inc({ provider, outcome })': (i) =>
    counter.inc({ provider: providers[i & 3], outcome: 'ok' }),
  'histogram.observe(v, { provider })': (i) =>
    hist.observe(i & 1023, { provider: providers[i & 3] }),
  'histogram.observe(v, { provider, feature })': (i) =>
    hist.observe(i & 1023, { provider: providers[i & 3], feature: 'chat' }),
};

function nsPerOp(fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / N;
}

const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const fn of Object.values(cases)) nsPerOp(fn); // warm up the JIT
for (let r = 0; r < RUNS; r++) {
  for (const [name, fn] of Object.entries(cases)) results[name].push(nsPerOp(fn));
}
const base = median(results['empty function call (baseline)']);
table(
  `Metric event overhead (${N} events x ${RUNS} runs, ns per event; target < 1000 ns)`,
  ['case', 'median', 'p99', 'minus baseline', 'x baseline'],
  Object.entries(results).map(([name, v]) => [
    name,
    fmt(median(v), 1),
    fmt(p99(v), 1),
    fmt(median(v) - base, 1),
    fmt(median(v) / base, 1),
  ]),
);
if (sink === 42) console.log(''); // keep the baseline from being optimized away
