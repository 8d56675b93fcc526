// Startup and RPC figures for the foundation:
//   1. Neovim startup time with and without Rune installed (--startuptime, median of 20)
//   2. host cold start to ready (spawn Node, attach, handshake), against bare `node -e 0`;
//      2c. to the first feature answered (a completion), what a user feels
//   3. RPC round trips host <-> Neovim, sequential and pipelined, both directions
//   4. requests the host sends Neovim from the handshake until it is ready (modules
//      activating), by method: the host core (dist/) runs in this process; and the
//      round trips after the handshake, as the host counts them (goal: 1)
// Run after `npm run build`: node bench/startup.mjs
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { attach } from 'neovim';
import { ROOT, nvimBin, median, p99, fmt, table, quiet } from './lib.mjs';

const RUNS = Number(process.env.RUNS ?? 20);
const nvim = nvimBin();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-bench-'));
const env = {
  ...process.env,
  XDG_CONFIG_HOME: path.join(tmp, 'config'),
  XDG_DATA_HOME: path.join(tmp, 'data'),
  XDG_STATE_HOME: path.join(tmp, 'state'),
  XDG_CACHE_HOME: path.join(tmp, 'cache'),
};

function startupMs(withRune) {
  const log = path.join(tmp, `st-${withRune}.log`);
  fs.rmSync(log, { force: true });
  const args = ['--headless', '--clean', '--startuptime', log];
  if (withRune) args.push('--cmd', `set rtp^=${ROOT}`);
  args.push('+qa!');
  spawnSync(nvim, args, { env, stdio: 'ignore' });
  const text = fs.readFileSync(log, 'utf8');
  const total = Number(/^(\d+\.\d+)\s+\d+\.\d+:\s+--- NVIM STARTED ---/m.exec(text)?.[1]);
  const rune =
    /^\d+\.\d+\s+\d+\.\d+\s+(\d+\.\d+): sourcing .*rune\/plugin\/rune\.lua|^\d+\.\d+\s+\d+\.\d+\s+(\d+\.\d+): sourcing .*\/plugin\/rune\.lua/m.exec(
      text,
    );
  return { total, plugin: rune ? Number(rune[1] ?? rune[2]) : 0 };
}

// Warm the file cache, then alternate to spread noise evenly.
startupMs(false);
startupMs(true);
const without = [];
const withR = [];
const plugin = [];
for (let i = 0; i < RUNS; i++) {
  without.push(startupMs(false).total);
  const w = startupMs(true);
  withR.push(w.total);
  plugin.push(w.plugin);
}
table(
  `1. Neovim startup (${path.basename(nvim)} --headless --clean, ${RUNS} runs, ms)`,
  ['case', 'median', 'p99'],
  [
    ['without Rune', fmt(median(without)), fmt(p99(without))],
    ['with Rune', fmt(median(withR)), fmt(p99(withR))],
    ['  sourcing plugin/rune.lua', fmt(median(plugin)), fmt(p99(plugin))],
    ['difference of medians', fmt(median(withR) - median(without)), ''],
  ],
);

// 2. host cold start to ready, measured inside Neovim around require('rune.host').wait().
const proc = spawn(nvim, ['--embed', '--headless', '--clean', '-n', '--cmd', `set rtp^=${ROOT}`], {
  env,
});
const client = attach({
  proc,
  options: {
    logger: { level: 'error', debug() {}, info() {}, warn() {}, error() {} },
  },
});
/** Lua that stops the running host and waits for its process to exit: the next start is cold. */
const RESTART = `local host = require('rune.host')
  if host.is_running() then
    local job = host.info().job
    host.stop()
    vim.fn.jobwait({ job }, 5000)
  end`;

// Host starts and `node -e 0` runs alternate, to spread the machine's noise evenly. Each
// start waits for the previous host to have started its modules and exited, so that no
// other host's work runs beside the one measured.
const cold = [];
const bare = [];
for (let i = 0; i < 10; i++) {
  const ms = await client.lua(
    `${RESTART}
     local t = vim.uv.hrtime()
     host.wait()
     local ms = (vim.uv.hrtime() - t) / 1e6
     -- The modules start after ready: let them finish before the baseline runs.
     host.request('rune.status')
     return ms`,
    [],
  );
  cold.push(ms);
  const t = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  bare.push(Number(process.hrtime.bigint() - t) / 1e6);
}
const hostLog = await client.lua(`return require('rune.host').log_file()`, []);
table(
  '2. Host cold start to ready (10 runs, ms)',
  ['case', 'median', 'p99'],
  [
    ['rune host: spawn + attach + handshake', fmt(median(cold)), fmt(p99(cold))],
    ['baseline: node -e 0 (spawn to exit)', fmt(median(bare)), fmt(p99(bare))],
    ['ratio', fmt(median(cold) / median(bare), 2) + 'x', ''],
  ],
);

