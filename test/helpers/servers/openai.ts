/**
 * A fake OpenAI-compatible server speaking the real wire format (platform.openai.com API
 * reference): POST /v1/chat/completions streams `chat.completion.chunk` objects as SSE
 * `data:` lines (delta.content, delta.tool_calls with index/id/function.arguments pieces,
 * finish_reason, a final usage chunk with empty choices when
 * `stream_options.include_usage` is set, then `data: [DONE]`); without `stream` it answers
 * one `chat.completion`. POST /v1/completions (legacy, with `suffix` for
 * fill-in-the-middle) answers a `text_completion` (one choice per `n`) or streams it.
 * GET /v1/models, POST /v1/embeddings (float or base64). Failures use
 * `{"error":{"message","type","param","code"}}`.
 *
 *   const s = await startOpenAIServer();
 *   s.enqueue('chat', { text: 'Hello world', usage: { input: 9, output: 2 } });
 *   s.enqueue('completions', { choices: ['a + b', 'a - b'] });
 *   s.enqueue('chat', { status: 500 }, { resetAfter: 2 });
 */
import {
  sse,
  splitText,
  startFakeServer,
  type Fault,
  type FakeServerBase,
  type RawReply,
} from './base.js';

export type OpenAIRoute = 'chat' | 'completions' | 'models' | 'embeddings';

export interface OpenAIScript extends Fault {
  text?: string | string[];
  /** For `completions`: one text per choice (overrides `text`). */
  choices?: string[];
  toolCalls?: { id?: string; name: string; input: Record<string, unknown> }[];
  usage?: { input: number; output: number };
  /** finish_reason: stop (default, or tool_calls when toolCalls are given), length. */
  stopReason?: string;
  model?: string;
  models?: string[];
  dims?: number;
  /** The `code` of the error body. */
  errorCode?: string;
}

export type OpenAIServer = FakeServerBase<OpenAIRoute, OpenAIScript>;

const JSONH = { 'content-type': 'application/json', 'x-request-id': 'req_fake' };
const SSEH = { 'content-type': 'text/event-stream', 'x-request-id': 'req_fake' };
const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  404: 'invalid_request_error',
  429: 'rate_limit_exceeded',
  500: 'server_error',
  503: 'server_error',
};

let seq = 0;
const now = () => Math.floor(Date.now() / 1000);

function body(req: { body: unknown }): Record<string, unknown> {
  return (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
}

function usageOf(s: OpenAIScript, n: number) {
  const prompt = s.usage?.input ?? 10;
  const completion = s.usage?.output ?? n;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
}

function streamError(s: OpenAIScript): string {
  return sse({
    error: {
      message: s.errorMessage ?? 'The server had an error while processing your request.',
      type: 'server_error',
      param: null,
      code: s.errorCode ?? null,
    },
  });
}

function renderChat(s: OpenAIScript, req: { body: unknown }): RawReply {
  const b = body(req);
  const model = s.model ?? (b.model as string) ?? 'gpt-4o-mini';
  const deltas = splitText(s.text);
  const tools = (s.toolCalls ?? []).map((t, i) => ({ ...t, id: t.id ?? `call_fake_${i}` }));
  const finish = s.stopReason ?? (tools.length ? 'tool_calls' : 'stop');
  const id = `chatcmpl-fake${++seq}`;
  const created = now();
  if (b.stream !== true) {
    return {
      status: 200,
      headers: JSONH,
      chunks: [
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model,
          system_fingerprint: 'fp_fake',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: deltas.length ? deltas.join('') : null,
                refusal: null,
                ...(tools.length
                  ? {
                      tool_calls: tools.map((t) => ({
                        id: t.id,
                        type: 'function',
                        function: { name: t.name, arguments: JSON.stringify(t.input) },
                      })),
                    }
                  : {}),
              },
              logprobs: null,
              finish_reason: finish,
            },
          ],
          usage: usageOf(s, deltas.length),
        }),
      ],
    };
  }
  const chunk = (delta: unknown, finishReason: string | null = null) =>
    sse({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      system_fingerprint: 'fp_fake',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    });
  const out: string[] = [chunk({ role: 'assistant', content: '', refusal: null })];
  for (const d of deltas) out.push(chunk({ content: d }));
  tools.forEach((t, index) => {
    out.push(
      chunk({
        tool_calls: [
          { index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } },
        ],
      }),
    );
    const json = JSON.stringify(t.input);
    const cut = Math.floor(json.length / 2);
    for (const part of [json.slice(0, cut), json.slice(cut)]) {
      out.push(chunk({ tool_calls: [{ index, function: { arguments: part } }] }));
    }
  });
  if (s.streamError) {
    out.push(streamError(s));
    return { status: 200, headers: SSEH, chunks: out };
  }
  out.push(chunk({}, finish));
  const so = b.stream_options as { include_usage?: boolean } | undefined;
  if (so?.include_usage) {
    out.push(
      sse({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        system_fingerprint: 'fp_fake',
        choices: [],
        usage: usageOf(s, deltas.length),
      }),
    );
  }
  out.push(sse('[DONE]'));
  return {
    status: 200,
    headers: SSEH,
    chunks: out,
    malformed: 'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","choi\n\n',
  };
}

