/**
 * A fake Ollama server speaking the real wire format (docs/api.md of ollama/ollama):
 * NDJSON streams for POST /api/chat and POST /api/generate (with `suffix` for
 * fill-in-the-middle), JSON for GET /api/tags, POST /api/embed and POST /api/show, and
 * `{"error": "..."}` bodies for failures. A request with `"stream": false` gets one JSON
 * object instead of a stream.
 *
 *   const s = await startOllamaServer();
 *   s.enqueue('chat', { text: ['Hel', 'lo'], usage: { input: 7, output: 2 } });
 *   s.enqueue('chat', { status: 503, retryAfter: 1 });
 *   s.enqueue('generate', { text: 'return a + b', chunkDelayMs: 5 });
 *   s.requestsTo('generate')[0].body // { model, prompt, suffix, options, ... }
 */
import {
  startFakeServer,
  splitText,
  type Fault,
  type FakeServerBase,
  type RawReply,
} from './base.js';

export type OllamaRoute = 'chat' | 'generate' | 'tags' | 'embed' | 'show';

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

function renderChat(s: OllamaScript, req: { body: unknown }): RawReply {
  const b = bodyOf(req);
  const model = s.model ?? (b.model as string) ?? 'llama3.2';
  const deltas = splitText(s.text);
  const lines: unknown[] = deltas.map((d) => ({
    model,
    created_at: created(),
    message: { role: 'assistant', content: d },
    done: false,
  }));
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

function renderGenerate(s: OllamaScript, req: { body: unknown }): RawReply {
  const b = bodyOf(req);
  const model = s.model ?? (b.model as string) ?? 'qwen2.5-coder';
  const deltas = splitText(s.text ?? 'completion');
  const lines: unknown[] = deltas.map((d) => ({
    model,
    created_at: created(),
    response: d,
    done: false,
  }));
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

export async function startOllamaServer(): Promise<OllamaServer> {
  return startFakeServer<OllamaRoute, OllamaScript>(
    (method, path) => {
      if (method === 'POST' && path === '/api/chat') return 'chat';
      if (method === 'POST' && path === '/api/generate') return 'generate';
      if (method === 'GET' && path === '/api/tags') return 'tags';
      if (method === 'POST' && path === '/api/embed') return 'embed';
      if (method === 'POST' && path === '/api/show') return 'show';
      return undefined;
    },
    {
      chat: { fallback: () => ({ text: ['Hello', ' from', ' Ollama'] }), render: renderChat },
      generate: { fallback: () => ({ text: ['x + y'] }), render: renderGenerate },
      tags: {
        fallback: () => ({ models: ['llama3.2:latest', 'qwen2.5-coder:1.5b'] }),
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
        render: (_s, req) => ({
          status: 200,
          headers: JSONH,
          chunks: [
            JSON.stringify({
              modelfile: '',
              parameters: '',
              template: '{{ .Prompt }}',
              details: { format: 'gguf', family: 'llama' },
              model_info: { 'general.architecture': 'llama', 'llama.context_length': 131072 },
              capabilities: ['completion', 'tools', 'insert'],
              model: bodyOf(req).model,
            }),
          ],
        }),
      },
    },
    (s) => ({
      status: s.status!,
      headers: JSONH,
      chunks: [JSON.stringify({ error: s.errorMessage ?? `fake ollama error ${s.status}` })],
    }),
  );
}
