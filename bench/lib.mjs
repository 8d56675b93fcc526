// Shared helpers for the benchmarks: statistics, the Neovim under test, and a
// table printer. Benchmarks print figures; they never assert.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { attach, findNvim } from 'neovim';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function nvimBin() {
  if (process.env.RUNE_BENCH_NVIM) return process.env.RUNE_BENCH_NVIM;
  // The neovim client's finder compares versions properly (0.10 < 0.12 < 1.0).
  if (findNvim({ cmds: [['nvim']], minVersion: '0.10.0' }).matches.length > 0) return 'nvim';
  return path.join(ROOT, '.cache', 'nvim', 'sid', 'bin', 'nvim');
}

export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}

export const median = (v) => quantile(v, 0.5);
export const p99 = (v) => quantile(v, 0.99);

export function fmt(n, digits = 3) {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

// Straight to stdout: the neovim client replaces `console` with its (silent) logger.
const println = (line) => process.stdout.write(line + '\n');

/** Prints rows as an aligned table. */
export function table(title, header, rows) {
  println(`\n${title}`);
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  for (const [n, r] of all.entries()) {
    println('  ' + r.map((c, i) => c.padEnd(widths[i])).join('  '));
    if (n === 0) println('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

// The client's default logger would take over `console`.
export const quiet = { level: 'error', debug() {}, info() {}, warn() {}, error() {} };

/** An Ollama /api/chat server streaming `count` one-token deltas at `rate` per second (0: at once). */
export function startStreamServer() {
  let plan = { count: 0, rate: 0 };
  /**
   * When the last answer's first token was written: performance.now() after the write,
   * and the monotonic clock (uv_hrtime, as Neovim's vim.uv.hrtime()) before it.
   */
  const seen = { firstAt: 0, firstNs: 0n };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      if (req.url !== '/api/chat') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ models: [] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const line = (content, done = false) =>
        JSON.stringify({
          model: 'bench',
          created_at: new Date().toISOString(),
          message: { role: 'assistant', content },
          done,
          ...(done ? { done_reason: 'stop', prompt_eval_count: 1, eval_count: plan.count } : {}),
        }) + '\n';
      if (plan.first) {
        // One token alone, then a pause: the first paint is measured on it.
        if (plan.firstDelayMs) await new Promise((r) => setTimeout(r, plan.firstDelayMs));
        seen.firstNs = process.hrtime.bigint();
        res.write(line(plan.first));
        seen.firstAt = performance.now();
        await new Promise((r) => setTimeout(r, plan.pauseMs ?? 100));
      }
      const t0 = performance.now();
      let sent = 0;
      while (sent < plan.count && !res.destroyed) {
        const due = plan.rate
          ? Math.min(plan.count, Math.floor(((performance.now() - t0) / 1000) * plan.rate))
          : plan.count;
        let chunk = '';
        for (; sent < due; sent++) chunk += line(sent % 12 === 11 ? 'tok\n' : 'tok ');
        if (chunk && !res.write(chunk)) await new Promise((r) => res.once('drain', r));
        await new Promise((r) => setTimeout(r, plan.rate ? 1 : 0));
      }
      res.end(line('', true));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        set: (p) => (plan = p),
        seen,
        close: () => new Promise((r) => server.close(r)),
      }),
    ),
  );
}

/**
 * A headless Neovim with Rune on the runtimepath and set up with `config` (the
 * provider `local` pointing at `url`, the log in a private file), plus a second
 * client, the typist, attached to the same Neovim as a UI would be.
 */
export async function startEditor(url, extra = {}) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-bench-'));
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
  // The provisioned Neovims keep their bundled parsers (markdown highlighting) in their prefix.
  const parsers = path.resolve(path.dirname(nvimBin()), '..', 'root', 'usr', 'lib', 'nvim');
  if (fs.existsSync(path.join(parsers, 'parser'))) args.push('--cmd', `set rtp+=${parsers}`);
  const proc = spawn(nvimBin(), args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const nvim = attach({ proc, options: { logger: quiet } });
  const logFile = path.join(home, 'rune.log');
  const config = {
    providers: { local: { kind: 'ollama', url, model: 'bench', retry: { max_attempts: 1 } } },
    chat: { start_insert: false },
    host: { log_file: logFile },
    ...extra,
  };
  await nvim.lua(`require('rune').setup(vim.json.decode(...))`, [JSON.stringify(config)]);
  // The typist is another client, as a UI would be.
  const typist = attach({ socket: sock, options: { logger: quiet } });
  await typist.channelId;
  return {
    nvim,
    typist,
    logFile,
    async close() {
      proc.kill('SIGKILL');
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Types one key at a time where the typist's cursor is, each time waiting until it landed. */
export async function typeLoop(typist, until) {
  const lat = [];
  let col = (await typist.call('col', ['.'])) - 1;
  while (!until()) {
    const t0 = performance.now();
    await typist.input('x');
    col++;
    for (;;) {
      const line = await typist.request('nvim_get_current_line', []);
      if (line.length >= col) break;
    }
    lat.push(performance.now() - t0);
    if (col > 200) {
      await typist.input('<CR>');
      col = 0;
      for (;;) {
        const c = await typist.call('col', ['.']);
        if (c === 1) break;
      }
    }
  }
  return lat;
}

/** The last log line with message `msg` in the host's JSON-lines log. */
export function lastLog(logFile, msg) {
  const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n');
  const line = lines.reverse().find((l) => l.includes(`"${msg}"`));
  return JSON.parse(line);
}
