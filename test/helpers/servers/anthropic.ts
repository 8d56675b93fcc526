/**
 * A fake Anthropic Messages API speaking the real wire format (docs.anthropic.com,
 * "Streaming Messages"): POST /v1/messages with `"stream": true` answers Server-Sent
 * Events — message_start, ping, content_block_start / content_block_delta (text_delta,
 * input_json_delta for tool_use) / content_block_stop, message_delta (stop_reason,
 * usage.output_tokens), message_stop, and `event: error` for in-stream errors; without
 * `stream` it answers one Message JSON. GET /v1/models lists models. Failures use the
 * API's `{"type":"error","error":{"type","message"}}` body.
 *
 *   const s = await startAnthropicServer();
 *   s.enqueue('messages', { text: ['Hi', ' there'], usage: { input: 12, output: 3 } });
 *   s.enqueue('messages', { toolCalls: [{ id: 'toolu_1', name: 'read', input: { path: 'a' } }] });
 *   s.enqueue('messages', { status: 429, retryAfter: 2 });
 *
 * As strict as the real API, rule by rule (the rules as the API states them in its 400
 * messages, and as anthropics/anthropic-sdk-typescript types them):
 * - Tool names match `^[a-zA-Z0-9_-]{1,128}$`; one bad name fails the whole request.
 * - Every message has non-empty content, except an optional final assistant message;
 *   text blocks are non-empty; roles alternate, starting with `user`.
 * - `temperature` is within 0..1.
 * - A retired or unknown model answers 404 not_found_error "model: <id>"; GET /v1/models
 *   lists the catalogue with each model's `lifecycle` (active, deprecated, retired) and
 *   `capabilities` (src/resources/models.ts ModelInfo). Unknown names are accepted unless
 *   `strictModels` (tests use made-up names).
 * - A spend limit answers 429 rate_limit_error with `error.details.error_code`
 *   (`enforced_spend_limit_reached`; src/core/error-classes.ts).
 */
import {
  sse,
  splitText,
  startFakeServer,
  type Fault,
  type FakeServerBase,
  type RawReply,
} from './base.js';

export type AnthropicRoute = 'messages' | 'models';

export interface AnthropicScript extends Fault {
  text?: string | string[];
  toolCalls?: { id?: string; name: string; input: Record<string, unknown> }[];
  usage?: { input: number; output: number };
  /** end_turn (default, or tool_use when toolCalls are given), max_tokens, stop_sequence. */
  stopReason?: string;
  model?: string;
  /** For `models`: the ids listed. */
  models?: string[];
  /** The error type of the body / in-stream error (default from the status). */
  errorType?: string;
  /** `error.details.error_code` of the error body (e.g. `enforced_spend_limit_reached`). */
  errorCode?: string;
  /** stop_reason `refusal`: the model declined (after the given text, if any). */
  refusal?: boolean;
}

export interface AnthropicModel {
  id: string;
  lifecycle: 'active' | 'deprecated' | 'retired';
  vision?: boolean;
  thinking?: boolean;
}

/** The models the double knows, newest first, as GET /v1/models lists them. */
export const ANTHROPIC_CATALOG: AnthropicModel[] = [
  { id: 'claude-sonnet-5-5', lifecycle: 'active', vision: true, thinking: true },
  { id: 'claude-haiku-5-5', lifecycle: 'active', vision: true, thinking: true },
  { id: 'claude-haiku-4-5', lifecycle: 'active', vision: true, thinking: true },
  { id: 'claude-sonnet-4-5', lifecycle: 'deprecated', vision: true, thinking: true },
  { id: 'claude-3-5-sonnet-20241022', lifecycle: 'retired', vision: true },
];

export interface AnthropicServerOptions {
  catalog?: AnthropicModel[];
  /** Models outside the catalogue answer 404 too. */
  strictModels?: boolean;
}

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;

function invalid(message: string): RawReply {
  return errorBody(400, 'invalid_request_error', message);
}

