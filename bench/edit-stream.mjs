// :RuneEdit streaming figures:
//   1. keystroke latency of a second client typing in the SAME buffer (above the
//      edited lines) while a rewrite streams into it at RATE tokens per second —
//      against the same typing loop with no stream, measured in the same run
//   2. buffer writes per second during that stream, against the one-write-per-delta
//      count an uncoalesced writer would make
// The server speaks Ollama's NDJSON on 127.0.0.1; Neovim spawns the real host (dist/)
// with the real Ollama provider, as for a user. Run after `npm run build`:
//   node bench/edit-stream.mjs        (RATE, SECONDS, LINES override the sizes)
import {
  median,
  p99,
  fmt,
  table,
  startStreamServer,
  startEditor,
  typeLoop,
  lastLog,
} from './lib.mjs';

const RATE = Number(process.env.RATE ?? 5000);
const SECONDS = Number(process.env.SECONDS ?? 3);
const LINES = Number(process.env.LINES ?? 400);

const server = await startStreamServer();
const ed = await startEditor(server.url);
const { nvim, typist } = ed;
// The typist types on line 1 (opening new lines above the code); the LINES below are rewritten.
await nvim.lua(
  `local n = ...
   local lines = { '' }
   for i = 1, n do lines[#lines + 1] = ('local v%d = %d -- tok tok tok'):format(i, i) end
   vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)`,
  [LINES],
);
const buf = await nvim.lua('return vim.api.nvim_get_current_buf()', []);
// The host starts before the figures are taken.
await nvim.lua('require("rune.host").request("rune.status")', []);
await typist.input('ggi');

const state = () => nvim.lua('return require("rune.edit").status(...)', [buf]);

const end = performance.now() + 1500;
const base = await typeLoop(typist, () => performance.now() > end);

const count = RATE * SECONDS;
server.set({ count, rate: RATE });
let done = false;
const during = typeLoop(typist, () => done);
const t0 = performance.now();
// Straight through the Lua API, so the typist's Insert mode is left alone.
// The typist has opened lines of its own by now: the edit takes the LINES below them.
await nvim.lua(
  `local last = vim.fn.line('$')
   require('rune.edit').command({ range = 2, line1 = last - ... + 1, line2 = last,
     args = 'rewrite these lines' })`,
  [LINES],
);
for (;;) {
  const s = await state();
  if (s && s.state === 'review') break;
  if (!s && performance.now() - t0 > 1000) {
    const messages = await nvim.commandOutput('messages');
    throw new Error(`the edit ended without a review: ${messages}`);
  }
  await new Promise((r) => setTimeout(r, 2));
}
const ms = performance.now() - t0;
done = true;
const lat = await during;
await nvim.lua('require("rune.edit").reject_all(...)', [buf]);
const w = lastLog(ed.logFile, 'edit written');

table(
  `:RuneEdit: a ${LINES}-line rewrite of ${count} one-token deltas paced at ${RATE} tokens/s, typing in the same buffer`,
  ['figure', 'value'],
  [
    ['stream time (command → review)', `${fmt(ms, 0)} ms`],
    ['tokens per second delivered', fmt(count / (ms / 1000), 0)],
    ['buffer writes', String(w.writes)],
    ['buffer writes per second', fmt(w.writes / (ms / 1000), 1)],
    ['deltas per write (coalescing)', fmt(count / w.writes, 1)],
    ['writes an uncoalesced writer would make', String(count)],
    [
      'keystroke latency, no stream (median / p99)',
      `${fmt(median(base), 2)} / ${fmt(p99(base), 2)} ms (n=${base.length})`,
    ],
    [
      'keystroke latency, streaming (median / p99)',
      `${fmt(median(lat), 2)} / ${fmt(p99(lat), 2)} ms (n=${lat.length})`,
    ],
    ['latency ratio streaming / baseline (median)', fmt(median(lat) / median(base), 2)],
    ['latency ratio streaming / baseline (p99)', fmt(p99(lat) / p99(base), 2)],
  ],
);

await ed.close();
await server.close();
process.exit(0);
