/**
 * A fake Ollama server speaking the real wire format (docs/api.md of ollama/ollama):
 * NDJSON streams for POST /api/chat and POST /api/generate (with `suffix` for
 * fill-in-the-middle), JSON for GET /api/tags, POST /api/embed and POST /api/show, and
 * `{"error": "..."}` bodies for failures. A request with `"stream": false` gets one JSON
 * object instead of a stream.
 *
 * As strict as the real server (ollama/ollama server/routes.go, server/images.go,
 * api/types.go), rule by rule:
 * - Nothing is written until the first NDJSON line: routes.go loads the model in
 *   scheduleRunner before streamResponse, whose gin c.Stream writes the status line and
 *   headers with the first line. `loadMs` is that silence for a model not loaded yet.
 * - Capabilities per model (`catalog`, as /api/show reports them): a request that needs
 *   one the model lacks answers 400 "<name> does not support tools" (ChatHandler adds
 *   CapabilityTools when tools are given; GenerateHandler CapabilityInsert when `suffix`
 *   is not empty; CheckCapabilities in images.go words the error), before any load.
 *   `think: true` for a model without thinking answers 400 "\"<model>\" does not support
 *   thinking".
 * - A thinking model thinks unless `think: false` (routes.go sets Think=true when unset):
 *   chat chunks carry `message.thinking` with empty `content`, generate chunks `thinking`.
 * - GenerateHandler: `prompt: ""` returns one `done_reason: "load"` object with no text;
 *   an empty `suffix` takes the chat-template path (the model answers as a chatbot).
 * - An unknown model (with `strictModels`) answers 404 "model \"x\" not found, try
 *   pulling it first" (handleScheduleError).
 *
 *   const s = await startOllamaServer();
 *   s.enqueue('chat', { text: ['Hel', 'lo'], usage: { input: 7, output: 2 } });
 *   s.enqueue('chat', { status: 503, retryAfter: 1 });
 *   s.enqueue('generate', { text: 'return a + b', chunkDelayMs: 5 });
 *   s.requestsTo('generate')[0].body // { model, prompt, suffix, options, ... }
 *
 * POST /api/pull (server/routes.go PullHandler, api/types.go ProgressResponse): a missing
 * or invalid name answers 400 before streaming; else NDJSON ProgressResponse lines
 * `{status, digest?, total?, completed?}` — "pulling manifest", "pulling <digest[7:19]>"
 * with growing `completed`, "verifying sha256 digest", "writing manifest", "success" — and
 * a failure after the stream started is one `{"error": "..."}` line with status 200
 * (PullModel's error sent on the stream's channel). `stream: false` gets the last object
 * alone. A pulled model is listed by /api/tags and known to /api/show from then on.
 */
import {
  startFakeServer,
  splitText,
  type Fault,
  type FakeServerBase,
  type RawReply,
} from './base.js';

export type OllamaRoute = 'chat' | 'generate' | 'tags' | 'embed' | 'show' | 'pull';

export interface OllamaScript extends Fault {
  /** Text deltas (an array) or one string split into small deltas. */
  text?: string | string[];
  toolCalls?: { name: string; input: Record<string, unknown> }[];
  /** prompt_eval_count / eval_count of the final line. */
  usage?: { input: number; output: number };
  /** done_reason of the final line (default `stop`). */
  stopReason?: string;
  model?: string;
  /** For `tags`: the model names listed. */
  models?: string[];
  /** For `embed`: the vector length (default 4). */
  dims?: number;
  /** Reasoning streamed before the answer by a thinking model (when `think` is not false). */
  thinking?: string | string[];
  /** For `pull`: the layer's size and how many progress lines it takes (default 1000, 4). */
  pull?: { total?: number; steps?: number };
  /** For `pull`: the error line that ends the stream (an unknown model, a network failure). */
  pullError?: string;
}

/** Real capabilities of a few models, as `ollama show` reports them. */
export const OLLAMA_CATALOG: Record<string, string[]> = {
  'llama3.2': ['completion', 'tools'],
  'qwen2.5-coder:1.5b': ['completion', 'tools', 'insert'],
  'starcoder2:3b': ['completion', 'insert'],
  'gemma:2b': ['completion'],
  'deepseek-r1:1.5b': ['completion', 'thinking'],
  'qwen3:0.6b': ['completion', 'tools', 'thinking'],
  llava: ['completion', 'vision'],
};

