import { attach } from 'neovim';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
const bin = process.argv[2];
const proc = spawn(bin, ['--clean', '--embed', '--headless', '--cmd', 'set rtp^=/work/main'], { stdio: ['pipe', 'pipe', 'inherit'] });
const nvim = attach({ proc, options: { logger: { info(){}, warn(){}, error(){}, debug(){}, level: 'error' } } });
await nvim.request('nvim_exec_lua', [`local lines = {} for i = 1, 10000 do lines[i] = ('line %05d: the quick brown fox jumps over the lazy dog'):format(i) end vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)`, []]);
const flt = () => Number(fs.readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1].split(' ')[7]);
const cpu = () => Number(fs.readFileSync(`/proc/${proc.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
async function run(name, f) {
  for (let i = 0; i < 20; i++) await f();
  const c0 = cpu(); const f0 = flt(); const t0 = performance.now();
  const N = 200;
  for (let i = 0; i < N; i++) await f();
  console.log(name.padEnd(40), 'nvim CPU/call', ((cpu() - c0) / N).toFixed(3), 'wall', ((performance.now() - t0) / N).toFixed(3), 'minflt/call', ((flt() - f0) / N).toFixed(1));
}




const mode = process.argv[3] || 'none';
if (mode === 'setup') { await nvim.request('nvim_exec_lua', ["require('rune').setup({})", []]); await new Promise(r => setTimeout(r, 1500)); }
if (mode === 'require') { await nvim.request('nvim_exec_lua', ["for _, m in ipairs({'rune','rune.config','rune.host','rune.chat','rune.completion','rune.ghost','rune.editor','rune.util','rune.commands','rune.health','rune.mcp','rune.approval','rune.context','rune.progress'}) do pcall(require, m) end", []]); }
console.log(mode, 'lua KB', await nvim.request('nvim_exec_lua', ['return collectgarbage("count")', []]));
await run('full collect', () => nvim.request('nvim_exec_lua', [`collectgarbage('collect')`, []]));
await run('editor.text', () => nvim.request('nvim_exec_lua', [`return require('rune.editor').text(...)`, [1, 0, 10000]]));
proc.kill();
process.exit(0);