// 2b. CPU time (user + system) the host process spent from its start until ready, as the
// host logs it in its "host ready" line, against `node -e 0`: unlike wall time, it barely
// moves when other work shares the CPU. And until its modules had started ("modules
// started"), which follows ready in the background.
{
  const cpuAt = (msg) =>
    fs
      .readFileSync(hostLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.msg === msg)
      .map((r) => r.cpu_ms)
      .slice(-10);
  const loading = cpuAt('host ready');
  const started = cpuAt('modules started');
  const empty = [];
  for (let i = 0; i < 10; i++) {
    const r = spawnSync(
      process.execPath,
      ['-e', 'const u = process.cpuUsage(); console.log((u.user + u.system) / 1000)'],
      { encoding: 'utf8' },
    );
    empty.push(Number(r.stdout.trim()));
  }
  table(
    '2b. CPU time of the host process from its start until ready (10 runs, ms)',
    ['case', 'median', 'p99'],
    [
      ['rune host: start to ready (its log)', fmt(median(loading), 1), fmt(p99(loading), 1)],
      ['node -e 0', fmt(median(empty), 1), fmt(p99(empty), 1)],
      ['ratio', fmt(median(loading) / median(empty), 2) + 'x', ''],
      [
        'rune host: start to every module started (after ready)',
        fmt(median(started), 1),
        fmt(p99(started), 1),
      ],
    ],
  );
}

// 2c. What a user feels: from starting the host until its first feature has answered, here
// a completion (require('rune.completion').ask, as :RuneComplete does) from a local Ollama
// server that answers at once. Every module has started by then (a request waits for them),
// and the provider's first request has loaded its SDK. Against `node -e 0`, alternating.
{
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url !== '/api/generate') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const at = new Date().toISOString();
      res.end(
        JSON.stringify({ model: 'bench', created_at: at, response: 'ok()', done: false }) +
          '\n' +
          JSON.stringify({ model: 'bench', created_at: at, response: '', done: true }) +
          '\n',
      );
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  const p = spawn(nvim, ['--embed', '--headless', '--clean', '-n', '--cmd', `set rtp^=${ROOT}`], {
    env,
  });
  const n = attach({ proc: p, options: { logger: quiet } });
  await n.lua(`require('rune').setup(vim.json.decode(...))`, [
    JSON.stringify({
      providers: { local: { kind: 'ollama', url, model: 'bench', retry: { max_attempts: 1 } } },
      default_provider: 'local',
    }),
  ]);
  await n.lua(`vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'x = ' })
    vim.api.nvim_win_set_cursor(0, { 1, 3 })`);
  const ready = [];
  const first = [];
  const base = [];
  for (let i = 0; i < 10; i++) {
    const [r, f] = await n.lua(
      `${RESTART}
       local t = vim.uv.hrtime()
       host.wait()
       local ready = (vim.uv.hrtime() - t) / 1e6
       local answer
       require('rune.completion').ask(function(items, err) answer = items or err end)
       vim.wait(10000, function() return answer ~= nil end, 1)
       if type(answer) ~= 'table' then error('no completion: ' .. tostring(answer)) end
       local first = (vim.uv.hrtime() - t) / 1e6
       -- The other modules may still be starting: let them finish before the baseline runs.
       host.request('rune.status')
       return { ready, first }`,
      [],
    );
    ready.push(r);
    first.push(f);
    const t = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    base.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  table(
    '2c. Host start to its first feature answered: a completion from a local server (10 runs, ms)',
    ['case', 'median', 'p99'],
    [
      ['rune host: spawn to ready', fmt(median(ready)), fmt(p99(ready))],
      ['rune host: spawn to first completion answered', fmt(median(first)), fmt(p99(first))],
      ['baseline: node -e 0 (spawn to exit)', fmt(median(base)), fmt(p99(base))],
      ['ratio (first completion / node -e 0)', fmt(median(first) / median(base), 2) + 'x', ''],
    ],
  );
  await n.lua('require("rune.host").stop()', []);
  const exited = new Promise((r) => p.once('exit', r));
  p.kill();
  await exited;
  await new Promise((r) => server.close(r));
}

