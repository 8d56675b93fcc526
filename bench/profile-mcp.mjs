// CPU profile of the host while it answers small MCP tool calls over HTTP:
// starts a real headless Neovim whose host runs with `--cpu-prof`, makes N
// read_buffer calls of LINES lines, quits, and prints the functions with the
// most self time (the profile file stays for Chrome DevTools / speedscope).
// TOOL=get_cursor or TOOL=get_diagnostics profiles those calls instead.
// Run after `npm run build`: node bench/profile-mcp.mjs   (N=2000, LINES=10, TOP=30)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attach } from 'neovim';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, nvimBin, fmt, table } from './lib.mjs';

const N = Number(process.env.N ?? 2000);
const TOP = Number(process.env.TOP ?? 30);
const LINES = Number(process.env.LINES ?? 10);
const TOOL = process.env.TOOL ?? 'read_buffer';
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-bench-prof-'));
const profDir = path.join(home, 'prof');
fs.mkdirSync(profDir);
// Node refuses --cpu-prof in NODE_OPTIONS: host.node names a wrapper that passes it.
const nodeWrapper = path.join(home, 'node-prof');
fs.writeFileSync(
  nodeWrapper,
  `#!/bin/sh\nexec '${process.execPath}' --cpu-prof --cpu-prof-dir='${profDir}' "$@"\n`,
  { mode: 0o700 },
);
const env = { ...process.env };
delete env.NVIM;
for (const d of ['config', 'data', 'state', 'cache', 'run']) {
  const key = d === 'run' ? 'XDG_RUNTIME_DIR' : `XDG_${d.toUpperCase()}_HOME`;
  env[key] = path.join(home, d);
  fs.mkdirSync(env[key], { recursive: true, mode: 0o700 });
}
const proc = spawn(
  nvimBin(),
  ['--embed', '--headless', '--clean', '-n', '--cmd', `set rtp^=${ROOT}`],
  { env, cwd: home, stdio: ['pipe', 'pipe', 'inherit'] },
);
const quiet = { level: 'error', info() {}, warn() {}, error() {}, debug() {} };
const nvim = attach({ proc, options: { logger: quiet } });
await nvim.lua(
  `require('rune').setup({ host = { node = '${nodeWrapper}' }, mcp = { approval = { rules = { { tool = 'edit_buffer', action = 'allow' } } } } })
   local lines = {}
   for i = 1, ${Math.max(100, LINES)} do lines[i] = ('line %05d: the quick brown fox jumps over the lazy dog'):format(i) end
   vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)`,
  [],
);
const info = await nvim.lua('return require("rune.host").request("rune.mcp.info")', []);
const buf = await nvim.lua('return vim.api.nvim_get_current_buf()', []);
const client = new Client({ name: 'bench-profile', version: '0' });
await client.connect(
  new StreamableHTTPClientTransport(new URL(info.url), {
    requestInit: { headers: { Authorization: `Bearer ${info.token}` } },
  }),
);
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  const r = await client.callTool({
    name: TOOL,
    arguments:
      TOOL === 'read_buffer'
        ? { buffer: buf, start_line: 1, end_line: LINES }
        : TOOL === 'get_diagnostics'
          ? { buffer: buf }
          : TOOL === 'edit_buffer'
            ? {
                buffer: buf,
                edits: [
                  {
                    range: { start: { line: 5, character: 0 }, end: { line: 5, character: 10 } },
                    newText: `line ${String(i % 100000).padStart(5, '0')}`,
                  },
                ],
              }
            : {},
  });
  if (r.isError) throw new Error(r.content[0].text);
}
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
await client.close();
nvim.command('qa!').catch(() => undefined);
await new Promise((r) => proc.once('exit', r));

// The host writes its profile when it exits, a moment after Neovim.
const deadline = Date.now() + 10_000;
let files = [];
while (Date.now() < deadline) {
  files = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length) break;
  await new Promise((r) => setTimeout(r, 50));
}
if (!files.length) throw new Error(`no .cpuprofile in ${profDir}`);
const file = path.join(profDir, files[0]);
await new Promise((r) => setTimeout(r, 200)); // let the writer finish the file
const prof = JSON.parse(fs.readFileSync(file, 'utf8'));

// Self time per node = its sample count × the mean interval.
const interval = (prof.endTime - prof.startTime) / 1000 / Math.max(1, prof.samples?.length ?? 1);
const count = new Map();
for (const id of prof.samples) count.set(id, (count.get(id) ?? 0) + 1);
const self = new Map();
let total = 0;
for (const node of prof.nodes) {
  const n = count.get(node.id) ?? 0;
  if (!n) continue;
  const cf = node.callFrame;
  const where = cf.url
    ? `${cf.url.replace(/^file:\/\//, '').replace(ROOT + '/', '')}:${cf.lineNumber + 1}`
    : '';
  const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
  self.set(key, (self.get(key) ?? 0) + n * interval);
  total += n * interval;
}
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP);
console.log(`${N} calls in ${fmt(ms, 0)} ms (${fmt(ms / N, 3)} ms per call, client included)`);
table(
  `Host self time under ${N} ${TOOL} calls${TOOL === 'read_buffer' ? ` of ${LINES} lines` : ''} (${fmt(total, 0)} ms sampled; profile: ${file})`,
  ['function', 'self ms', 'share'],
  rows.map(([k, v]) => [k, fmt(v, 1), fmt((100 * v) / total, 1) + '%']),
);
process.exit(0);
