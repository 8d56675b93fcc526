/**
 * Anthropic's Messages API through `@anthropic-ai/sdk`: streamed messages with tool use,
 * images (vision) and usage; fill-in-the-middle through a chat prompt (fim-prompt.ts);
 * model listing. The SDK's own retries are off: the managed layer retries, and only
 * before the first token.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type { RuneError } from '../core/errors.js';
import { lazy } from '../core/lazy.js';
import { parseRetryAfter } from '../core/retry.js';
import type { Adapter, AdapterHooks, CompleteResult } from './adapter.js';
import {
  fromSdkError,
  malformed,
  mapCommon,
  type SdkApiError,
  type Who,
  whoFor,
} from './errors.js';
import { cleanFimAnswer, fimChatRequest } from './fim-prompt.js';
import type { ChatEvent, ChatRequest, ContentPart, FimRequest, ModelInfo } from './types.js';

export interface AnthropicAdapterOptions {
  id: string;
  url: string;
  apiKey: () => Promise<string | undefined>;
  headers?: Record<string, string>;
  /** max_tokens when a request gives none (the API requires one). */
  maxTokens: number;
  fetch?: typeof fetch;
}

/** The SDK, loaded on the first request. */
const anthropicSdk = lazy(async () => (await import('@anthropic-ai/sdk')).default);

type Param = Anthropic.MessageParam;
type Block = Anthropic.ContentBlockParam;

export class AnthropicAdapter implements Adapter {
  readonly kind = 'anthropic';
  readonly url: string;
  private readonly who: Who;
  private client: Anthropic | undefined;

  constructor(private readonly opts: AnthropicAdapterOptions) {
    this.who = whoFor('anthropic', opts.id, opts.url);
    this.url = this.who.url;
  }

  private async sdk(): Promise<Anthropic> {
    if (!this.client) {
      const apiKey = await this.opts.apiKey();
      const Sdk = await anthropicSdk.get();
      this.client = new Sdk({
        apiKey: apiKey ?? null,
        baseURL: this.url,
        maxRetries: 0,
        timeout: 24 * 3600_000,
        ...(this.opts.headers ? { defaultHeaders: this.opts.headers } : {}),
        ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
      });
    }
    return this.client;
  }