// 3. RPC round trips. Lua -> host: rpcrequest('rune.ping'). Baseline: Lua -> Neovim's
// own API through the same msgpack path is not available in-process, so the baseline
// is a test client calling nvim_eval (client -> Neovim).
const N = 2000;
const luaSeq = await client.lua(
  `local host = require('rune.host')
   local chan = host.wait()
   local out = {}
   for i = 1, ${N} do
     local t = vim.uv.hrtime()
     vim.rpcrequest(chan, 'rune.ping')
     out[i] = (vim.uv.hrtime() - t) / 1e3
   end
   return out`,
  [],
);
const seq = [];
for (let i = 0; i < N; i++) {
  const t = process.hrtime.bigint();
  await client.eval('1');
  seq.push(Number(process.hrtime.bigint() - t) / 1e3);
}
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: N }, () => client.eval('1')));
const pipelinedTotalMs = Number(process.hrtime.bigint() - t0) / 1e6;
table(
  `3. RPC round trips (${N} calls, µs)`,
  ['case', 'median', 'p99'],
  [
    ['Lua -> host rune.ping, sequential', fmt(median(luaSeq), 1), fmt(p99(luaSeq), 1)],
    ['client -> Neovim nvim_eval, sequential (baseline)', fmt(median(seq), 1), fmt(p99(seq), 1)],
    ['ratio', fmt(median(luaSeq) / median(seq), 2) + 'x', ''],
    [
      'client -> Neovim nvim_eval, pipelined (per call)',
      fmt((pipelinedTotalMs * 1000) / N, 1),
      `(${fmt(pipelinedTotalMs, 1)} ms total)`,
    ],
  ],
);

await client.lua('require("rune.host").stop()', []);
proc.kill();

// 4. Requests from the handshake to ready, counted at the host's RPC transport.
{
  const { StartingHost } = await import(path.join(ROOT, 'dist/nvim/host.js'));
  const { defaultModules } = await import(path.join(ROOT, 'dist/nvim/modules.js'));
  const { createMemoryLogger } = await import(path.join(ROOT, 'dist/core/log.js'));
  const p = spawn(nvim, ['--embed', '--headless', '--clean', '-n', '--cmd', `set rtp^=${ROOT}`], {
    env,
  });
  const n = attach({
    proc: p,
    options: { logger: { level: 'error', debug() {}, info() {}, warn() {}, error() {} } },
  });
  await n.lua(`require('rune').setup({})`, []);
  const methods = [];
  let counting = true;
  const request = n.transport.request.bind(n.transport);
  n.transport.request = (method, args, cb) => {
    if (counting) {
      // What Lua the host ran, when it went through nvim_exec_lua.
      const what = /^nvim_exec(ute)?_lua$/.test(method)
        ? `${method} ${String(args[0]).slice(0, 48)}`
        : method;
      methods.push(what.replace(/\s+/g, ' '));
    }
    return request(method, args, cb);
  };
  const t0 = performance.now();
  const host = await new StartingHost({
    nvim: n,
    logger: createMemoryLogger('error'),
    logFile: null,
  }).ready(defaultModules());
  const ms = performance.now() - t0;
  counting = false;
  const byMethod = new Map();
  for (const m of methods) byMethod.set(m, (byMethod.get(m) ?? 0) + 1);
  table(
    `4. Requests to Neovim from the handshake to ready (in-process host, ${fmt(ms, 1)} ms): ${methods.length} in all`,
    ['request', 'count'],
    [...byMethod].sort((a, b) => b[1] - a[1]).map(([m, c]) => [m, String(c)]),
  );
  // The host's own count: requests after learning its channel (nvim_get_api_info) until
  // ready, without the final `_ready` call. The goal is 1: the handshake's one call.
  console.log(
    `round trips after the handshake (host's count, goal 1): ${host.status().startup_requests}\n`,
  );
  await host.shutdown('bench').done;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill();
  await exited;
}

fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
process.exit(0);
