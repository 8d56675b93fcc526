// Inline completion figures:
//   1. keystroke-to-ghost-text latency beyond the debounce, with a zero-latency local
//      server (p50, p99), for several debounce values
//   2. requests sent (and aborted) per 100 keystrokes typed at 10 characters per second,
//      evenly and with a human-like jitter, for the same debounce values, with a server
//      that takes MODEL_MS (150) to answer, as a small local model does
//   3. Neovim's own input latency while completions arrive (debounce 0, an answer per
//      keystroke), against the same typing with inline completion off, in the same run
//   4. cost per keystroke in a 1,000-line and a 100,000-line buffer: time spent in Rune's
//      insert-mode autocommands, Neovim's input latency, the context read per request,
//      and the request size
//   5. answers already computed, against the uncached path (completion.cache_entries = 0)
//      in the same run, with the zero-latency server and with a real llama-server (the
//      tiny model of test/fixtures/llama, provisioned by scripts/setup.sh; skipped when
//      absent): ghost text after the provider's last byte; typing through a suggestion
//      with a slip taken back (<BS>), last key → ghost and the share of those served with
//      no request; accept (<Tab>) → next ghost. The first rounds of each run warm the
//      code up and are not counted.
// The server speaks Ollama's /api/generate (NDJSON) on 127.0.0.1 and answers at once; the
// host core (dist/) runs in this process with the real Ollama provider; keys come from a
// second client, as from a UI. llama-server is reached through a loopback pass-through
// that notes when each response's last byte leaves it. Run after `npm run build`:
//   node bench/completion.mjs        (KEYS, MODEL_MS, DEBOUNCES="0,25,50" override the sizes;
//                                     SECTIONS="5" runs only some sections)
// The host runs in this process, so `node --cpu-prof bench/completion.mjs` profiles it.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { attach } from 'neovim';
import { ROOT, nvimBin, median, p99, fmt, table } from './lib.mjs';

const KEYS = Number(process.env.KEYS ?? 100);
// How long the server takes to answer in the request-count runs (a small local model).
const MODEL_MS = Number(process.env.MODEL_MS ?? 150);
const SECTIONS = new Set((process.env.SECTIONS ?? '1,2,3,4,5').split(',').map(Number));
const DEBOUNCES = (process.env.DEBOUNCES ?? '0,15,30,50,75,100,150')
  .split(',')
  .map((s) => Number(s));

const { StartingHost } = await import(path.join(ROOT, 'dist/nvim/host.js'));
const { completionModule } = await import(path.join(ROOT, 'dist/nvim/completion/index.js'));
const { providersModule } = await import(path.join(ROOT, 'dist/nvim/providers.js'));
const { authModule } = await import(path.join(ROOT, 'dist/nvim/auth.js'));
const { createMemoryLogger } = await import(path.join(ROOT, 'dist/core/log.js'));

// The client's default logger would take over `console`.
const quiet = { level: 'error', debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An Ollama /api/generate server that answers at once; counts requests, bytes and aborts. */
function startServer() {
  const stats = { requests: 0, closes: 0, bytes: [], ends: [] };
  let delay = 0;
  const server = http.createServer((req, res) => {
    let size = 0;
    req.on('data', (c) => (size += c.length));
    req.on('end', async () => {
      if (req.url !== '/api/generate') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ models: [] }));
        return;
      }
      stats.requests++;
      stats.bytes.push(size);
      let ended = false;
      res.on('finish', () => (ended = true));
      res.on('close', () => {
        if (!ended) stats.closes++;
      });
      if (delay) await sleep(delay);
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const at = new Date().toISOString();
      res.write(
        JSON.stringify({ model: 'bench', created_at: at, response: '_suggestion()', done: false }) +
          '\n',
      );
      // The last byte leaves now; on the monotonic clock Neovim's vim.uv.hrtime() reads, ms.
      stats.ends.push(Number(process.hrtime.bigint()) / 1e6);
      res.end(
        JSON.stringify({
          model: 'bench',
          created_at: at,
          response: '',
          done: true,
          done_reason: 'stop',
          prompt_eval_count: 1,
          eval_count: 1,
        }) + '\n',
      );
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        stats,
        setDelay: (ms) => (delay = ms),
        reset() {
          stats.requests = 0;
          stats.closes = 0;
          stats.bytes = [];
          stats.ends = [];
        },
        close: () => new Promise((r) => server.close(r)),
      }),
    ),
  );
}

/**
 * Neovim with Rune and the host core in this process. Lua reports to the host (through
 * `bench.*` notifications) when a key's text change lands, how long Rune's own
 * autocommands took for it, and when ghost text is drawn.
 */
