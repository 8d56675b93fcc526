// Tool-call latency of Rune's MCP server against a real headless Neovim:
// 10-line and 10,000-line reads, the cursor, one buffer's diagnostics and a
// small edit, over HTTP and through `rune mcp` (stdio, which reaches the host
// over its Unix socket), each beside the same facts fetched directly over
// Neovim's msgpack-RPC as the baseline. Edits are allowed by an approval rule so no
// prompt waits for a person.
// Two floor rows: the same SDK client against the SDK's own server with a tool that does
// nothing, and against a bare server that answers ready JSON (bench/sdk-floor-server.mjs):
// what the client and this machine cost alone.
// Two more rows show Rune's own share: a bare keep-alive `http.request` POST of
// the same JSON-RPC body (no SDK client), and the CPU time the host (and the
// `rune mcp` process) spent per call, read from /proc: steadier than wall
// time on a shared machine.
// A last table tells what the slowest 1% of calls are made of, beside the middle
// calls: per call, the CPU time and the run-queue wait ("waits for a CPU") of the
// host's, Neovim's and this process's main threads (/proc/<pid>/schedstat, read
// between calls, outside the timed span, each call starting on a fresh
// macrotask), and the GC pauses of this process, which runs the SDK clients.
// High waits with ordinary CPU mean the machine was busy, not that Rune worked more.
// Run after `npm run build`: node bench/mcp-latency.mjs   (N=300)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { attach } from 'neovim';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ROOT, nvimBin, median, p99, fmt, table } from './lib.mjs';

const N = Number(process.env.N ?? 300);
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-bench-mcp-'));
const env = { ...process.env };
delete env.NVIM;
for (const [k, d] of Object.entries({
  XDG_CONFIG_HOME: 'config',
  XDG_DATA_HOME: 'data',
  XDG_STATE_HOME: 'state',
  XDG_CACHE_HOME: 'cache',
  XDG_RUNTIME_DIR: 'run',
})) {
  env[k] = path.join(home, d);
  fs.mkdirSync(env[k], { recursive: true, mode: 0o700 });
}
const sock = path.join(home, 'nvim.sock');
const started = performance.now();
const proc = spawn(
  nvimBin(),
  ['--embed', '--headless', '--clean', '-n', '--listen', sock, '--cmd', `set rtp^=${ROOT}`],
  { env, cwd: home, stdio: ['pipe', 'pipe', 'inherit'] },
);
const quiet = { level: 'error', info() {}, warn() {}, error() {}, debug() {} };
const nvim = attach({ proc, options: { logger: quiet } });
await nvim.lua(
  `require('rune').setup({ mcp = { approval = { rules = { { tool = 'edit_buffer', action = 'allow' } } } } })
   local lines = {}
   for i = 1, 10000 do lines[i] = ('line %05d: the quick brown fox jumps over the lazy dog'):format(i) end
   vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)`,
  [],
);
const info = await nvim.lua('return require("rune.host").request("rune.mcp.info")', []);
const buf = await nvim.lua('return vim.api.nvim_get_current_buf()', []);
const hostPid = await nvim.lua('return vim.fn.jobpid(require("rune.host").info().job)', []);

/** CPU time (user + system, ms) a process has used, from /proc (Linux); NaN elsewhere. */
function cpuMs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in USER_HZ (100)
  } catch {
    return NaN;
  }
}

/**
 * [ms on CPU, ms waiting for a CPU] of a process's main thread so far, from
 * /proc/<pid>/schedstat (Linux, nanoseconds): what the thread itself worked,
 * and how long it was runnable but the machine ran something else.
 */
function sched(pid) {
  try {
    const [run, wait] = fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ');
    return [Number(run) / 1e6, Number(wait) / 1e6];
  } catch {
    return [NaN, NaN];
  }
}

// Garbage collections in this (the clients') process, to tell the client's pauses from the host's.
const gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
}).observe({ entryTypes: ['gc'] });
/** ms of this process's GC inside [a, b] (performance.now() times). */
function gcIn(a, b) {
  let ms = 0;
  for (let i = gcs.length - 1; i >= 0 && gcs[i][1] > a - 1000; i--) {
    ms += Math.max(0, Math.min(b, gcs[i][1]) - Math.max(a, gcs[i][0]));
  }
  return ms;
}

/**
 * Wall times (ms) of N calls after a warm-up; `out.cpu`: ms of CPU per call of the `pids`;
 * `out.parts`: per call, what each side did during it (see `sides`).
 */