function renderCompletions(s: OpenAIScript, req: { body: unknown }): RawReply {
  const b = body(req);
  const model = s.model ?? (b.model as string) ?? 'gpt-3.5-turbo-instruct';
  const n = typeof b.n === 'number' ? b.n : 1;
  const texts = s.choices ?? Array.from({ length: n }, () => splitText(s.text ?? 'a + b').join(''));
  const id = `cmpl-fake${++seq}`;
  const created = now();
  const finish = s.stopReason ?? 'stop';
  if (b.stream !== true) {
    return {
      status: 200,
      headers: JSONH,
      chunks: [
        JSON.stringify({
          id,
          object: 'text_completion',
          created,
          model,
          system_fingerprint: 'fp_fake',
          choices: texts.map((text, index) => ({
            text,
            index,
            logprobs: null,
            finish_reason: finish,
          })),
          usage: usageOf(s, texts.length),
        }),
      ],
    };
  }
  const out: string[] = [];
  texts.forEach((text, index) => {
    for (const d of splitText(text)) {
      out.push(
        sse({
          id,
          object: 'text_completion',
          created,
          model,
          choices: [{ text: d, index, logprobs: null, finish_reason: null }],
        }),
      );
    }
    out.push(
      sse({
        id,
        object: 'text_completion',
        created,
        model,
        choices: [{ text: '', index, logprobs: null, finish_reason: finish }],
      }),
    );
  });
  if (s.streamError) {
    out.push(streamError(s));
  } else {
    const so = b.stream_options as { include_usage?: boolean } | undefined;
    if (so?.include_usage) {
      out.push(
        sse({
          id,
          object: 'text_completion',
          created,
          model,
          choices: [],
          usage: usageOf(s, texts.length),
        }),
      );
    }
    out.push(sse('[DONE]'));
  }
  return { status: 200, headers: SSEH, chunks: out, malformed: 'data: {"id":"cmpl\n\n' };
}

function renderEmbeddings(s: OpenAIScript, req: { body: unknown }): RawReply {
  const b = body(req);
  const input = Array.isArray(b.input) ? b.input : [b.input];
  const dims = s.dims ?? 4;
  const vec = (i: number) => Array.from({ length: dims }, (_, j) => (i + 1) / 10 + j / 100);
  const encode = (v: number[]) => Buffer.from(new Float32Array(v).buffer).toString('base64');
  return {
    status: 200,
    headers: JSONH,
    chunks: [
      JSON.stringify({
        object: 'list',
        data: input.map((_, i) => ({
          object: 'embedding',
          index: i,
          embedding: b.encoding_format === 'base64' ? encode(vec(i)) : vec(i),
        })),
        model: b.model ?? 'text-embedding-3-small',
        usage: { prompt_tokens: s.usage?.input ?? 8, total_tokens: s.usage?.input ?? 8 },
      }),
    ],
  };
}

export async function startOpenAIServer(): Promise<OpenAIServer> {
  return startFakeServer<OpenAIRoute, OpenAIScript>(
    (method, path) => {
      if (method === 'POST' && path === '/v1/chat/completions') return 'chat';
      if (method === 'POST' && path === '/v1/completions') return 'completions';
      if (method === 'GET' && path === '/v1/models') return 'models';
      if (method === 'POST' && path === '/v1/embeddings') return 'embeddings';
      return undefined;
    },
    {
      chat: { fallback: () => ({ text: ['Hello', ' from', ' OpenAI'] }), render: renderChat },
      completions: { fallback: () => ({}), render: renderCompletions },
      models: {
        fallback: () => ({ models: ['gpt-4o-mini', 'gpt-3.5-turbo-instruct'] }),
        render: (s) => ({
          status: 200,
          headers: JSONH,
          chunks: [
            JSON.stringify({
              object: 'list',
              data: (s.models ?? []).map((id) => ({
                id,
                object: 'model',
                created: 1686935002,
                owned_by: 'openai',
              })),
            }),
          ],
        }),
      },
      embeddings: { fallback: () => ({}), render: renderEmbeddings },
    },
    (s) => ({
      status: s.status!,
      headers: JSONH,
      chunks: [
        JSON.stringify({
          error: {
            message: s.errorMessage ?? `fake openai error ${s.status}`,
            type: ERROR_TYPES[s.status!] ?? 'server_error',
            param: null,
            code: s.errorCode ?? null,
          },
        }),
      ],
    }),
  );
}
