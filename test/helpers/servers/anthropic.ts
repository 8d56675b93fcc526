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
  const stopReason = s.stopReason ?? (tools.length ? 'tool_use' : 'end_turn');
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

export async function startAnthropicServer(): Promise<AnthropicServer> {
  return startFakeServer<AnthropicRoute, AnthropicScript>(
    (method, path) => {
      if (method === 'POST' && path === '/v1/messages') return 'messages';
      if (method === 'GET' && path === '/v1/models') return 'models';
      return undefined;
    },
    {
      messages: { fallback: () => ({ text: ['Hello', ' from', ' Claude'] }), render },
      models: {
        fallback: () => ({ models: ['claude-sonnet-4-5', 'claude-haiku-4-5'] }),
        render: (s) => {
          const data = (s.models ?? []).map((id) => ({
            type: 'model',
            id,
            display_name: id,
            created_at: '2025-09-29T00:00:00Z',
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
          },
          request_id: 'req_fake',
        }),
      ],
    }),
  );
}
