/**
 * The llama.cpp provider (and the OpenAI-compatible kind pointed at llama.cpp) against a
 * real `llama-server` serving the tiny deterministic model (test/helpers/llama.ts): every
 * byte is one token, so the prompt token counts the server reports tell which prompt it
 * built from Rune's request.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { AbortError, BadRequestError } from '../../../src/core/errors.js';
import { createMemoryLogger } from '../../../src/core/log.js';
import { parseProvidersConfig } from '../../../src/providers/config.js';
import { createProviderRegistry, type ManagedRegistry } from '../../../src/providers/registry.js';
import type { LlamaCppAdapter } from '../../../src/providers/llamacpp.js';
import {
  LLAMA_SERVER,
  startLlama,
  tinyModel,
  tinyTokens,
  type LlamaServer,
} from '../../helpers/llama.js';
import { alive, waitFor } from '../../helpers/nvim.js';
import { FAST, collect, rejection, textOf } from './helpers.js';

let srv: LlamaServer;
let reg: ManagedRegistry | undefined;
let requests: string[];

/**
 * A registry whose fetch counts requests. Completions then go through that fetch too
 * (the path of a provider signed in with OAuth); `plain` leaves the fetch out, so /infill
 * goes through node:http as it does by default (src/providers/http-lines.ts).
 */
