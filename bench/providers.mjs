// Provider layer figures, against zero-latency local servers on 127.0.0.1, in one run:
//   1. overhead of Rune's provider layer (limits, retries, timeouts, breaker, usage)
//      over the bare SDK call to the same server: p50, p99 and their ratio, for a
//      streamed chat and a fill-in-the-middle request, with the OpenAI SDK (SSE) and
//      the Ollama SDK (NDJSON); bare and Rune calls alternate so drift hits both alike
//   2. memory per in-flight streamed request (heap after GC / requests held open),
//      Rune's layer against the bare SDK
// Uses the built providers (dist/). Run after `npm run build`:
//   node --expose-gc bench/providers.mjs        (N=2000 calls, INFLIGHT=300 override)
import * as http from 'node:http';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { createProviderRegistry } from '../dist/providers/registry.js';
import { parseProvidersConfig } from '../dist/providers/config.js';
import { nullLogger } from '../dist/core/log.js';
import { median, p99, fmt, table } from './lib.mjs';

const N = Number(process.env.N ?? 2000);
const WARMUP = Math.min(300, Math.ceil(N / 5));
const INFLIGHT = Number(process.env.INFLIGHT ?? 300);

const sse = (o) => `data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`;
const chunk = (delta, finish = null) => ({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});
const WORDS = ['Hello', ' there', ',', ' how', ' are', ' you', '?'];
const OPENAI_CHAT = [
  sse(chunk({ role: 'assistant', content: 'Hi' })),
  ...WORDS.map((w) => sse(chunk({ content: w }))),
  sse(chunk({}, 'stop')),
  sse({ ...chunk({}), choices: [], usage: { prompt_tokens: 9, completion_tokens: 7 } }),
  sse('[DONE]'),
].join('');
const OPENAI_FIM = [
  sse({
    id: 'c',
    object: 'text_completion',
    created: 1,
    model: 'm',
    choices: [{ text: 'a + b', index: 0, logprobs: null, finish_reason: null }],
  }),
  sse({
    id: 'c',
    object: 'text_completion',
    created: 1,
    model: 'm',
    choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }],
  }),
  sse({
    id: 'c',
    object: 'text_completion',
    created: 1,
    model: 'm',
    choices: [],
    usage: { prompt_tokens: 9, completion_tokens: 3 },
  }),
  sse('[DONE]'),
].join('');
const nd = (o) => JSON.stringify(o) + '\n';
const done = { done: true, done_reason: 'stop', prompt_eval_count: 9, eval_count: 7 };
const OLLAMA_CHAT =
  WORDS.map((w) =>
    nd({ model: 'm', created_at: 'x', message: { role: 'assistant', content: w }, done: false }),
  ).join('') +
  nd({ model: 'm', created_at: 'x', message: { role: 'assistant', content: '' }, ...done });
const OLLAMA_FIM =
  nd({ model: 'm', created_at: 'x', response: 'a + b', done: false }) +
  nd({ model: 'm', created_at: 'x', response: '', ...done });

/** Answers each route with canned bytes at once; with `hold`, sends the first line and waits. */
function startServer(hold = false) {
  const open = new Set();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const [type, body] =
        req.url === '/v1/chat/completions'
          ? ['text/event-stream', OPENAI_CHAT]
          : req.url === '/v1/completions'
            ? ['text/event-stream', OPENAI_FIM]
            : req.url === '/api/chat'
              ? ['application/x-ndjson', OLLAMA_CHAT]
              : ['application/x-ndjson', OLLAMA_FIM];
      res.writeHead(200, { 'content-type': type });
      if (hold) {
        const sep = type === 'text/event-stream' ? '\n\n' : '\n';
        res.write(body.slice(0, body.indexOf(sep) + sep.length));
        open.add(res);
        return;
      }
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        open,
        close: () => {
          for (const r of open) r.destroy();
          server.closeAllConnections();
          server.close();
        },
      }),
    ),
  );
}

function registry(url, extra = {}) {
  return createProviderRegistry(
    parseProvidersConfig({
      providers: {
        oa: {
          kind: 'openai',
          url: `${url}/v1`,
          model: 'm',
          fim_model: 'm',
          fim: 'native',
          ...extra,
        },
        ol: { kind: 'ollama', url, model: 'm', fim_model: 'm', ...extra },
      },
    }),
    { logger: nullLogger },
  );
}

async function drain(it) {
  for await (const _ of it) {
    // consume
  }
}

