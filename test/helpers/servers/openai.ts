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
 *
 * As strict as the real services, rule by rule (openai/openai-node types them in
 * src/resources/chat/completions and src/resources/shared.ts; the messages are the API's):
 * - Tool (function) names: `^[a-zA-Z0-9_-]+$`, at most 64 characters (shared.ts
 *   FunctionDefinition.name); one bad name fails the request with 400.
 * - An assistant message has `content` or `tool_calls`.
 * - Reasoning models (o-series, gpt-5): `max_tokens` is an unsupported_parameter ("Use
 *   'max_completion_tokens' instead", completions.ts), any temperature but 1 an
 *   unsupported_value.
 * - A retired or unknown model: 404 model_not_found (unknown names only with
 *   `strictModels`).
 * - Billing: 429 `insufficient_quota` (type and code); never a wait.
 * - Refusals stream as `delta.refusal` with `content: null`.
 * - `/v1/completions` with `suffix` (`fim` option): OpenAI's chat models answer 404 "This
 *   is a chat model and not supported in the v1/completions endpoint"; vLLM answers 400
 *   "suffix is not currently supported" whenever `suffix` is present, even "" (vllm
 *   entrypoints/openai serving_completion.py, create_error_response).
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
  /** The `type` of the error body (default from the status). */
  errorType?: string;
  /** A refusal streamed as `delta.refusal` pieces instead of content. */
  refusal?: string;
}

export interface OpenAIServerOptions {
  /**
   * How /v1/completions treats `suffix`: `ok` (llama.cpp, LM Studio), `openai` (404 for
   * chat models: every model but `gpt-3.5-turbo-instruct` and `davinci-002`), `vllm` (400).
   */
  fim?: 'ok' | 'openai' | 'vllm';
  /** Models that are retired (404) — default a few real retired ones. */
  retired?: string[];
  /** Models the server knows; others answer 404 when set. */
  models?: string[];
}

/** Real reasoning model families: o1, o3, o4-mini, gpt-5… */
const REASONING = /^(o\d|gpt-5)/;
const TOOL_NAME = /^[a-zA-Z0-9_-]+$/;
const COMPLETION_MODELS = new Set(['gpt-3.5-turbo-instruct', 'davinci-002', 'babbage-002']);

function apiError(
  status: number,
  message: string,
  type: string,
  param: string | null,
  code: string | number | null,
): RawReply {
  return {
    status,
    headers: JSONH,
    chunks: [JSON.stringify({ error: { message, type, param, code } })],
  };
}

/** The error the real service answers for this chat body, if any. */
function checkChat(b: Record<string, unknown>, opts: OpenAIServerOptions): RawReply | undefined {
  const model = String(b.model ?? '');
  const gone =
    (opts.retired ?? ['gpt-4-32k', 'gpt-4.5-preview']).includes(model) ||
    (opts.models !== undefined && !opts.models.includes(model));
  if (gone) {
    return apiError(
      404,
      `The model \`${model}\` does not exist or you do not have access to it.`,
      'invalid_request_error',
      null,
      'model_not_found',
    );
  }
  const tools = Array.isArray(b.tools) ? (b.tools as { function?: { name?: unknown } }[]) : [];
  for (const [i, t] of tools.entries()) {
    const name = String(t.function?.name ?? '');
    const param = `tools[${i}].function.name`;
    if (!TOOL_NAME.test(name)) {
      return apiError(
        400,
        `Invalid '${param}': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
        'invalid_request_error',
        param,
        'invalid_value',
      );
    }
    if (name.length > 64) {
      return apiError(
        400,
        `Invalid '${param}': string too long. Expected a string with maximum length 64, but got a string with length ${name.length} instead.`,
        'invalid_request_error',
        param,
        'string_above_max_length',
      );
    }
  }
  const messages = Array.isArray(b.messages)
    ? (b.messages as { role?: unknown; content?: unknown; tool_calls?: unknown[] }[])
    : [];
  for (const [i, m] of messages.entries()) {
    if (
      m.role === 'assistant' &&
      (m.content === null || m.content === undefined) &&
      !m.tool_calls?.length
    ) {
      return apiError(
        400,
        "Invalid value for 'content': expected a string, got null.",
        'invalid_request_error',
        `messages.[${i}].content`,
        null,
      );
    }
  }
  if (REASONING.test(model)) {
    if (b.max_tokens !== undefined) {
      return apiError(
        400,
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        'invalid_request_error',
        'max_tokens',
        'unsupported_parameter',
      );
    }
    if (b.temperature !== undefined && b.temperature !== 1) {
      return apiError(
        400,
        `Unsupported value: 'temperature' does not support ${String(b.temperature)} with this model. Only the default (1) value is supported.`,
        'invalid_request_error',
        'temperature',
        'unsupported_value',
      );
    }
  }
  return undefined;
}

function checkCompletions(
  b: Record<string, unknown>,
  opts: OpenAIServerOptions,
): RawReply | undefined {
  if (opts.fim === 'vllm' && b.suffix !== undefined && b.suffix !== null) {
    return apiError(400, 'suffix is not currently supported', 'BadRequestError', null, 400);
  }
  if (opts.fim === 'openai' && !COMPLETION_MODELS.has(String(b.model ?? ''))) {
    return apiError(
      404,
      'This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?',
      'invalid_request_error',
      'model',
      null,
    );
  }
  return undefined;
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
  const out: string[] = [
    chunk(
      s.refusal !== undefined
        ? { role: 'assistant', content: null, refusal: '' }
        : { role: 'assistant', content: '', refusal: null },
    ),
  ];
  for (const r of splitText(s.refusal)) out.push(chunk({ content: null, refusal: r }));
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

export async function startOpenAIServer(opts: OpenAIServerOptions = {}): Promise<OpenAIServer> {
  return startFakeServer<OpenAIRoute, OpenAIScript>(
    (method, path) => {
      if (method === 'POST' && path === '/v1/chat/completions') return 'chat';
      if (method === 'POST' && path === '/v1/completions') return 'completions';
      if (method === 'GET' && path === '/v1/models') return 'models';
      if (method === 'POST' && path === '/v1/embeddings') return 'embeddings';
      return undefined;
    },
    {
      chat: {
        fallback: () => ({ text: ['Hello', ' from', ' OpenAI'] }),
        render: (s, req) => checkChat(body(req), opts) ?? renderChat(s, req),
      },
      completions: {
        fallback: () => ({}),
        render: (s, req) => checkCompletions(body(req), opts) ?? renderCompletions(s, req),
      },
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
            type: s.errorType ?? ERROR_TYPES[s.status!] ?? 'server_error',
            param: null,
            code: s.errorCode ?? null,
          },
        }),
      ],
    }),
  );
}
