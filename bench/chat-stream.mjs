// Chat streaming figures:
//   1. tokens per second the chat renders while a second client types in another
//      window and measures its own keystroke latency — against the same typing loop
//      with no stream, measured in the same run
//   2. buffer writes per second while the server streams 5,000 tokens per second,
//      against the one-write-per-delta count an uncoalesced writer would make
//   3. keystroke latency in another window while the long chat streams at PACE tokens/s
//   4. first paint: from the server writing the answer's first token to that text
//      landing in the chat buffer (Neovim's on_lines, on the same monotonic clock),
//      against a raw nvim_buf_set_lines from this process measured the same way
// The server speaks Ollama's NDJSON on 127.0.0.1; Neovim spawns the real host (dist/)
// with the real Ollama provider, as for a user. Run after `npm run build`:
//   node bench/chat-stream.mjs        (TOKENS, RATE, SECONDS, PACE override the sizes)
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

const TOKENS = Number(process.env.TOKENS ?? 20000);
const RATE = Number(process.env.RATE ?? 5000);
const SECONDS = Number(process.env.SECONDS ?? 3);
const PACE = Number(process.env.PACE ?? 200);

async function chatBuffer(nvim, fresh = false) {
  await nvim.command(fresh ? 'RuneChat!' : 'RuneChat');
  const buf = await nvim.lua('return vim.api.nvim_get_current_buf()', []);
  await nvim.command('wincmd p');
  return buf;
}

/**
 * Submits a question and resolves when the answer has finished (with its timings). The
 * question is typed `pauseMs` before the submit, as a person's last key comes some time
 * before the key that sends (Neovim's work on that edit is done by then, as it would be).
 */