async function measure(fn, pids = [], server = hostPid) {
  // Warm-up: the JIT compiles the host's call path here, not in the first case measured.
  for (let i = 0; i < 100; i++) await fn(i);
  const out = [];
  out.parts = [];
  const cpu0 = pids.map(cpuMs);
  // Read before and after each call, outside the timed span.
  const who = [server, proc.pid, process.pid];
  for (let i = 0; i < N; i++) {
    const s0 = who.map(sched);
    // Delivered to the observer a tick later: the GC of the call before is in `gcs` by now.
    await new Promise((r) => setImmediate(r));
    const a = performance.now();
    const t = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
    const b = performance.now();
    await new Promise((r) => setImmediate(r));
    const s1 = who.map(sched);
    out.parts.push([
      ...who.flatMap((_, k) => [s1[k][0] - s0[k][0], s1[k][1] - s0[k][1]]),
      gcIn(a, b),
    ]);
  }
  out.cpu = pids.map((p, i) => (cpuMs(p) - cpu0[i]) / N);
  return out;
}
/** The columns of `out.parts`. */
const sides = [
  'host CPU',
  'host waits for a CPU',
  'nvim CPU',
  'nvim waits',
  'client CPU',
  'client waits',
  'client GC',
];

const call = (c, name, args) => async () => {
  const r = await c.callTool({ name, arguments: args });
  if (r.isError) throw new Error(r.content[0].text);
};
const edit = (c) => async (i) => {
  const r = await c.callTool({
    name: 'edit_buffer',
    arguments: {
      buffer: buf,
      edits: [
        {
          range: { start: { line: 5, character: 0 }, end: { line: 5, character: 10 } },
          newText: `line ${String(i % 100000).padStart(5, '0')}`,
        },
      ],
    },
  });
  if (r.isError) throw new Error(r.content[0].text);
};

const httpClient = new Client({ name: 'bench-http', version: '0' });
const httpTransport = new StreamableHTTPClientTransport(new URL(info.url), {
  requestInit: { headers: { Authorization: `Bearer ${info.token}` } },
});
await httpClient.connect(httpTransport);
const stdio = new Client({ name: 'bench-stdio', version: '0' });
await stdio.connect(
  new StdioClientTransport({
    command: process.execPath,
    args: [path.join(ROOT, 'dist/cli/main.js'), 'mcp'],
    env: { ...env, NVIM: sock },
    stderr: 'ignore',
  }),
);