  async *chat(
    req: ChatRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncGenerator<ChatEvent> {
    const client = await this.sdk();
    const { system, messages } = toParams(req);
    const stream = await client.messages.create(
      {
        model,
        max_tokens: req.maxTokens ?? this.opts.maxTokens,
        messages,
        stream: true,
        ...(system ? { system } : {}),
        ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
        ...(req.tools?.length
          ? {
              tools: req.tools.map((t) => ({
                name: t.name,
                description: t.description,
                input_schema: t.inputSchema as Anthropic.Tool.InputSchema,
              })),
            }
          : {}),
      },
      { signal },
    );
    hooks.headers();
    let input = 0;
    let output = 0;
    let stop = 'end';
    let actualModel = model;
    const tools = new Map<number, { id: string; name: string; json: string }>();
    let stopped = false;
    try {
      for await (const ev of stream) {
        switch (ev.type) {
          case 'message_start':
            input =
              ev.message.usage.input_tokens +
              (ev.message.usage.cache_creation_input_tokens ?? 0) +
              (ev.message.usage.cache_read_input_tokens ?? 0);
            output = ev.message.usage.output_tokens;
            actualModel = ev.message.model || model;
            break;
          case 'content_block_start':
            if (ev.content_block.type === 'tool_use') {
              tools.set(ev.index, {
                id: ev.content_block.id,
                name: ev.content_block.name,
                json: '',
              });
            }
            break;
          case 'content_block_delta':
            if (ev.delta.type === 'text_delta') yield { type: 'text', delta: ev.delta.text };
            else if (ev.delta.type === 'input_json_delta') {
              const t = tools.get(ev.index);
              if (t) t.json += ev.delta.partial_json;
            }
            break;
          case 'content_block_stop': {
            const t = tools.get(ev.index);
            if (t) {
              tools.delete(ev.index);
              let parsed: unknown;
              try {
                parsed = t.json ? JSON.parse(t.json) : {};
              } catch (err) {
                throw malformed(this.who, err);
              }
              yield { type: 'tool_call', id: t.id, name: t.name, input: parsed };
            }
            break;
          }
          case 'message_delta':
            if (ev.delta.stop_reason) stop = stopReason(ev.delta.stop_reason);
            output = ev.usage.output_tokens ?? output;
            break;
          case 'message_stop':
            stopped = true;
            break;
        }
      }
    } finally {
      if (!stopped) stream.controller.abort();
    }
    if (!stopped) throw malformed(this.who, new Error('the stream ended before message_stop'));
    // Yielded after the body ended, so the connection goes back to the pool.
    yield {
      type: 'done',
      usage: { inputTokens: input, outputTokens: output },
      stopReason: stop,
      model: actualModel,
    };
  }

  async complete(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    let text = '';
    for await (const ev of this.chat(fimChatRequest(req, model), model, signal, hooks)) {
      if (ev.type === 'text') text += ev.delta;
      else if (ev.type === 'done') {
        return {
          completions: [{ text: cleanFimAnswer(text, req.stop) }],
          usage: ev.usage,
          model: ev.model,
        };
      }
    }
    throw malformed(this.who, new Error('no final event'));
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    const client = await this.sdk();
    const out: ModelInfo[] = [];
    for await (const m of client.models.list({ limit: 100 }, { signal })) {
      out.push({ id: m.id, provider: this.opts.id });
    }
    return out;
  }

  async probe(signal: AbortSignal): Promise<string> {
    const models = await this.models(signal);
    return `reachable at ${this.url}, key accepted (${models.length} models)`;
  }

  mapError(err: unknown): RuneError {
    return mapCommon(this.who, err, (e) => {
      // Only the SDK throws its errors: none can be here before it is loaded.
      const Sdk = anthropicSdk.loaded;
      if (Sdk && e instanceof Sdk.APIConnectionError) {
        return mapCommon(this.who, e.cause ?? e, (x) =>
          fromSdkError(this.who, x as SdkApiError, parseRetryAfter),
        );
      }
      if (Sdk && e instanceof Sdk.APIError) return fromSdkError(this.who, e, parseRetryAfter);
      return malformed(this.who, e);
    });
  }
}

function stopReason(r: string): string {
  if (r === 'end_turn') return 'end';
  return r;
}

function toBlocks(content: string | ContentPart[]): Block[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  return content.map((p): Block => {
    switch (p.type) {
      case 'text':
        return { type: 'text', text: p.text };
      case 'image':
        return {
          type: 'image',
          source: {
            type: 'base64',
            media_type: p.mediaType as Anthropic.Base64ImageSource['media_type'],
            data: p.data,
          },
        };
      case 'tool_call':
        return { type: 'tool_use', id: p.id, name: p.name, input: p.input ?? {} };
      case 'tool_result':
        return {
          type: 'tool_result',
          tool_use_id: p.id,
          content: p.content,
          ...(p.isError ? { is_error: true } : {}),
        };
    }
  });
}

/** Splits out system text and merges consecutive turns of one role (the API alternates). */
function toParams(req: ChatRequest): { system: string | undefined; messages: Param[] } {
  const system: string[] = req.system ? [req.system] : [];
  const messages: Param[] = [];
  for (const m of req.messages) {
    if (m.role === 'system') {
      system.push(typeof m.content === 'string' ? m.content : toText(m.content));
      continue;
    }
    const role = m.role === 'assistant' ? 'assistant' : 'user';
    const blocks = toBlocks(m.content);
    const last = messages[messages.length - 1];
    if (last && last.role === role) (last.content as Block[]).push(...blocks);
    else messages.push({ role, content: blocks });
  }
  return { system: system.length ? system.join('\n\n') : undefined, messages };
}

function toText(parts: ContentPart[]): string {
  return parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
}