function errorBody(status: number, type: string, message: string, code?: string): RawReply {
  return {
    status,
    headers: JSONH,
    chunks: [
      JSON.stringify({
        type: 'error',
        error: { type, message, ...(code ? { details: { error_code: code } } : {}) },
        request_id: 'req_fake',
      }),
    ],
  };
}

/** The 4xx the real API answers for this body, if any. */
function check(b: Record<string, unknown>, opts: AnthropicServerOptions): RawReply | undefined {
  const catalog = opts.catalog ?? ANTHROPIC_CATALOG;
  const model = String(b.model ?? '');
  const known = catalog.find((m) => m.id === model);
  if ((known && known.lifecycle === 'retired') || (!known && opts.strictModels)) {
    return errorBody(404, 'not_found_error', `model: ${model}`);
  }
  const tools = Array.isArray(b.tools) ? (b.tools as { name?: unknown }[]) : [];
  for (const [i, t] of tools.entries()) {
    if (typeof t.name !== 'string' || !TOOL_NAME.test(t.name)) {
      return invalid(
        `tools.${i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`,
      );
    }
  }
  if (typeof b.temperature === 'number' && (b.temperature < 0 || b.temperature > 1)) {
    return invalid('temperature: Input should be less than or equal to 1');
  }
  const messages = Array.isArray(b.messages)
    ? (b.messages as { role?: unknown; content?: unknown }[])
    : [];
  for (const [i, m] of messages.entries()) {
    const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    const last = i === messages.length - 1 && m.role === 'assistant';
    if (!Array.isArray(blocks) || (blocks.length === 0 && !last)) {
      return invalid(
        `messages.${i}: all messages must have non-empty content except for the optional final assistant message`,
      );
    }
    for (const [j, blk] of (blocks as { type?: unknown; text?: unknown }[]).entries()) {
      if (blk.type === 'text' && blk.text === '') {
        return invalid(`messages.${i}.content.${j}.text: text content blocks must be non-empty`);
      }
    }
    if (i > 0 && messages[i - 1]?.role === m.role) {
      return invalid('messages: roles must alternate between "user" and "assistant"');
    }
  }
  if (messages[0] && messages[0].role !== 'user') {
    return invalid('messages: first message must use the "user" role');
  }
  return undefined;
}

export type AnthropicServer = FakeServerBase<AnthropicRoute, AnthropicScript>;

const JSONH = { 'content-type': 'application/json', 'request-id': 'req_fake' };
const SSEH = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'request-id': 'req_fake',
};

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'api_error',
  529: 'overloaded_error',
};

let seq = 0;