function make(provider: Record<string, unknown>, plain = false): ManagedRegistry {
  requests = [];
  if (plain) {
    return createProviderRegistry(parseProvidersConfig({ providers: { local: provider } }), {
      logger: createMemoryLogger(),
      env: {},
    }) as ManagedRegistry;
  }
  const counting: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    requests.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`);
    return fetch(input, init);
  };
  return createProviderRegistry(parseProvidersConfig({ providers: { local: provider } }), {
    logger: createMemoryLogger(),
    env: {},
    fetch: counting,
  }) as ManagedRegistry;
}

/** The prompt llama-server builds for /infill with this model (its repo-level FIM pattern). */
function infillPrompt(prefix: string, suffix: string, extra: [string, string][] = []): string {
  const files = extra.map(([name, text]) => `<|file_sep|>${name}\n${text}`).join('');
  return `<|repo_name|>myproject\n${files}<|file_sep|>filename\n<|fim_prefix|>${prefix}<|fim_suffix|>${suffix}<|fim_middle|>`;
}

/** Starts a long completion, aborts it once a slot runs it, and waits for the slot to be free. */
async function cancelFreesSlot(r: ManagedRegistry): Promise<void> {
  const ac = new AbortController();
  // The model answers "4242…" until the token limit: far more than it makes before the abort.
  const p = r
    .get('completion')
    .complete({ prefix: 'a', suffix: 'b', maxTokens: 100_000 }, { signal: ac.signal });
  const slots = () => srv.get<{ is_processing: boolean }[]>('/slots');
  await waitFor(
    async () => (await slots()).some((x) => x.is_processing),
    10_000,
    'the slot to start',
  );
  ac.abort();
  expect(await rejection(p)).toBeInstanceOf(AbortError);
  await waitFor(
    async () => (await slots()).every((x) => !x.is_processing),
    10_000,
    'the slot to be free',
  );
}

function inputTokens(r: ManagedRegistry): number {
  return r.usage().reduce((n, u) => n + u.inputTokens, 0);
}

beforeAll(async () => {
  srv = await startLlama();
});
afterAll(async () => {
  await srv.stop();
});
afterEach(() => {
  reg?.dispose();
  reg = undefined;
});

describe('llamacpp provider against llama-server', () => {
  it('streams chat through /v1/chat/completions; the server built the ChatML prompt', async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, ...FAST });
    const events = await collect(
      reg.get('chat').chat({ messages: [{ role: 'user', content: 'hi' }], maxTokens: 16 }),
    );
    expect(textOf(events)).toBe('OK');
    expect(events.at(-1)).toMatchObject({ type: 'done', stopReason: 'end' });
    const done = events.at(-1) as { usage: { inputTokens: number } };
    expect(done.usage.inputTokens).toBe(
      tinyTokens('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n'),
    );
    expect(requests).toEqual(['POST /v1/chat/completions']);
  });

  it('takes max_tokens from the provider config', async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, max_tokens: 1, ...FAST });
    const events = await collect(
      reg.get('chat').chat({ messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(textOf(events)).toBe('O');
    expect(events.at(-1)).toMatchObject({ type: 'done', stopReason: 'max_tokens' });
  });

  it('fills in the middle through /infill, with the suffix in the prompt', async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, ...FAST });
    const out = await reg
      .get('completion')
      .complete({ prefix: '    def f(', suffix: ')\n', maxTokens: 4 });
    expect(out).toEqual([{ text: '4242' }]);
    expect(inputTokens(reg)).toBe(tinyTokens(infillPrompt('    def f(', ')\n')));
    expect(requests).toEqual(['POST /infill']);
  });

  it('sends code from other files as input_extra, and the prefix without its comment framing', async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, ...FAST });
    const lead = '# Path: util.py\n# def g(): pass\n# Path: main.py\n';
    await reg.get('completion').complete({
      prefix: `${lead}def f(`,
      suffix: ')',
      maxTokens: 2,
      extra: [{ filename: 'util.py', text: 'def g(): pass\n' }],
      extraInPrefix: lead.length,
    });
    expect(inputTokens(reg)).toBe(
      tinyTokens(infillPrompt('def f(', ')', [['util.py', 'def g(): pass\n']])),
    );
  });

  it('reports the context length the server runs with, and that its template takes tools', async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, ...FAST });
    const models = await reg.get('chat').models();
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({ contextLength: 4096, tools: true });
  });

  it('says when the chat template cannot take tools', async () => {
    // llama.cpp's built-in ChatML template has no tools.
    const plain = await startLlama({ args: ['--chat-template', 'chatml'] });
    onTestFinished(() => plain.stop());
    reg = make({ kind: 'llamacpp', url: plain.url, ...FAST });
    expect((await reg.get('chat').models())[0]).toMatchObject({ tools: false });
  });

  it('an openai provider at a llama.cpp url finds out and uses /infill (the suffix counts)', async () => {
    reg = make({ kind: 'openai', url: `${srv.url}/v1`, ...FAST });
    const out = await reg
      .get('completion')
      .complete({ prefix: 'def f(', suffix: ')\n', maxTokens: 4 });
    expect(out).toEqual([{ text: '4242' }]);
    expect(inputTokens(reg)).toBe(tinyTokens(infillPrompt('def f(', ')\n')));
    expect(requests).toEqual(['GET /v1/models', 'POST /infill']);
    // Asked once.
    await reg.get('completion').complete({ prefix: 'x', suffix: 'y', maxTokens: 2 });
    expect(requests).toEqual(['GET /v1/models', 'POST /infill', 'POST /infill']);
    // The context length it reports counts for this kind too.
    expect((await reg.get('chat').models())[0]!.contextLength).toBe(4096);
  });

  it('cancelling a completion frees the server slot', async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, ...FAST });
    await cancelFreesSlot(reg);
    // The server cancelled the task (it did not run to the token limit); its log reaches
    // us through a pipe, so the line may arrive after the slot shows free.
    await waitFor(() => /cancel task/.test(srv.log()), 10_000, 'the server to log the cancel');
    expect(srv.log()).not.toMatch(/truncated = 1/);
    expect(reg.usage().every((u) => u.errors === 0)).toBe(true);
  });

  it('an aborted /v1/completions rejects; the partial text is never a result', async () => {
    reg = make({ kind: 'openai', url: `${srv.url}/v1`, fim: 'native', ...FAST });
    const ac = new AbortController();
    // A prompt ending in "4": the model goes on "2424…" up to the limit.
    const req = { prefix: '4', suffix: '', maxTokens: 100_000 };
    const p = reg.get('completion').complete(req, { signal: ac.signal });
    await waitFor(
      async () => {
        const slots =
          await srv.get<{ is_processing: boolean; next_token?: { n_decoded?: number }[] }[]>(
            '/slots',
          );
        return slots.some((x) => x.is_processing && (x.next_token?.[0]?.n_decoded ?? 0) > 50);
      },
      10_000,
      'the answer to stream',
    );
    ac.abort();
    expect(await rejection(p)).toBeInstanceOf(AbortError);
    expect(reg.usage().every((u) => u.errors === 0 && u.requests === 0)).toBe(true);
  });

  it('aborting a streamed chat is a cancellation, not a broken server', async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, ...FAST, breaker: { failures: 1 } });
    const ac = new AbortController();
    const err = await rejection(
      (async () => {
        // A prefilled assistant turn ending in "4": the model goes on "2424…".
        for await (const ev of reg.get('chat').chat(
          {
            messages: [
              { role: 'user', content: 'count' },
              { role: 'assistant', content: '4' },
            ],
          },
          { signal: ac.signal },
        )) {
          if (ev.type === 'text') ac.abort();
        }
      })(),
    );
    expect(err).toBeInstanceOf(AbortError);
    expect(reg.usage().every((u) => u.errors === 0)).toBe(true);
    expect(reg.managed('local').state().circuit).toBe('closed');
    await waitFor(
      async () =>
        (await srv.get<{ is_processing: boolean }[]>('/slots')).every((x) => !x.is_processing),
      10_000,
      'the slot to be free',
    );
  });

  it("501 is not retried and the server's own message reaches the user", async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, ...FAST });
    const err = await rejection(reg.get('chat').embed!(['a']));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toContain('Start it with `--embeddings`');
    expect(err.message).not.toMatch(/try again/i);
    expect(requests).toEqual(['POST /v1/embeddings']);
  });

  it('with n: 2, usage sums the per-choice usage chunks of /v1/completions', async () => {
    // n = 2 needs two slots.
    const two = await startLlama({ slots: 2 });
    onTestFinished(() => two.stop());
    reg = make({ kind: 'openai', url: `${two.url}/v1`, fim: 'native', ...FAST });
    const out = await reg.get('completion').complete({ prefix: 'ab', suffix: '', n: 2 });
    expect(out).toEqual([{ text: '!' }, { text: '!' }]);
    // Each choice: prompt "ab" (2 tokens), answer "!" + end of text (2 tokens).
    expect(reg.usage()).toMatchObject([{ inputTokens: 4, outputTokens: 4 }]);
    expect(requests).toEqual(['POST /v1/completions']);
  });
});

describe('llamacpp /infill over node:http (the default path) against llama-server', () => {
  it('fills in the middle with the suffix and other files in the prompt', async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, ...FAST }, true);
    const out = await reg
      .get('completion')
      .complete({ prefix: '    def f(', suffix: ')\n', maxTokens: 4 });
    expect(out).toEqual([{ text: '4242' }]);
    expect(inputTokens(reg)).toBe(tinyTokens(infillPrompt('    def f(', ')\n')));
    const lead = '# Path: util.py\n# def g(): pass\n# Path: main.py\n';
    await reg.get('completion').complete({
      prefix: `${lead}def f(`,
      suffix: ')',
      maxTokens: 2,
      extra: [{ filename: 'util.py', text: 'def g(): pass\n' }],
      extraInPrefix: lead.length,
    });
    expect(inputTokens(reg)).toBe(
      tinyTokens(infillPrompt('    def f(', ')\n')) +
        tinyTokens(infillPrompt('def f(', ')', [['util.py', 'def g(): pass\n']])),
    );
    expect(requests).toEqual([]); // none went through the fetch
  });

  it('cancelling a completion frees the server slot', async () => {
    reg = make({ kind: 'llamacpp', url: srv.url, ...FAST }, true);
    await cancelFreesSlot(reg);
    expect(reg.usage().every((u) => u.errors === 0)).toBe(true);
  });

  it("waits out a 503 while the model loads (Retry-After) and passes on the server's message", async () => {
    // llama-server answers 503 {"error":{"code":503,"message":"Loading model",…}} until its
    // model is loaded, which a test cannot hold it in: a loopback stand-in answers that,
    // then the real server's answer.
    let fails = 1;
    const loading = http.createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/infill' && fails > 0) {
        fails--;
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end(
          JSON.stringify({
            error: { code: 503, message: 'Loading model', type: 'unavailable_error' },
          }),
        );
        return;
      }
      const up = http.request(
        srv.url + req.url!,
        { method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode!, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => loading.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => loading.close(() => r())));
    const url = `http://127.0.0.1:${(loading.address() as AddressInfo).port}`;
    reg = make({ kind: 'llamacpp', url, ...FAST }, true);
    expect(
      await reg.get('completion').complete({ prefix: 'def f(', suffix: ')', maxTokens: 2 }),
    ).toEqual([{ text: '42' }]);
    expect(fails).toBe(0);
    const once = make({ kind: 'llamacpp', url, retry: { max_attempts: 1 } }, true);
    onTestFinished(() => once.dispose());
    fails = 1;
    const err = await rejection(
      once.get('completion').complete({ prefix: 'x', suffix: 'z', maxTokens: 1 }),
    );
    expect(err.message).toContain('Loading model');
  });
});

