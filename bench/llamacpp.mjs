// The llamacpp provider against a real llama-server (provisioned by scripts/setup.sh into
// .cache/llama) serving the tiny deterministic test model, in one run:
//   1. time to first token through Rune vs the bare HTTP call, for a streamed chat
//      (/v1/chat/completions) and for fill-in-the-middle (/infill; Rune's complete()
//      resolves with the whole answer, so both sides time the whole 4-token answer)
//   2. slot release time after a cancel: a completion generating without end is
//      cancelled; how long until /slots shows the slot free
//   3. prompt tokens per FIM request with and without input_extra
// Uses the built providers (dist/). Run after `npm run build`:
//   node bench/llamacpp.mjs        (N=200 calls, CANCELS=20 override)
import { execFileSync, spawn } from 'node:child_process';
import { TextDecoderStream } from 'node:stream/web';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createProviderRegistry } from '../dist/providers/registry.js';
import { parseProvidersConfig } from '../dist/providers/config.js';
import { nullLogger } from '../dist/core/log.js';
import { ROOT, fmt, median, p99, table } from './lib.mjs';

const N = Number(process.env.N ?? 200);
const CANCELS = Number(process.env.CANCELS ?? 20);
const PREFIX = path.join(ROOT, '.cache', 'llama');
const SERVER = path.join(PREFIX, 'bin', 'llama-server');
if (!fs.existsSync(SERVER)) {
  console.error(`llama-server is not provisioned at ${SERVER}: run scripts/setup.sh first`);
  process.exit(1);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-bench-llama-'));
const model = path.join(tmp, 'tiny.gguf');
execFileSync(
  path.join(PREFIX, 'bin', 'python3'),
  [path.join(ROOT, 'test', 'fixtures', 'llama', 'make-model.py'), model],
  { stdio: 'inherit' },
);

const port = await new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const url = `http://127.0.0.1:${port}`;
const proc = spawn(
  SERVER,
  ['-m', model, '--host', '127.0.0.1', '--port', String(port), '-c', '4096', '-np', '1'],
  { stdio: 'ignore' },
);
const stop = () => {
  proc.kill('SIGTERM');
  fs.rmSync(tmp, { recursive: true, force: true });
};
process.on('exit', stop);
for (let i = 0; ; i++) {
  const ok = await fetch(`${url}/health`).then(
    (r) => r.ok,
    () => false,
  );
  if (ok) break;
  if (i > 300) throw new Error('llama-server did not become healthy');
  await new Promise((r) => setTimeout(r, 50));
}

const registry = createProviderRegistry(
  parseProvidersConfig({ providers: { llamacpp: { url } } }),
  { logger: nullLogger },
);
const provider = registry.get('chat');
const messages = [{ role: 'user', content: 'hi' }];

/** ms until the first `data:` line with text, then the rest is drained. */
async function bareStream(pathname, body) {
  const t0 = performance.now();
  const res = await fetch(url + pathname, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let first;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (first === undefined && /"content":"[^"]/.test(value)) first = performance.now() - t0;
  }
  return first ?? performance.now() - t0;
}

async function runeChat() {
  const t0 = performance.now();
  let first;
  for await (const ev of provider.chat({ messages })) {
    if (first === undefined && ev.type === 'text') first = performance.now() - t0;
  }
  return first;
}

async function bareInfill() {
  const t0 = performance.now();
  const res = await fetch(`${url}/infill`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input_prefix: 'def f(', input_suffix: ')\n', n_predict: 4 }),
  });
  await res.json();
  return performance.now() - t0;
}

async function runeInfill() {
  const t0 = performance.now();
  await provider.complete({ prefix: 'def f(', suffix: ')\n', maxTokens: 4 });
  return performance.now() - t0;
}

async function pair(bare, rune) {
  for (let i = 0; i < Math.min(20, N); i++) {
    await bare();
    await rune();
  }
  const b = [];
  const r = [];
  for (let i = 0; i < N; i++) {
    b.push(await bare());
    r.push(await rune());
  }
  return [b, r];
}

const [chatBare, chatRune] = await pair(
  () => bareStream('/v1/chat/completions', { messages, stream: true }),
  runeChat,
);
const [fimBare, fimRune] = await pair(bareInfill, runeInfill);
const row = (name, b, r) => [
  name,
  fmt(median(b)),
  fmt(median(r)),
  fmt(p99(b)),
  fmt(p99(r)),
  fmt(median(r) / median(b), 2),
];
table(
  `1. Time to first token, ms (N=${N}; /infill: the whole 4-token answer)`,
  ['request', 'bare p50', 'Rune p50', 'bare p99', 'Rune p99', 'p50 ratio'],
  [row('chat /v1/chat/completions', chatBare, chatRune), row('FIM /infill', fimBare, fimRune)],
);

const slotsBusy = async () =>
  (await (await fetch(`${url}/slots`)).json()).some((s) => s.is_processing);
const release = [];
for (let i = 0; i < CANCELS; i++) {
  const ac = new AbortController();
  const p = provider
    .complete({ prefix: 'a', suffix: 'b', maxTokens: 100000 }, { signal: ac.signal })
    .catch(() => undefined);
  while (!(await slotsBusy())) await new Promise((r) => setTimeout(r, 1));
  const t0 = performance.now();
  ac.abort();
  await p;
  while (await slotsBusy()) await new Promise((r) => setTimeout(r, 1));
  release.push(performance.now() - t0);
}
table(
  `2. Slot release after a cancelled /infill, ms (${CANCELS} cancels)`,
  ['p50', 'p99', 'max'],
  [[fmt(median(release)), fmt(p99(release)), fmt(Math.max(...release))]],
);

const promptTokens = async (req) => {
  const before = registry.usage().reduce((n, u) => n + u.inputTokens, 0);
  await provider.complete(req);
  return registry.usage().reduce((n, u) => n + u.inputTokens, 0) - before;
};
const other = Array.from({ length: 40 }, (_, i) => `def helper_${i}(x): return x + ${i}`).join(
  '\n',
);
const base = { prefix: 'def f(', suffix: ')\n', maxTokens: 2 };
const without = await promptTokens(base);
const lead = `# Path: util.py\n${other
  .split('\n')
  .map((l) => `# ${l}`)
  .join('\n')}\n# Path: main.py\n`;
const withExtra = await promptTokens({
  ...base,
  prefix: lead + base.prefix,
  extra: [{ filename: 'util.py', text: `${other}\n` }],
  extraInPrefix: lead.length,
});
table(
  '3. Prompt tokens per FIM request (the test model: one token per byte)',
  ['request', 'prompt tokens'],
  [
    ['prefix + suffix', without],
    [`+ input_extra (${Buffer.byteLength(other) + 1} bytes of another file)`, withExtra],
  ],
);

registry.dispose();
stop();
process.exit(0);
