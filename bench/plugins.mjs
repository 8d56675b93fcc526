// Plugin load and hot reload, per plugin (ours: 5 ms and 50 ms; the seed's 10 and 100 ms).
//   1. load: a manager starting with N plugins (one worker each, loaded in parallel),
//      total / N, and a single plugin on its own
//   2. hot reload: write a plugin file, time until its tool answers with the new version
//      (file watcher + debounce + new worker + initialize); PAUSE_MS between edits
//      (default 300; 0 shows a reload that finds the spare still booting)
//   3. tool call round trip through the worker, against a direct function call
// Each for both kinds of plugin: a sandboxed child process (bubblewrap, when usable)
// and a worker thread (the fallback).
// Run after `npx tsc -p tsconfig.build.json`: node bench/plugins.mjs
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginManager } from '../dist/plugins/manager.js';
import { ToolRegistry } from '../dist/tools/registry.js';
import { nullLogger } from '../dist/core/log.js';
import { detectBwrap } from '../dist/sandbox/sandbox.js';
import { fmt, median, p99, table } from './lib.mjs';

const RUNS = Number(process.env.RUNS ?? 10);
const N = Number(process.env.PLUGINS ?? 8);
const PAUSE_MS = Number(process.env.PAUSE_MS ?? 300);
const limits = {
  memoryMb: 64,
  toolTimeoutMs: 10000,
  callTimeoutMs: 10000,
  initTimeoutMs: 10000,
  execTimeoutMs: 10000,
};
const ctx = {
  signal: new AbortController().signal,
  progress() {},
  caller: { client: 'bench' },
  review: async () => ({ accepted: [] }),
};

const plugin = (id, answer) => `export default {
  id: '${id}', version: '1.0.0',
  initialize(ctx) { ctx.logger.debug('up'); },
  tools: [{ name: '${id}_tool', description: 'bench', handler: () => '${answer}' }],
};
`;

function dirWith(n, prefix = 'p') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-bench-plugins-'));
  for (let i = 0; i < n; i++)
    fs.writeFileSync(path.join(dir, `${prefix}${i}.mjs`), plugin(`${prefix}${i}`, 'v0'));
  return dir;
}

function manager(dir, tools, kind, watch = false) {
  return new PluginManager({
    bwrap: kind === 'process',
    sources: [{ path: dir, origin: 'config' }],
    workspace: dir,
    logger: nullLogger,
    limits,
    watch,
    tools: () => tools,
  });
}

async function runKind(kind) {
  const m0 = manager(os.tmpdir(), new ToolRegistry(), kind);
  if (m0.isolation().kind !== kind) throw new Error(`plugins did not run as ${kind}`);
  // 1. load
  const loadMany = [];
  const loadOne = [];
  for (let r = 0; r < RUNS; r++) {
    for (const [n, out] of [
      [N, loadMany],
      [1, loadOne],
    ]) {
      const dir = dirWith(n);
      const m = manager(dir, new ToolRegistry(), kind);
      const t0 = performance.now();
      await m.start();
      out.push((performance.now() - t0) / n);
      if (m.list().some((p) => p.state !== 'active')) throw new Error('a plugin failed to load');
      await m.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  table(
    `1. Plugin load, ${kind} (${RUNS} runs, ms per plugin; target 5 ms)`,
    ['case', 'median', 'p99'],
    [
      [`${N} plugins loaded together, per plugin`, fmt(median(loadMany), 2), fmt(p99(loadMany), 2)],
      ['1 plugin alone', fmt(median(loadOne), 2), fmt(p99(loadOne), 2)],
    ],
  );

  // 2. hot reload
  {
    const dir = dirWith(4);
    const tools = new ToolRegistry();
    const m = manager(dir, tools, kind, true);
    await m.start();
    const reload = [];
    const warmLoad = [];
    for (let r = 1; r <= RUNS; r++) {
      // Saves come seconds apart in real use: give the warm spare time to boot.
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      const want = `v${r}`;
      const t0 = performance.now();
      fs.writeFileSync(path.join(dir, 'p0.mjs'), plugin('p0', want));
      for (;;) {
        const res = await tools.call('p0_tool', {}, ctx);
        if (res.content[0]?.text === want) break;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      reload.push(performance.now() - t0);
      warmLoad.push(m.list().find((p) => p.id === 'p0').loadMs);
    }
    table(
      `2. Hot reload of one plugin among 4, ${kind} (${RUNS} edits ${PAUSE_MS} ms apart, ms from write to new answer; target 50 ms)`,
      ['case', 'median', 'p99'],
      [
        ['write -> tool answers new version', fmt(median(reload), 2), fmt(p99(reload), 2)],
        [
          '  of which import + initialize (warm spare)',
          fmt(median(warmLoad), 2),
          fmt(p99(warmLoad), 2),
        ],
      ],
    );

    // 3. tool call round trip
    const CALLS = 2000;
    const viaWorker = [];
    const direct = [];
    const fn = () => 'v0';
    for (let r = 0; r < RUNS; r++) {
      let t0 = performance.now();
      for (let i = 0; i < CALLS; i++) await tools.call('p1_tool', {}, ctx);
      viaWorker.push(((performance.now() - t0) / CALLS) * 1000);
      t0 = performance.now();
      for (let i = 0; i < CALLS; i++) await fn();
      direct.push(((performance.now() - t0) / CALLS) * 1000);
    }
    table(
      `3. Plugin tool call, ${kind} (${CALLS} sequential calls x ${RUNS}, µs per call)`,
      ['case', 'median', 'p99', 'x direct'],
      [
        [
          `registry -> ${kind} -> result`,
          fmt(median(viaWorker), 1),
          fmt(p99(viaWorker), 1),
          fmt(median(viaWorker) / median(direct), 0),
        ],
        ['direct async function call (baseline)', fmt(median(direct), 2), fmt(p99(direct), 2), '1'],
      ],
    );
    await m.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const kinds = ['thread'];
const bw = detectBwrap();
if (bw.usable) kinds.unshift('process');
else console.log(`(no sandboxed-process figures: ${bw.reason})`);
for (const kind of kinds) await runKind(kind);