describe('llamacpp provider with serve: Rune runs llama-server', () => {
  it('starts it on first use, starts it again when it died, stops it on dispose (model under ~/)', async () => {
    const notes: string[] = [];
    // serve.model = '~/…' is the user's home, as in a shell.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-home-'));
    fs.symlinkSync(tinyModel(), path.join(home, 'tiny.gguf'));
    const oldHome = process.env.HOME;
    process.env.HOME = home;
    onTestFinished(() => {
      process.env.HOME = oldHome;
      fs.rmSync(home, { recursive: true, force: true });
    });
    const r = createProviderRegistry(
      parseProvidersConfig({
        providers: {
          local: {
            kind: 'llamacpp',
            serve: { model: '~/tiny.gguf', bin: LLAMA_SERVER, args: ['-c', '4096', '-np', '1'] },
          },
        },
      }),
      {
        logger: createMemoryLogger(),
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          RUNE_TEST_RUN: process.env.RUNE_TEST_RUN ?? '',
          OPENAI_API_KEY: 'sk-not-for-children',
          HF_TOKEN: 'hf-not-for-children',
        },
        notify: (m, level = 'info') => notes.push(`${level}: ${m}`),
      },
    ) as ManagedRegistry;
    const server = (r.managed('local').adapter as LlamaCppAdapter).server!;
    expect(server.pid).toBeUndefined();
    const ask = async () =>
      textOf(await collect(r.get('chat').chat({ messages: [{ role: 'user', content: 'hi' }] })));
    expect(await ask()).toBe('OK');
    const first = server.pid!;
    expect(alive(first)).toBe(true);
    // Secrets stay with Rune.
    const environ = fs.readFileSync(`/proc/${first}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`PATH=${process.env.PATH ?? '/usr/bin:/bin'}`);
    expect(environ.filter((e) => /not-for-children/.test(e))).toEqual([]);
    process.kill(first, 'SIGKILL');
    await waitFor(() => !alive(first) && server.pid === undefined, 10_000, 'the server to die');
    expect(notes).toEqual([
      'warn: the llama-server of provider "local" exited; it starts again on the next request',
    ]);
    expect(await ask()).toBe('OK');
    const second = server.pid!;
    expect(second).not.toBe(first);
    expect(server.starts).toBe(2);
    r.dispose();
    await waitFor(() => !alive(second), 10_000, 'the server to stop');
  });

  it('says how to fix a llama-server that is not installed', async () => {
    const shown: { key: string; text: string; status: string }[] = [];
    const r = createProviderRegistry(
      parseProvidersConfig({
        providers: {
          local: { kind: 'llamacpp', serve: { model: 'm.gguf', bin: '/nonexistent/llama-server' } },
        },
      }),
      {
        logger: createMemoryLogger(),
        env: {},
        progress: (key, p) => shown.push({ key, text: p.text, status: p.status }),
      },
    );
    const err = await rejection(r.get('completion').complete({ prefix: 'a', suffix: '' }));
    expect(err.message).toMatch(/\/nonexistent\/llama-server was not found.*serve\.bin/);
    // The progress message ends saying so.
    expect(shown).toEqual([
      { key: 'serve.local', text: 'starting (m.gguf)', status: 'running' },
      { key: 'serve.local', text: err.message, status: 'failed' },
    ]);
    r.dispose();
  });

  it('refuses serve with a url, or on another kind', () => {
    expect(() =>
      parseProvidersConfig({
        providers: { l: { kind: 'llamacpp', url: 'http://127.0.0.1:1', serve: { model: 'm' } } },
      }),
    ).toThrow(/providers\.l\.url/);
    expect(() =>
      parseProvidersConfig({ providers: { o: { kind: 'openai', serve: { model: 'm' } } } }),
    ).toThrow(/providers\.o\.serve/);
    // A file or a Hugging Face repo, exactly one.
    expect(() =>
      parseProvidersConfig({
        providers: { l: { kind: 'llamacpp', serve: { model: 'm.gguf', hf_repo: 'a/b' } } },
      }),
    ).toThrow(/providers\.l\.serve: set either model .* or hf_repo/);
    expect(() =>
      parseProvidersConfig({
        providers: { l: { kind: 'llamacpp', serve: { args: ['-c', '8'] } } },
      }),
    ).toThrow(/providers\.l\.serve: set either model/);
    expect(() =>
      parseProvidersConfig({
        providers: { l: { kind: 'llamacpp', serve: { hf_repo: 'not a repo' } } },
      }),
    ).toThrow(/hf_repo/);
    expect(
      parseProvidersConfig({
        providers: { l: { kind: 'llamacpp', serve: { hf_repo: 'org/name-GGUF:Q4_K_M' } } },
      }).providers[0]!.serve,
    ).toEqual({ hfRepo: 'org/name-GGUF:Q4_K_M', args: [] });
  });
});

/**
 * The documented /infill knobs, each shown by its effect on the real server's answer. The
 * "lines" model answers "x\n y\n y…" (lines indented by one space) to any /infill; the
 * server's stats come from the last event of its answer, kept by the fetch Rune is given.
 */
describe('llamacpp /infill knobs against llama-server', () => {
  let lines: LlamaServer;
  beforeAll(async () => {
    lines = await startLlama({ model: 'lines' });
  });
  afterAll(async () => {
    await lines.stop();
  });

  interface Final {
    stop_type?: string;
    tokens_predicted?: number;
    timings?: { prompt_n?: number; cache_n?: number };
  }

  function recording(infill?: Record<string, unknown>): { r: ManagedRegistry; finals: Final[] } {
    const finals: Final[] = [];
    const keep: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!url.endsWith('/infill') || !res.body) return res;
      const [mine, theirs] = res.body.tee();
      void new Response(theirs).text().then((t) => {
        const last = t
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .at(-1);
        if (last) finals.push(JSON.parse(last.slice(5)) as Final);
      });
      return new Response(mine, { status: res.status, headers: res.headers });
    };
    const r = createProviderRegistry(
      parseProvidersConfig({
        providers: {
          local: {
            kind: 'llamacpp',
            url: lines.url,
            // Every request reaches the server (no answer cache in Rune).
            cache: false,
            ...(infill ? { infill } : {}),
            ...FAST,
          },
        },
      }),
      { logger: createMemoryLogger(), env: {}, fetch: keep },
    ) as ManagedRegistry;
    reg = r;
    return { r, finals };
  }

  const answered = (finals: Final[], n: number) =>
    waitFor(() => finals.length === n, 10_000, `${n} /infill answers`);

  it('n_indent: the answer ends where a line is indented less than the cursor line, as the server cuts it', async () => {
    const { r, finals } = recording();
    const fim = r.get('completion');
    // The cursor line is indented by two spaces; the answer's second line by one.
    expect(await fim.complete({ prefix: 'def f():\n  ', suffix: '\n', maxTokens: 30 })).toEqual([
      { text: 'x\n ' },
    ]);
    await answered(finals, 1);
    expect(finals[0]).toMatchObject({ stop_type: 'limit', tokens_predicted: 4 });
    // At indentation 0 nothing is cut: the answer runs to the token limit.
    expect(await fim.complete({ prefix: 'def f():\n', suffix: '\n', maxTokens: 30 })).toEqual([
      { text: `x${'\n y'.repeat(9)}\n ` },
    ]);
  });

  it('t_max_predict_ms: once the time is spent, the answer ends at the next newline', async () => {
    const timed = recording({ t_max_predict_ms: 1 });
    const [a] = await timed.r
      .get('completion')
      .complete({ prefix: 'f(', suffix: '', maxTokens: 400 });
    await answered(timed.finals, 1);
    expect(a!.text).toMatch(/^x(\n y)*\n$/);
    expect(timed.finals[0]!.tokens_predicted).toBeLessThan(400);
    timed.r.dispose();
    // 0 turns the limit off: the same request runs to its token limit.
    const untimed = recording({ t_max_predict_ms: 0 });
    const [b] = await untimed.r
      .get('completion')
      .complete({ prefix: 'f(', suffix: '', maxTokens: 400 });
    await answered(untimed.finals, 1);
    expect(untimed.finals[0]!.tokens_predicted).toBe(400);
    expect(b!.text).toHaveLength(400);
  });

  it('cache_prompt: the server evaluates only what changed since the previous request', async () => {
    const prompt = infillPrompt('def g(', ')');
    const ask = (r: ManagedRegistry) =>
      r.get('completion').complete({ prefix: 'def g(', suffix: ')', maxTokens: 2 });
    const cached = recording({ cache_prompt: true });
    await ask(cached.r);
    await ask(cached.r);
    await answered(cached.finals, 2);
    // The second prompt is the first one: all but its last token comes from the cache.
    expect(cached.finals[1]!.timings).toMatchObject({
      prompt_n: 1,
      cache_n: tinyTokens(prompt) - 1,
    });
    cached.r.dispose();
    const uncached = recording({ cache_prompt: false });
    await ask(uncached.r);
    await ask(uncached.r);
    await answered(uncached.finals, 2);
    expect(uncached.finals[1]!.timings).toMatchObject({
      prompt_n: tinyTokens(prompt),
      cache_n: 0,
    });
  });
});