async function startEditor(url, debounce, enabled = true, extra = {}, provider = undefined) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-bench-completion-'));
  const env = { ...process.env };
  for (const d of ['config', 'data', 'state', 'cache']) {
    env[`XDG_${d.toUpperCase()}_HOME`] = path.join(home, d);
  }
  delete env.NVIM;
  const sock = path.join(home, 'nvim.sock');
  const args = [
    '--embed',
    '--headless',
    '--clean',
    '-n',
    '--listen',
    sock,
    '--cmd',
    `set rtp^=${ROOT}`,
  ];
  const proc = spawn(nvimBin(), args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const nvim = attach({ proc, options: { logger: quiet } });
  const config = {
    providers: provider ?? {
      local: { kind: 'ollama', url, model: 'bench', retry: { max_attempts: 1 } },
    },
    completion: { enabled, debounce_ms: debounce, max_file_bytes: 100000000, ...extra },
  };
  await nvim.lua(`require('rune').setup(vim.json.decode(...))`, [JSON.stringify(config)]);
  const logger = createMemoryLogger('info');
  const host = await new StartingHost({ nvim, logger, logFile: null }).ready([
    authModule,
    providersModule,
    completionModule,
  ]);
  const events = { typed: [], shown: [], cost: [] };
  let waiters = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  host.onNotification('bench.typed', ([tick]) => {
    events.typed.push({ tick, at: performance.now() });
    wake();
  });
  host.onNotification('bench.shown', ([ms, drawnAt]) => {
    events.shown.push({ ms, at: performance.now(), drawnAt });
    wake();
  });
  host.onNotification('bench.cost', ([us]) => events.cost.push(us));
  const chan = await nvim.channelId;
  // Autocommands run in the order they were defined: one before Rune's and one after
  // time Rune's share of each keystroke.
  await nvim.lua(
    `local chan = ...
     local g = vim.api.nvim_create_augroup('bench.pre', {})
     vim.api.nvim_create_autocmd('CursorMovedI', { group = g, callback = function()
       _G.bench_key = vim.uv.hrtime()
       _G.bench_t0 = vim.uv.hrtime()
     end })
     vim.api.nvim_create_autocmd('TextChangedI', { group = g, callback = function()
       _G.bench_t0 = vim.uv.hrtime()
     end })
     require('rune.completion').boot()
     local g2 = vim.api.nvim_create_augroup('bench.post', {})
     -- A typed key fires CursorMovedI then TextChangedI; Rune's cost is the sum of both.
     vim.api.nvim_create_autocmd('CursorMovedI', { group = g2, callback = function()
       _G.bench_acc = vim.uv.hrtime() - _G.bench_t0
     end })
     vim.api.nvim_create_autocmd('TextChangedI', { group = g2, callback = function()
       vim.rpcnotify(chan, 'bench.cost', ((_G.bench_acc or 0) + vim.uv.hrtime() - _G.bench_t0) / 1e3)
       _G.bench_acc = 0
       vim.rpcnotify(chan, 'bench.typed', vim.b.changedtick)
     end })
     vim.api.nvim_create_autocmd('User', { pattern = 'RuneGhostShown', group = g2, callback = function()
       local now = vim.uv.hrtime()
       vim.rpcnotify(chan, 'bench.shown', (now - (_G.bench_key or 0)) / 1e6, now / 1e6)
     end })
     local ctx = require('rune.completion')._context
     _G.bench_ctx = {}
     require('rune.completion')._context = function(...)
       local t = vim.uv.hrtime()
       local r = ctx(...)
       table.insert(_G.bench_ctx, (vim.uv.hrtime() - t) / 1e3)
       return r
     end`,
    [chan],
  );
  const typist = attach({ socket: sock, options: { logger: quiet } });
  await typist.channelId;
  return {
    nvim,
    typist,
    events,
    /** Resolves once `cond()` holds (checked after each bench event), or after `ms`. */
    async until(cond, ms = 2000) {
      const end = performance.now() + ms;
      while (!cond() && performance.now() < end) {
        await new Promise((r) => {
          waiters.push(r);
          setTimeout(r, 20);
        });
      }
      return cond();
    },
    async close() {
      await host.shutdown('bench').done;
      proc.kill('SIGKILL');
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

// Keys that never match the suggestion, so every key asks again.
const key = (i) => 'abcdefghij'[i % 10];

async function freshLine(ed) {
  await ed.typist.input('<Esc>');
  await ed.nvim.lua(
    `vim.cmd.enew({ bang = true }); vim.bo.filetype = 'c'
     vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'int main(void) {', '  ', '}' })
     vim.api.nvim_win_set_cursor(0, { 2, 2 })`,
    [],
  );
  await ed.typist.input('A');
  await sleep(100);
}

const server = await startServer();
const latency = [];
const volume = [];

for (const d of SECTIONS.has(1) || SECTIONS.has(2) ? DEBOUNCES : []) {
  const ed = await startEditor(server.url, d);
  // 1. Latency: type a key, wait for its ghost text, repeat.
  await freshLine(ed);
  const lat = [];
  for (let i = 0; i < 60; i++) {
    const n = ed.events.shown.length;
    await ed.typist.input(key(i));
    if (await ed.until(() => ed.events.shown.length > n)) {
      lat.push(ed.events.shown.at(-1).ms - d);
    }
    if (i % 20 === 19) await freshLine(ed);
  }
  latency.push([
    `${d} ms`,
    `${fmt(median(lat), 1)} ms`,
    `${fmt(p99(lat), 1)} ms`,
    `${fmt(median(lat) + d, 1)} ms`,
    String(lat.length),
  ]);
  // 2. Volume: KEYS keys at 10/s, evenly and jittered (50–150 ms apart).
  const row = [`${d} ms`];
  for (const jitter of [false, true]) {
    await freshLine(ed);
    await sleep(300);
    server.reset();
    server.setDelay(MODEL_MS);
    const shownBefore = ed.events.shown.length;
    let seed = 7;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const start = performance.now();
    let due = start;
    for (let i = 0; i < KEYS; i++) {
      due += jitter ? 50 + rand() * 100 : 100;
      await sleep(Math.max(0, due - performance.now()));
      await ed.typist.input(key(i));
    }
    await sleep(Math.max(500, d * 3 + MODEL_MS * 2));
    server.setDelay(0);
    const per100 = (x) => fmt((x * 100) / KEYS, 1);
    row.push(per100(server.stats.requests), per100(server.stats.closes));
    row.push(per100(ed.events.shown.length - shownBefore));
  }
  volume.push(row);
  await ed.close();
}

if (latency.length)
  table(
    'Keystroke → ghost text, zero-latency local Ollama server (60 keys per debounce)',
    ['debounce', 'beyond debounce p50', 'p99', 'total p50', 'n'],
    latency,
  );
if (volume.length)
  table(
    `Requests per 100 keystrokes at 10 chars/s (${KEYS} keys, server answers in ${MODEL_MS} ms); even spacing | jittered 50–150 ms`,
    [
      'debounce',
      'sent',
      'aborted',
      'ghosts drawn',
      'sent (jit.)',
      'aborted (jit.)',
      'ghosts (jit.)',
    ],
    volume,
  );

// 3. Neovim's input latency while completions arrive, against completion off.
if (SECTIONS.has(3)) {
  let ed = await startEditor(server.url, 0, false);
  const inputLatency = async (n) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const before = ed.events.typed.length;
      const t0 = performance.now();
      await ed.typist.input(key(i));
      await ed.until(() => ed.events.typed.length > before);
      out.push(ed.events.typed.at(-1).at - t0);
      await sleep(20);
    }
    return out;
  };
  await freshLine(ed);
  const off = await inputLatency(200);
  await ed.close();
  ed = await startEditor(server.url, 0, true);
  await freshLine(ed);
  server.reset();
  const shown0 = ed.events.shown.length;
  const on = await inputLatency(200);
  const drawn = ed.events.shown.length - shown0;
  table(
    'Neovim input latency (key sent → its TextChangedI seen by a client), 200 keys 20 ms apart',
    ['run', 'p50', 'p99', 'ratio p50 / p99 vs off'],
    [
      ['completion off', `${fmt(median(off), 2)} ms`, `${fmt(p99(off), 2)} ms`, '1.00 / 1.00'],
      [
        `completion on, debounce 0 (${server.stats.requests} requests, ${drawn} ghosts drawn)`,
        `${fmt(median(on), 2)} ms`,
        `${fmt(p99(on), 2)} ms`,
        `${fmt(median(on) / median(off), 2)} / ${fmt(p99(on) / p99(off), 2)}`,
      ],
    ],
  );
  await ed.close();
}

// 4. Cost per keystroke in a 1,000-line and a 100,000-line buffer.
if (SECTIONS.has(4)) {
  const ed = await startEditor(server.url, 0);
  const rows = [];
  for (const lines of [1000, 100000]) {
    await ed.typist.input('<Esc>');
    await ed.nvim.lua(
      `vim.cmd.enew({ bang = true }); vim.bo.filetype = 'c'
       local l = {}
       for i = 1, ... do l[i] = '  total = total + compute(values[i], weights[i]); /* ' .. i .. ' */' end
       vim.api.nvim_buf_set_lines(0, 0, -1, false, l)
       vim.api.nvim_win_set_cursor(0, { math.floor(... / 2), 0 })
       _G.bench_ctx = {}`,
      [lines],
    );
    await ed.typist.input('A');
    await sleep(100);
    ed.events.cost.length = 0;
    server.reset();
    const lat = [];
    for (let i = 0; i < 200; i++) {
      const before = ed.events.typed.length;
      const t0 = performance.now();
      await ed.typist.input(key(i));
      await ed.until(() => ed.events.typed.length > before);
      lat.push(ed.events.typed.at(-1).at - t0);
      await sleep(20);
    }
    await sleep(200);
    const ctx = await ed.nvim.lua('return _G.bench_ctx', []);
    rows.push([
      `${lines.toLocaleString('en')} lines`,
      `${fmt(median(ed.events.cost), 1)} / ${fmt(p99(ed.events.cost), 1)} µs`,
      `${fmt(median(lat), 2)} / ${fmt(p99(lat), 2)} ms`,
      `${fmt(median(ctx), 1)} / ${fmt(p99(ctx), 1)} µs`,
      `${fmt(median(server.stats.bytes), 0)} B`,
    ]);
  }
  table(
    'Cost per keystroke by buffer size (200 keys, debounce 0; p50 / p99)',
    [
      'buffer',
      "Rune's autocmds per key",
      'input latency',
      'context read per request',
      'request size p50',
    ],
    rows,
  );
  await ed.close();
}

/**
 * A real llama-server with the tiny test model, behind a loopback pass-through that
 * notes (like the zero-latency server) when each response's last byte leaves; null
 * when llama-server is not provisioned.
 */
async function startLlama() {
  const prefix = path.join(ROOT, '.cache', 'llama');
  const bin = path.join(prefix, 'bin', 'llama-server');
  if (!fs.existsSync(bin)) return null;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-bench-llama-'));
  const model = path.join(tmp, 'tiny.gguf');
  execFileSync(
    path.join(prefix, 'bin', 'python3'),
    [path.join(ROOT, 'test', 'fixtures', 'llama', 'make-model.py'), model],
    { stdio: 'ignore' },
  );
  const port = await new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const proc = spawn(
    bin,
    ['-m', model, '--host', '127.0.0.1', '--port', String(port), '-c', '4096', '-np', '1'],
    { stdio: 'ignore' },
  );
  const upstream = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${upstream}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 300) throw new Error('llama-server did not become healthy');
    await sleep(50);
  }
  const stats = { requests: 0, ends: [] };
  const proxy = http.createServer((req, res) => {
    if (req.url === '/infill' || req.url?.startsWith('/v1/')) stats.requests++;
    const up = http.request(
      `${upstream}${req.url}`,
      { method: req.method, headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.on('data', (c) => res.write(c));
        ur.on('end', () => {
          stats.ends.push(Number(process.hrtime.bigint()) / 1e6);
          res.end();
        });
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    stats,
    async close() {
      await new Promise((r) => proxy.close(r));
      proc.kill('SIGTERM');
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

// 5. Answers already computed, against the uncached path, in the same run.
if (SECTIONS.has(5)) {
  const DEBOUNCE = 150;
  const ROUNDS = Number(process.env.ROUNDS ?? 20);
  const WARM = 5;
  const rows = [];
  const llama = await startLlama();
  if (!llama)
    console.error('llama-server is not provisioned (scripts/setup.sh): its rows are skipped');
  const peers = [
    {
      name: 'zero-latency Ollama',
      srv: server,
      suggestion: '_suggestion()',
      provider: undefined,
      bare: ['/api/generate', { model: 'bench', prompt: 'int x', suffix: ';', stream: true }],
    },
  ];
  if (llama) {
    peers.push({
      name: 'llama-server (tiny model)',
      srv: llama,
      // The tiny model fills in "4242…" (test/helpers/llama.ts), one token per byte.
      suggestion: '42424242',
      provider: { llamacpp: { url: llama.url, retry: { max_attempts: 1 } } },
      bare: ['/infill', { input_prefix: 'int x', input_suffix: ';', n_predict: 8 }],
    });
  }
  for (const peer of peers) {
    // The floor: the bare HTTP request from this process, then one call that draws an
    // extmark in the same Neovim (no Rune in between), timed the same way.
    {
      const ed = await startEditor(peer.srv.url, DEBOUNCE, false, {}, peer.provider);
      await freshLine(ed);
      const afterByte = [];
      for (let i = 0; i < ROUNDS + WARM; i++) {
        const n = ed.events.shown.length;
        const res = await fetch(peer.srv.url + peer.bare[0], {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(peer.bare[1]),
        });
        const text = await res.text();
        await ed.nvim.lua(
          `local ns = vim.api.nvim_create_namespace('bench.floor')
           vim.api.nvim_buf_clear_namespace(0, ns, 0, -1)
           local c = vim.api.nvim_win_get_cursor(0)
           vim.api.nvim_buf_set_extmark(0, ns, c[1] - 1, c[2], {
             virt_text = { { ..., 'Comment' } }, virt_text_pos = 'inline' })
           vim.api.nvim_exec_autocmds('User', { pattern = 'RuneGhostShown', modeline = false })`,
          [text.slice(0, 16)],
        );
        await ed.until(() => ed.events.shown.length > n);
        const got = ed.events.shown.at(-1);
        const end = peer.srv.stats.ends.filter((e) => e <= got?.drawnAt).at(-1);
        if (i >= WARM && got && end !== undefined) afterByte.push(got.drawnAt - end);
      }
      rows.push([
        peer.name,
        'floor: bare HTTP request, then one extmark call',
        `${fmt(median(afterByte), 2)} / ${fmt(p99(afterByte), 2)} ms`,
        '',
        '',
        '',
      ]);
      await ed.close();
    }
    for (const [name, entries] of [
      ['answer cache and requests ahead (default)', 64],
      ['uncached (cache_entries = 0)', 0],
    ]) {
      const ed = await startEditor(
        peer.srv.url,
        DEBOUNCE,
        true,
        { cache_entries: entries, max_tokens: 8 },
        peer.provider,
      );
      const shownAfter = async (n, keys) => {
        await ed.typist.input(keys);
        return (await ed.until(() => ed.events.shown.length > n, 5000))
          ? ed.events.shown.at(-1)
          : undefined;
      };
      // a. Ghost text after the provider's last byte.
      await freshLine(ed);
      const afterByte = [];
      for (let i = 0; i < ROUNDS + WARM; i++) {
        const got = await shownAfter(ed.events.shown.length, key(i));
        // The last byte of the answer drawn: the latest response that ended before the draw.
        const end = peer.srv.stats.ends.filter((e) => e <= got?.drawnAt).at(-1);
        if (i >= WARM && got && end !== undefined) afterByte.push(got.drawnAt - end);
      }
      // b. Typing through a suggestion with a slip: a wrong key, then <BS>.
      const slip = [];
      let hits = 0;
      for (let i = 0; i < ROUNDS; i++) {
        await freshLine(ed);
        if (!(await shownAfter(ed.events.shown.length, 'x'))) continue;
        await sleep(50);
        // Three keys of the suggestion (the ghost text keeps up), then a slip.
        await ed.typist.input(peer.suggestion.slice(0, 3) + 'Q');
        await sleep(20);
        const before = peer.srv.stats.requests;
        const got = await shownAfter(ed.events.shown.length, '<BS>');
        if (!got) continue;
        slip.push(got.ms);
        if (peer.srv.stats.requests === before) hits++;
      }
      // c. Accept → next ghost.
      const accept = [];
      for (let i = 0; i < ROUNDS; i++) {
        await freshLine(ed);
        if (!(await shownAfter(ed.events.shown.length, 'y'))) continue;
        // A pause, as a reader's: the request made ahead has its answer.
        await sleep(100);
        const got = await shownAfter(ed.events.shown.length, '<Tab>');
        if (got) accept.push(got.ms);
      }
      rows.push([
        peer.name,
        name,
        `${fmt(median(afterByte), 2)} / ${fmt(p99(afterByte), 2)} ms`,
        `${fmt(median(slip), 1)} / ${fmt(p99(slip), 1)} ms`,
        `${hits}/${slip.length} (${fmt((hits * 100) / Math.max(1, slip.length), 0)} %)`,
        `${fmt(median(accept), 1)} / ${fmt(p99(accept), 1)} ms`,
      ]);
      await ed.close();
    }
  }
  await llama?.close();
  table(
    `Answers already computed, debounce ${DEBOUNCE} ms, ${ROUNDS} rounds each after ${WARM} to warm up (p50 / p99)`,
    [
      'server',
      'run',
      "after the provider's last byte",
      'slip taken back: <BS> → ghost',
      'served with no request',
      'accept → next ghost',
    ],
    rows,
  );
}

await server.close();
process.exit(0);