async function compare(name, bare, rune) {
  for (let i = 0; i < WARMUP; i++) {
    await bare();
    await rune();
  }
  const a = [];
  const b = [];
  for (let i = 0; i < N; i++) {
    const first = i % 2 === 0;
    for (const [fn, out] of first
      ? [
          [bare, a],
          [rune, b],
        ]
      : [
          [rune, b],
          [bare, a],
        ]) {
      const t0 = performance.now();
      await fn();
      out.push(performance.now() - t0);
    }
  }
  return [
    name,
    fmt(median(a)),
    fmt(median(b)),
    fmt(median(b) - median(a)),
    fmt(median(b) / median(a), 2),
    fmt(p99(a)),
    fmt(p99(b)),
    fmt(p99(b) / p99(a), 2),
  ];
}

const srv = await startServer();
const reg = registry(srv.url);
const oa = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'k', maxRetries: 0 });
const ol = new Ollama({ host: srv.url });
const messages = [{ role: 'user', content: 'hi' }];
const fim = { prefix: 'function add(a, b) {\n  return ', suffix: ';\n}', maxTokens: 16 };

const rows = [];
rows.push(
  await compare(
    'openai chat (SSE, 7 deltas)',
    async () =>
      drain(
        await oa.chat.completions.create({
          model: 'm',
          messages,
          stream: true,
          stream_options: { include_usage: true },
        }),
      ),
    () => drain(reg.get('chat', 'oa').chat({ messages })),
  ),
);
rows.push(
  await compare(
    'openai FIM (/v1/completions)',
    async () =>
      drain(
        await oa.completions.create({
          model: 'm',
          prompt: fim.prefix,
          suffix: fim.suffix,
          max_tokens: 16,
          stream: true,
          stream_options: { include_usage: true },
        }),
      ),
    () => reg.get('completion', 'oa').complete(fim),
  ),
);
rows.push(
  await compare(
    'ollama chat (NDJSON, 7 deltas)',
    async () => drain(await ol.chat({ model: 'm', messages, stream: true })),
    () => drain(reg.get('chat', 'ol').chat({ messages })),
  ),
);
rows.push(
  await compare(
    'ollama FIM (/api/generate)',
    async () =>
      drain(
        await ol.generate({
          model: 'm',
          prompt: fim.prefix,
          suffix: fim.suffix,
          stream: true,
          options: { num_predict: 16 },
        }),
      ),
    () => reg.get('completion', 'ol').complete(fim),
  ),
);
table(
  `Per-call time, ms (N=${N} each, alternating; zero-latency server on 127.0.0.1)`,
  ['call', 'SDK p50', 'Rune p50', 'Δ p50', 'ratio', 'SDK p99', 'Rune p99', 'ratio p99'],
  rows,
);
reg.dispose();
srv.close();

// Memory per in-flight request: INFLIGHT streamed chats held open after the first delta.
async function heldMemory(start) {
  const hold = await startServer(true);
  const ctl = [];
  globalThis.gc?.();
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  const firsts = [];
  const runs = [];
  for (let i = 0; i < INFLIGHT; i++) {
    const ac = new AbortController();
    ctl.push(ac);
    let seen;
    firsts.push(new Promise((r) => (seen = r)));
    runs.push(start(hold.url, ac.signal, seen).catch(() => {}));
  }
  await Promise.all(firsts);
  globalThis.gc?.();
  globalThis.gc?.();
  const after = process.memoryUsage().heapUsed;
  for (const ac of ctl) ac.abort();
  await Promise.all(runs);
  hold.close();
  return (after - before) / INFLIGHT;
}

if (!globalThis.gc) console.log('\n(run with --expose-gc for steadier memory figures)');
// Each side runs twice and the second round counts: the first pays one-time costs
// (module state, connection pools) that are not per request.
let bareClient;
const bareStart = async (url, signal, seen) => {
  bareClient ??= new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k', maxRetries: 0 });
  const s = await bareClient.chat.completions.create(
    { model: 'm', messages, stream: true, stream_options: { include_usage: true } },
    { signal },
  );
  for await (const _ of s) seen();
};
let memReg;
const runeStart = async (url, signal, seen) => {
  memReg ??= registry(url, { concurrency: { chat: INFLIGHT * 2, completion: 1 } });
  for await (const _ of memReg.get('chat', 'oa').chat({ messages }, { signal })) seen();
};
await heldMemory(bareStart);
bareClient = undefined;
await heldMemory(runeStart);
memReg.dispose();
memReg = undefined;
const bareMem = await heldMemory(bareStart);
const runeMem = await heldMemory(runeStart);
memReg?.dispose();
table(
  `Heap per in-flight streamed chat (${INFLIGHT} held open after the first delta)`,
  ['client', 'KiB per request'],
  [
    ['openai SDK alone', fmt(bareMem / 1024, 1)],
    ['Rune provider layer + SDK', fmt(runeMem / 1024, 1)],
    ['Rune layer alone (difference)', fmt((runeMem - bareMem) / 1024, 1)],
  ],
);