// The floors (bench/sdk-floor-server.mjs): the same SDK client calling the SDK's own server,
// whose tool does nothing, and a bare server that answers ready JSON at once: what the
// client, the SDK and the machine cost with no Rune and no Neovim.
async function floorServer(...args) {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bench/sdk-floor-server.mjs'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve) =>
    proc.stdout.once('data', (d) => resolve(String(d).trim())),
  );
  const client = new Client({ name: `bench-floor${args.join('')}`, version: '0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return { proc, client };
}
const floors = [
  ["the SDK's own server, a no-op tool, no Neovim (floor)", await floorServer()],
  ['a bare server answering ready JSON, no SDK, no Neovim (floor)', await floorServer('canned')],
];

// The same JSON-RPC POST as the SDK client's, over one keep-alive connection with
// node:http and nothing else: what the SDK client (fetch) adds is the difference.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const bare = (name, args) => {
  let id = 0;
  return () =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({
        jsonrpc: '2.0',
        id: `bare-${++id}`,
        method: 'tools/call',
        params: { name, arguments: args },
      });
      const req = http.request(
        info.url,
        {
          method: 'POST',
          agent,
          headers: {
            Authorization: `Bearer ${info.token}`,
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(body),
            Accept: 'application/json, text/event-stream',
            'mcp-session-id': httpTransport.sessionId,
            'mcp-protocol-version': httpTransport.protocolVersion,
          },
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const m = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            if (res.statusCode !== 200 || m.error || m.result.isError) {
              reject(new Error(`bare POST: ${res.statusCode} ${JSON.stringify(m).slice(0, 200)}`));
            } else resolve(m);
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
};

// Each call: the raw msgpack-RPC request(s) that fetch the same facts, then the tool.
const cases = [
  [
    'read 10 lines',
    () => nvim.request('nvim_buf_get_lines', [buf, 0, 10, false]),
    ['read_buffer', { buffer: buf, start_line: 1, end_line: 10 }],
  ],
  [
    'read 10,000 lines',
    () => nvim.request('nvim_buf_get_lines', [buf, 0, 10000, false]),
    ['read_buffer', { buffer: buf, start_line: 1, end_line: 10000 }],
  ],
  [
    'cursor',
    () =>
      nvim.request('nvim_call_atomic', [
        [
          ['nvim_get_current_buf', []],
          ['nvim_win_get_cursor', [0]],
          ['nvim_get_mode', []],
        ],
      ]),
    ['get_cursor', {}],
  ],
  [
    'diagnostics of one buffer',
    () => nvim.request('nvim_exec_lua', ['return vim.diagnostic.get(...)', [buf]]),
    ['get_diagnostics', { buffer: buf }],
  ],
];

const stdioTransport = stdio.transport;
// The host starts its modules in the background after ready, and the JIT compiles the
// call path on first use: one round of every call first, so no row pays for either.
async function warmUp() {
  for (const [, raw, [tool, args]] of cases) {
    for (const fn of [
      raw,
      bare(tool, args),
      call(httpClient, tool, args),
      call(stdio, tool, args),
    ]) {
      for (let i = 0; i < 100; i++) await fn(i);
    }
  }
  for (const [, f] of floors) for (let i = 0; i < 100; i++) await call(f.client, 'noop', {})();
}
await warmUp();
// V8's memory reducer collects what the start left behind once, about 8 s after it (some
// 60 ms of the host's CPU): the rows measure the steady state after that, warmed up again.
const settled = started + 12000 - performance.now();
if (settled > 0) await new Promise((r) => setTimeout(r, settled));
await warmUp();
const rows = [];
const outliers = [];
/** Mean wall time and mean of each `sides` column over the calls ranked [from, to) by wall time. */
function makeup(v, from, to) {
  const order = v.map((_, i) => i).sort((a, b) => v[a] - v[b]);
  const pick = order.slice(
    Math.floor(from * v.length),
    Math.max(Math.floor(from * v.length) + 1, Math.floor(to * v.length)),
  );
  const mean = (f) => pick.reduce((s, i) => s + f(i), 0) / pick.length;
  const wall = mean((i) => v[i]);
  const parts = sides.map((_, k) => mean((i) => v.parts[i][k]));
  // Wall time in which none of the three main threads was on a CPU: wake-ups, the kernel's
  // loopback and pipes, and the host's / client's helper threads.
  const none = wall - parts[0] - parts[2] - parts[4];
  return [fmt(wall, 2), ...parts.map((x) => fmt(x, 2)), fmt(none, 2)];
}
const row = (label, via, v, base) => {
  if (v === base) {
    // The baseline's middle calls: what Neovim itself spends on the same facts.
    outliers.push([`${label}: ${via}, middle (p40-p60)`, ...makeup(v, 0.4, 0.6)]);
  } else if (v.parts) {
    outliers.push([`${label}: ${via}, slowest 1%`, ...makeup(v, 0.99, 1)]);
    outliers.push([`${label}: ${via}, middle (p40-p60)`, ...makeup(v, 0.4, 0.6)]);
  }
  return rowOf(label, via, v, base);
};
const rowOf = (label, via, v, base) => [
  `${label}: ${via}`,
  fmt(median(v), 2),
  fmt(p99(v), 2),
  fmt(median(v) / median(base), 1) + 'x',
  v.cpu.map((c) => fmt(c, 3)).join(' + ') || '',
];
for (const [label, raw, [tool, args]] of cases) {
  const base = await measure(raw);
  if (label === 'cursor') {
    for (const [via, f] of floors) {
      const floor = await measure(call(f.client, 'noop', {}), [f.proc.pid], f.proc.pid);
      rows.push(row(label, via, floor, base));
    }
  }
  rows.push(row(label, 'msgpack-RPC direct (baseline)', base, base));
  rows.push(row(label, 'bare http.request POST', await measure(bare(tool, args), [hostPid]), base));
  rows.push(
    row(label, 'MCP over HTTP', await measure(call(httpClient, tool, args), [hostPid]), base),
  );
  rows.push(
    row(
      label,
      'MCP through rune mcp (stdio)',
      await measure(call(stdio, tool, args), [hostPid, stdioTransport.pid]),
      base,
    ),
  );
}
const editBase = await measure(() => nvim.request('nvim_buf_get_lines', [buf, 5, 6, false]));
rows.push(row('small edit', 'MCP over HTTP', await measure(edit(httpClient), [hostPid]), editBase));
rows.push(
  row(
    'small edit',
    'MCP through rune mcp (stdio)',
    await measure(edit(stdio), [hostPid, stdioTransport.pid]),
    editBase,
  ),
);

table(
  `MCP tool-call latency against Neovim (${N} calls each, ms; edits against a 1-line RPC read;` +
    ` CPU: ms per call of the host [+ rune mcp], from /proc)`,
  ['call', 'p50', 'p99', 'p50 vs baseline', 'CPU'],
  rows,
);

table(
  'What a call is made of: mean ms per call of the slowest 1% against the middle calls.' +
    ' CPU and waits of each main thread from /proc/<pid>/schedstat ("waits": runnable while' +
    ' the machine ran something else); client GC: GC pauses of the bench process, which runs' +
    ' the SDK clients; "none on CPU": wall minus the three CPU columns',
  ['calls', 'wall', ...sides, 'none on CPU'],
  outliers,
);

await httpClient.close();
for (const [, f] of floors) {
  await f.client.close();
  f.proc.kill();
}
agent.destroy();
await stdio.close();
nvim.command('qa!').catch(() => undefined);
await new Promise((r) => proc.once('exit', r));
fs.rmSync(home, { recursive: true, force: true });
process.exit(0);