export interface OllamaServerOptions {
  /** Silence before the first line of a request for a model that is not loaded yet. */
  loadMs?: number;
  /**
   * How many models stay loaded (OLLAMA_MAX_LOADED_MODELS); loading one more unloads the
   * least recently used, so alternating chat and completion models reload each time.
   */
  maxLoaded?: number;
  /** Capabilities per model (default OLLAMA_CATALOG); `:latest` may be left out. */
  catalog?: Record<string, string[]>;
  /** Models outside the catalog answer 404 (else they can do completion, tools and insert). */
  strictModels?: boolean;
}

export type OllamaServer = FakeServerBase<OllamaRoute, OllamaScript>;

const created = () => new Date().toISOString();
const NDJSON = { 'content-type': 'application/x-ndjson' };
const JSONH = { 'content-type': 'application/json; charset=utf-8' };

function bodyOf(req: { body: unknown }): Record<string, unknown> {
  return (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
}

function stats(s: OllamaScript, n: number) {
  return {
    total_duration: 5_000_000,
    load_duration: 1_000_000,
    prompt_eval_count: s.usage?.input ?? 10,
    prompt_eval_duration: 1_000_000,
    eval_count: s.usage?.output ?? n,
    eval_duration: 3_000_000,
  };
}

function renderChat(s: OllamaScript, req: { body: unknown }, thinks: boolean): RawReply {
  const b = bodyOf(req);
  const model = s.model ?? (b.model as string) ?? 'llama3.2';
  const deltas = splitText(s.text);
  const thoughts = thinks ? splitText(s.thinking ?? 'Let me think this through.') : [];
  const lines: unknown[] = thoughts.map((t) => ({
    model,
    created_at: created(),
    message: { role: 'assistant', content: '', thinking: t },
    done: false,
  }));
  lines.push(
    ...deltas.map((d) => ({
      model,
      created_at: created(),
      message: { role: 'assistant', content: d },
      done: false,
    })),
  );
  if (s.toolCalls?.length) {
    lines.push({
      model,
      created_at: created(),
      message: {
        role: 'assistant',
        content: '',
        tool_calls: s.toolCalls.map((t) => ({ function: { name: t.name, arguments: t.input } })),
      },
      done: false,
    });
  }
  if (s.streamError && lines.length === 0) return errorBeforeOutput(s);
  if (s.streamError) {
    lines.push({ error: s.errorMessage ?? 'model runner has unexpectedly stopped' });
  } else {
    lines.push({
      model,
      created_at: created(),
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: s.stopReason ?? 'stop',
      ...stats(s, deltas.length),
    });
  }
  if (b.stream === false) {
    const last = lines[lines.length - 1] as Record<string, unknown>;
    const one = {
      ...last,
      message: {
        role: 'assistant',
        content: deltas.join(''),
        ...(s.toolCalls?.length
          ? {
              tool_calls: s.toolCalls.map((t) => ({
                function: { name: t.name, arguments: t.input },
              })),
            }
          : {}),
      },
    };
    return { status: 200, headers: JSONH, chunks: [JSON.stringify(one)] };
  }
  return {
    status: 200,
    headers: NDJSON,
    chunks: lines.map((l) => JSON.stringify(l) + '\n'),
    malformed: '{"model":"x","message":{"role":"assist\n',
  };
}

/**
 * routes.go streamResponse: an error before anything was written goes out as the status
 * (500 unless it carries one) with a JSON body, not as an NDJSON line.
 */
function errorBeforeOutput(s: OllamaScript): RawReply {
  const error = s.errorMessage ?? 'model runner has unexpectedly stopped';
  return { status: s.status ?? 500, headers: JSONH, chunks: [JSON.stringify({ error })] };
}

/** What a code model says when the chat template wraps the prompt (no suffix). */
export const CHATBOT_ANSWER = "Sure! Here's how you could continue this code:\n```\n";

function renderGenerate(s: OllamaScript, req: { body: unknown }, thinks: boolean): RawReply {
  const b = bodyOf(req);
  const model = s.model ?? (b.model as string) ?? 'qwen2.5-coder';
  if (b.prompt === '' || b.prompt === undefined) {
    // routes.go GenerateHandler: "load the model" — c.JSON, one object, no text.
    const load = {
      model: b.model,
      created_at: created(),
      response: '',
      done: true,
      done_reason: 'load',
    };
    return { status: 200, headers: JSONH, chunks: [JSON.stringify(load)] };
  }
  const insert = typeof b.suffix === 'string' && b.suffix !== '';
  const deltas = splitText(insert ? (s.text ?? 'completion') : CHATBOT_ANSWER);
  const thoughts = thinks ? splitText(s.thinking ?? 'Let me think this through.') : [];
  const lines: unknown[] = [
    ...thoughts.map((t) => ({
      model,
      created_at: created(),
      response: '',
      thinking: t,
      done: false,
    })),
    ...deltas.map((d) => ({ model, created_at: created(), response: d, done: false })),
  ];
  if (s.streamError && lines.length === 0) return errorBeforeOutput(s);
  if (s.streamError) {
    lines.push({ error: s.errorMessage ?? 'model runner has unexpectedly stopped' });
  } else {
    lines.push({
      model,
      created_at: created(),
      response: '',
      done: true,
      done_reason: s.stopReason ?? 'stop',
      context: [1, 2, 3],
      ...stats(s, deltas.length),
    });
  }
  if (b.stream === false) {
    const last = lines[lines.length - 1] as Record<string, unknown>;
    return {
      status: 200,
      headers: JSONH,
      chunks: [JSON.stringify({ ...last, response: deltas.join('') })],
    };
  }
  return {
    status: 200,
    headers: NDJSON,
    chunks: lines.map((l) => JSON.stringify(l) + '\n'),
    malformed: '{"model":"x","respo\n',
  };
}

const bare = (m: string) => m.replace(/:latest$/, '');

export async function startOllamaServer(opts: OllamaServerOptions = {}): Promise<OllamaServer> {
  const catalog = opts.catalog ?? OLLAMA_CATALOG;
  const loaded = new Set<string>();
  const pulled = new Set<string>();
  const capsOf = (model: string): string[] | undefined =>
    catalog[bare(model)] ??
    (opts.strictModels && !pulled.has(bare(model)) ? undefined : ['completion', 'tools', 'insert']);
  /** The 4xx the real server answers before loading anything, if any. */
  const refuse = (route: OllamaRoute, b: Record<string, unknown>): RawReply | undefined => {
    const model = String(b.model ?? '');
    const caps = capsOf(model);
    const err = (status: number, error: string): RawReply => ({
      status,
      headers: JSONH,
      chunks: [JSON.stringify({ error })],
    });
    if (!caps) return err(404, `model "${model}" not found, try pulling it first`);
    const name = `registry.ollama.ai/library/${model.includes(':') ? model : `${model}:latest`}`;
    if (b.think === true && !caps.includes('thinking')) {
      return err(400, `"${model}" does not support thinking`);
    }
    const need =
      route === 'chat' && Array.isArray(b.tools) && b.tools.length
        ? 'tools'
        : route === 'generate' && typeof b.suffix === 'string' && b.suffix !== ''
          ? 'insert'
          : undefined;
    if (need && !caps.includes(need)) return err(400, `${name} does not support ${need}`);
    return undefined;
  };
  const thinks = (b: Record<string, unknown>) =>
    b.think !== false && !!capsOf(String(b.model ?? ''))?.includes('thinking');
  // A load the client gave up on is cancelled with its request (the scheduler drops a
  // pending request whose context is done), so the model counts as loaded only once a
  // reply started.
  const loadDelay = (route: OllamaRoute) => (_s: OllamaScript, req: { body: unknown }) => {
    const b = bodyOf(req);
    if (refuse(route, b) || !opts.loadMs) return 0;
    return loaded.has(bare(String(b.model ?? ''))) ? 0 : opts.loadMs;
  };
  const started = (req: { body: unknown }) => {
    const model = bare(String(bodyOf(req).model ?? ''));
    loaded.delete(model);
    loaded.add(model);
    // A Set keeps insertion order: the first entry is the least recently used.
    while (opts.maxLoaded && loaded.size > opts.maxLoaded) {
      loaded.delete(loaded.values().next().value!);
    }
  };
  return startFakeServer<OllamaRoute, OllamaScript>(
    (method, path) => {
      if (method === 'POST' && path === '/api/chat') return 'chat';
      if (method === 'POST' && path === '/api/generate') return 'generate';
      if (method === 'GET' && path === '/api/tags') return 'tags';
      if (method === 'POST' && path === '/api/embed') return 'embed';
      if (method === 'POST' && path === '/api/show') return 'show';
      if (method === 'POST' && path === '/api/pull') return 'pull';
      return undefined;
    },
    {
      chat: {
        fallback: () => ({ text: ['Hello', ' from', ' Ollama'] }),
        render: (s, req) =>
          refuse('chat', bodyOf(req)) ?? (started(req), renderChat(s, req, thinks(bodyOf(req)))),
        delay: loadDelay('chat'),
      },
      generate: {
        fallback: () => ({ text: ['x + y'] }),
        render: (s, req) =>
          refuse('generate', bodyOf(req)) ??
          (started(req), renderGenerate(s, req, thinks(bodyOf(req)))),
        delay: loadDelay('generate'),
      },
      pull: {
        fallback: () => ({}),
        render: (s, req) => renderPull(s, bodyOf(req), (m) => pulled.add(bare(m))),
      },
      tags: {
        fallback: () => ({
          models: ['llama3.2:latest', 'qwen2.5-coder:1.5b', ...[...pulled].map(withTag)],
        }),
        render: (s) => ({
          status: 200,
          headers: JSONH,
          chunks: [
            JSON.stringify({
              models: (s.models ?? []).map((name) => ({
                name,
                model: name,
                modified_at: '2024-12-01T10:00:00.000000000Z',
                size: 2019393189,
                digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
                details: {
                  parent_model: '',
                  format: 'gguf',
                  family: 'llama',
                  families: ['llama'],
                  parameter_size: '3.2B',
                  quantization_level: 'Q4_K_M',
                },
              })),
            }),
          ],
        }),
      },
      embed: {
        fallback: () => ({}),
        render: (s, req) => {
          const b = bodyOf(req);
          const input = Array.isArray(b.input) ? b.input : [b.input];
          const dims = s.dims ?? 4;
          return {
            status: 200,
            headers: JSONH,
            chunks: [
              JSON.stringify({
                model: b.model ?? 'all-minilm',
                embeddings: input.map((_, i) =>
                  Array.from({ length: dims }, (_, j) => (i + 1) / 10 + j / 100),
                ),
                total_duration: 14143917,
                load_duration: 1019500,
                prompt_eval_count: s.usage?.input ?? 8,
              }),
            ],
          };
        },
      },
      show: {
        fallback: () => ({}),
        render: (_s, req) => {
          const model = String(bodyOf(req).model ?? '');
          const caps = capsOf(model);
          if (!caps) {
            // routes.go ShowHandler: os.ErrNotExist → 404.
            return {
              status: 404,
              headers: JSONH,
              chunks: [JSON.stringify({ error: `model '${model}' not found` })],
            };
          }
          return {
            status: 200,
            headers: JSONH,
            chunks: [
              JSON.stringify({
                modelfile: '',
                parameters: '',
                template: '{{ .Prompt }}',
                details: { format: 'gguf', family: 'llama' },
                model_info: { 'general.architecture': 'llama', 'llama.context_length': 131072 },
                capabilities: caps,
              }),
            ],
          };
        },
      },
    },
    (s) => ({
      status: s.status!,
      headers: JSONH,
      chunks: [JSON.stringify({ error: s.errorMessage ?? `fake ollama error ${s.status}` })],
    }),
    { holdHeaders: true },
  );
}

const withTag = (m: string) => (m.includes(':') ? m : `${m}:latest`);

/** POST /api/pull as PullHandler streams it (see the top of this file). */
function renderPull(
  s: OllamaScript,
  b: Record<string, unknown>,
  done: (model: string) => void,
): RawReply {
  const model = String(b.model ?? b.name ?? '');
  if (!/^[A-Za-z0-9][\w.-]*(\/[\w.-]+)*(:[\w.-]+)?$/.test(model)) {
    // errtypes.InvalidModelNameErrMsg
    return {
      status: 400,
      headers: JSONH,
      chunks: [JSON.stringify({ error: 'invalid model name' })],
    };
  }
  const total = s.pull?.total ?? 1000;
  const steps = s.pull?.steps ?? 4;
  const digest = 'sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff';
  const lines: Record<string, unknown>[] = [{ status: 'pulling manifest' }];
  if (s.pullError) {
    lines.push({ error: s.pullError });
  } else {
    for (let i = 1; i <= steps; i++) {
      lines.push({
        status: `pulling ${digest.slice(7, 19)}`,
        digest,
        total,
        completed: Math.round((total * i) / steps),
      });
    }
    lines.push({ status: 'verifying sha256 digest' }, { status: 'writing manifest' });
    lines.push({ status: 'success' });
  }
  const ok = !s.pullError;
  if (b.stream === false) {
    if (ok) done(model);
    return { status: 200, headers: JSONH, chunks: [JSON.stringify(lines.at(-1))] };
  }
  const chunks = lines.map((l) => `${JSON.stringify(l)}\n`);
  // Listed from the start of the reply on (the double does not track a pull cut short).
  if (ok) done(model);
  return { status: 200, headers: NDJSON, chunks };
}