function render(s: AnthropicScript, req: { body: unknown }): RawReply {
  const b = (req.body ?? {}) as Record<string, unknown>;
  const model = s.model ?? (b.model as string) ?? 'claude-sonnet-4-5';
  const deltas = splitText(s.text);
  const tools = (s.toolCalls ?? []).map((t, i) => ({ ...t, id: t.id ?? `toolu_fake_${i}` }));
  const stopReason = s.refusal
    ? 'refusal'
    : (s.stopReason ?? (tools.length ? 'tool_use' : 'end_turn'));
  const usageIn = s.usage?.input ?? 10;
  const usageOut = s.usage?.output ?? deltas.length + tools.length;
  const id = `msg_fake_${++seq}`;
  if (b.stream !== true) {
    const content = [
      ...(deltas.length ? [{ type: 'text', text: deltas.join('') }] : []),
      ...tools.map((t) => ({ type: 'tool_use', id: t.id, name: t.name, input: t.input })),
    ];
    return {
      status: 200,
      headers: JSONH,
      chunks: [
        JSON.stringify({
          id,
          type: 'message',
          role: 'assistant',
          model,
          content,
          stop_reason: stopReason,
          stop_sequence: null,
          usage: { input_tokens: usageIn, output_tokens: usageOut },
        }),
      ],
    };
  }
  const ev: string[] = [];
  ev.push(
    sse(
      {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          content: [],
          model,
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: usageIn, output_tokens: 1 },
        },
      },
      'message_start',
    ),
  );
  ev.push(sse({ type: 'ping' }, 'ping'));
  let index = 0;
  if (deltas.length) {
    ev.push(
      sse(
        { type: 'content_block_start', index, content_block: { type: 'text', text: '' } },
        'content_block_start',
      ),
    );
    for (const d of deltas) {
      ev.push(
        sse(
          { type: 'content_block_delta', index, delta: { type: 'text_delta', text: d } },
          'content_block_delta',
        ),
      );
    }
    ev.push(sse({ type: 'content_block_stop', index }, 'content_block_stop'));
    index++;
  }
  for (const t of tools) {
    ev.push(
      sse(
        {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: t.id, name: t.name, input: {} },
        },
        'content_block_start',
      ),
    );
    const json = JSON.stringify(t.input);
    const cut = Math.floor(json.length / 2);
    for (const part of ['', json.slice(0, cut), json.slice(cut)]) {
      ev.push(
        sse(
          {
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json: part },
          },
          'content_block_delta',
        ),
      );
    }
    ev.push(sse({ type: 'content_block_stop', index }, 'content_block_stop'));
    index++;
  }
  if (s.streamError) {
    ev.push(
      sse(
        {
          type: 'error',
          error: {
            type: s.errorType ?? 'overloaded_error',
            message: s.errorMessage ?? 'Overloaded',
          },
        },
        'error',
      ),
    );
    return { status: 200, headers: SSEH, chunks: ev };
  }
  ev.push(
    sse(
      {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: usageOut },
      },
      'message_delta',
    ),
  );
  ev.push(sse({ type: 'message_stop' }, 'message_stop'));
  return {
    status: 200,
    headers: SSEH,
    chunks: ev,
    malformed: 'event: content_block_delta\ndata: {"type":"content_block_delta","ind\n\n',
  };
}

export async function startAnthropicServer(
  opts: AnthropicServerOptions = {},
): Promise<AnthropicServer> {
  const catalog = opts.catalog ?? ANTHROPIC_CATALOG;
  return startFakeServer<AnthropicRoute, AnthropicScript>(
    (method, path) => {
      if (method === 'POST' && path === '/v1/messages') return 'messages';
      if (method === 'GET' && path === '/v1/models') return 'models';
      return undefined;
    },
    {
      messages: {
        fallback: () => ({ text: ['Hello', ' from', ' Claude'] }),
        render: (s, req) =>
          check((req.body ?? {}) as Record<string, unknown>, opts) ?? render(s, req),
      },
      models: {
        fallback: () => ({}),
        render: (s) => {
          const listed = s.models
            ? s.models.map((id): AnthropicModel => ({ id, lifecycle: 'active' }))
            : catalog;
          const data = listed.map((m) => ({
            type: 'model',
            id: m.id,
            display_name: m.id,
            created_at: '2025-09-29T00:00:00Z',
            lifecycle: m.lifecycle,
            deprecated_at: m.lifecycle === 'active' ? null : '2026-06-01T00:00:00Z',
            capabilities: {
              image_input: { supported: !!m.vision },
              thinking: { supported: !!m.thinking },
            },
          }));
          return {
            status: 200,
            headers: JSONH,
            chunks: [
              JSON.stringify({
                data,
                has_more: false,
                first_id: data[0]?.id ?? null,
                last_id: data[data.length - 1]?.id ?? null,
              }),
            ],
          };
        },
      },
    },
    (s) => ({
      status: s.status!,
      headers: JSONH,
      chunks: [
        JSON.stringify({
          type: 'error',
          error: {
            type: s.errorType ?? ERROR_TYPES[s.status!] ?? 'api_error',
            message: s.errorMessage ?? `fake anthropic error ${s.status}`,
            ...(s.errorCode ? { details: { error_code: s.errorCode } } : {}),
          },
          request_id: 'req_fake',
        }),
      ],
    }),
  );
}