async function ask(nvim, buf, pauseMs = 0) {
  await nvim.lua(
    'local b = ... vim.b[b].rune_chat_busy = nil vim.api.nvim_buf_set_lines(b, -2, -1, false, { "go" })',
    [buf],
  );
  if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  const t0 = performance.now();
  // Straight to the host, so the typist's insert mode is left alone.
  await nvim.lua('require("rune.host").request("rune.chat.submit", ...)', [buf]);
  for (;;) {
    const busy = await nvim.lua('return vim.b[...].rune_chat_busy', [buf]);
    if (busy === false) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  return performance.now() - t0;
}

const lastWrite = (logFile) => lastLog(logFile, 'chat answer written');

const server = await startStreamServer();
const ed = await startEditor(server.url);
const buf = await chatBuffer(ed.nvim);
await ed.typist.input('i');

// 1. Typing alone (baseline), then typing while the chat renders TOKENS tokens.
{
  const end = performance.now() + 1500;
  const base = await typeLoop(ed.typist, () => performance.now() > end);
  server.set({ count: TOKENS, rate: 0 });
  let done = false;
  const during = typeLoop(ed.typist, () => done);
  const ms = await ask(ed.nvim, buf);
  done = true;
  const lat = await during;
  const w = lastWrite(ed.logFile);
  table(
    `Chat render: ${TOKENS} one-token deltas sent at once (Ollama NDJSON) while typing in another window`,
    ['figure', 'value'],
    [
      ['tokens rendered per second', fmt(TOKENS / (ms / 1000), 0)],
      ['answer time (submit → done)', `${fmt(ms, 0)} ms`],
      ['buffer writes', String(w.writes)],
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
}

// 2. Writes per second at a paced RATE tokens/s.
{
  const count = RATE * SECONDS;
  server.set({ count, rate: RATE });
  const ms = await ask(ed.nvim, buf);
  const w = lastWrite(ed.logFile);
  table(
    `Chat writes: ${count} deltas paced at ${RATE} tokens/s`,
    ['figure', 'value'],
    [
      ['stream time', `${fmt(ms, 0)} ms`],
      ['tokens per second delivered', fmt(count / (ms / 1000), 0)],
      ['buffer writes', String(w.writes)],
      ['buffer writes per second', fmt(w.writes / (ms / 1000), 1)],
      ['deltas per write (coalescing)', fmt(count / w.writes, 1)],
      ['writes an uncoalesced writer would make', String(count)],
    ],
  );
}

// 3. Typing in another window while the long chat that 1 and 2 left (about 140 KB,
// where Neovim's treesitter work per write is largest) streams at a fast model's pace.
{
  const count = PACE * SECONDS;
  server.set({ count, rate: PACE });
  let done = false;
  const during = typeLoop(ed.typist, () => done);
  const ms = await ask(ed.nvim, buf);
  done = true;
  const lat = await during;
  const end = performance.now() + 1500;
  const base = await typeLoop(ed.typist, () => performance.now() > end);
  table(
    `Typing while ${count} deltas stream into the long chat at ${PACE} tokens/s`,
    ['figure', 'value'],
    [
      ['stream time', `${fmt(ms, 0)} ms`],
      [
        'keystroke latency, no stream (median / p99)',
        `${fmt(median(base), 2)} / ${fmt(p99(base), 2)} ms (n=${base.length})`,
      ],
      [
        'keystroke latency, streaming (median / p99)',
        `${fmt(median(lat), 2)} / ${fmt(p99(lat), 2)} ms (n=${lat.length})`,
      ],
      ['latency ratio streaming / baseline (p99)', fmt(p99(lat) / p99(base), 2)],
    ],
  );
}

// 4. First paint: the first token alone, then a pause, RUNS times. Neovim notes the
// moment the text lands in the buffer (on_lines, vim.uv.hrtime()); the server notes when
// it wrote the token (process.hrtime): both read the same monotonic clock (uv_hrtime), so
// nothing of the notification's way back to a watching client is counted. The floor is a
// raw nvim_buf_set_lines request from this process, timed the same way. Measured in a new
// chat, and in the long chat sections 1 to 3 left (Neovim ≥ 0.11 highlights a markdown
// buffer with treesitter, whose work on each change grows with the buffer).
async function firstPaint(pbuf) {
  const RUNS = Number(process.env.RUNS ?? 20);
  const paint = [];
  const raw = [];
  const seenAt = (want) =>
    ed.nvim.lua(
      `local b, want = ...
       _G.rune_bench_paint = { want = want, at = 0 }
       _G.rune_bench_attached = _G.rune_bench_attached or {}
       if not _G.rune_bench_attached[b] then
         _G.rune_bench_attached[b] = true
         vim.api.nvim_buf_attach(b, false, {
           on_lines = function(_, buf, _, first, _, last_new)
             local p = _G.rune_bench_paint
             if p.at ~= 0 or p.want == '' then return end
             for _, l in ipairs(vim.api.nvim_buf_get_lines(buf, first, last_new, false)) do
               if l:find(p.want, 1, true) then p.at = vim.uv.hrtime() return end
             end
           end,
         })
       end`,
      [pbuf, want],
    );
  const paintedNs = async () => {
    for (;;) {
      const at = await ed.nvim.lua('return _G.rune_bench_paint.at', []);
      if (at) return BigInt(Math.round(at));
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const ms = (ns) => Number(ns) / 1e6;
  // Two kinds of answer: the first token at once (a server that needs no time to think),
  // and after 30 ms, as a model's prompt evaluation takes at least that. At once, the
  // token finds Neovim still busy with any change made to the buffer just before (in a
  // markdown buffer, its treesitter parse): the submit changes nothing, the question was
  // typed TYPED_MS before it.
  const atOnce = [];
  for (let i = 0; i < RUNS * 2; i++) {
    const delayed = i % 2 === 1;
    const want = `first${i}x`;
    await seenAt(want);
    server.set({ count: 3, rate: 0, first: want, pauseMs: 60, firstDelayMs: delayed ? WAIT : 0 });
    await ask(ed.nvim, pbuf, TYPED_MS);
    (delayed ? paint : atOnce).push(ms((await paintedNs()) - server.seen.firstNs));
    if (delayed) continue;
    // The floor: one buffer write from another process, seen the same way.
    await seenAt(`raw${i}x`);
    const r0 = process.hrtime.bigint();
    await ed.typist.request('nvim_buf_set_lines', [pbuf, -1, -1, false, [`raw${i}x`]]);
    raw.push(ms((await paintedNs()) - r0));
  }
  const bytes = await ed.nvim.lua(
    'return vim.api.nvim_buf_get_offset(..., vim.api.nvim_buf_line_count(...))',
    [pbuf],
  );
  return { RUNS, paint, atOnce, raw, bytes };
}
const WAIT = 30;
const TYPED_MS = 100;
{
  const rows = [];
  // The long chat first: `:RuneChat!` then starts a new one (in the same window).
  for (const name of ['the long chat of 1 to 3', 'a new chat']) {
    const pbuf = name === 'a new chat' ? await chatBuffer(ed.nvim, true) : buf;
    const r = await firstPaint(pbuf);
    const kb = `${fmt(r.bytes / 1024, 0)} KB`;
    rows.push(
      [
        `${name} (${kb}): first token written ${WAIT} ms after the request → in the buffer`,
        `${fmt(median(r.paint), 2)} ms`,
        `${fmt(p99(r.paint), 2)} ms`,
      ],
      [
        `${name} (${kb}): first token written at once → in the buffer`,
        `${fmt(median(r.atOnce), 2)} ms`,
        `${fmt(p99(r.atOnce), 2)} ms`,
      ],
      [
        `${name} (${kb}): raw nvim_buf_set_lines sent → in the buffer (floor)`,
        `${fmt(median(r.raw), 2)} ms`,
        `${fmt(p99(r.raw), 2)} ms`,
      ],
    );
  }
  table(
    `Chat first paint: provider's first token → text in the chat buffer (${Number(process.env.RUNS ?? 20)} answers each)`,
    ['figure', 'median', 'p99'],
    rows,
  );
}

await ed.close();
await server.close();
process.exit(0);
