/**
 * Anthropic's Messages API through `@anthropic-ai/sdk`: streamed messages with tool use,
 * images (vision) and usage; fill-in-the-middle through a chat prompt (fim-prompt.ts);
 * model listing. The SDK's own retries are off: the managed layer retries, and only
 * before the first token.
 *
 * The API refuses what Rune could otherwise send: tool names outside
 * `^[a-zA-Z0-9_-]{1,128}$` (mapped, tool-names.ts), empty messages or text blocks (a
 * stored empty or tool-only answer; dropped), a temperature above 1 (clamped), and a
 * retired model (404; the error names the models /v1/models offers).
 */
import type Anthropic from '@anthropic-ai/sdk';
import { AbortError, BadRequestError, type RuneError } from '../core/errors.js';
import { lazy } from '../core/lazy.js';
import { parseRetryAfter } from '../core/retry.js';
import type { Adapter, AdapterHooks, CompleteResult, ModelReport } from './adapter.js';
import {
  fromSdkError,
  malformed,
  mapCommon,
  type SdkApiError,
  type Who,
  whoFor,
} from './errors.js';
import { fimChatRequest, fimFromChat } from './fim-prompt.js';
import { TOOL_NAME_MAX, ToolNameMap } from './tool-names.js';
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
    const names = new ToolNameMap(req, TOOL_NAME_MAX.anthropic);
    const { system, messages } = toParams(req, names);
    let stream: Awaited<ReturnType<typeof client.messages.create>> & AsyncIterable<unknown>;
    try {
      stream = await client.messages.create(
        {
          model,
          max_tokens: req.maxTokens ?? this.opts.maxTokens,
          messages,
          stream: true,
          ...(system ? { system } : {}),
          // The API takes 0..1; Rune's option allows up to 2 (other APIs' range).
          ...(req.temperature !== undefined
            ? { temperature: Math.min(1, Math.max(0, req.temperature)) }
            : {}),
          ...(req.tools?.length
            ? {
                tools: req.tools.map((t) => ({
                  name: names.toWire(t.name),
                  description: t.description,
                  input_schema: t.inputSchema as Anthropic.Tool.InputSchema,
                })),
              }
            : {}),
        },
        { signal },
      );
    } catch (err) {
      if (anthropicSdk.loaded && err instanceof anthropicSdk.loaded.NotFoundError)
        throw await this.unknownModel(model, err, signal);
      throw err;
    }
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
                name: names.fromWire(ev.content_block.name),
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
    if (!stopped) {
      // The SDK ends an aborted stream quietly: that is a cancellation, not a bad server.
      if (signal.aborted) throw new AbortError(undefined, { cause: signal.reason });
      throw malformed(this.who, new Error('the stream ended before message_stop'));
    }
    if (stop === 'refusal') {
      yield {
        type: 'notice',
        message: `${model} declined to answer this request (stop_reason "refusal"). Rephrase it, or ask another model.`,
      };
    }
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
    return fimFromChat(this.chat(fimChatRequest(req, model), model, signal, hooks), req, this.who);
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    return (await this.catalog(signal))
      .filter((m) => m.lifecycle !== 'retired')
      .map((m) => ({ id: m.id, provider: this.opts.id }));
  }

  /** Every model /v1/models lists, retired ones included (they stay in the catalogue). */
  private async catalog(signal: AbortSignal): Promise<Anthropic.ModelInfo[]> {
    const client = await this.sdk();
    const out: Anthropic.ModelInfo[] = [];
    for await (const m of client.models.list({ limit: 100 }, { signal })) out.push(m);
    return out;
  }

  async describe(model: string, signal: AbortSignal): Promise<ModelReport> {
    const all = await this.catalog(signal);
    const m = all.find((x) => x.id === model);
    if (!m || m.lifecycle === 'retired') {
      return { exists: false, note: `pick one of: ${activeIds(all).join(', ')}` };
    }
    const c = m.capabilities;
    const supports = [
      'tools',
      ...(c?.image_input?.supported ? ['vision'] : []),
      ...(c?.thinking?.supported ? ['thinking'] : []),
    ];
    return {
      exists: true,
      supports,
      ...(m.lifecycle === 'deprecated'
        ? { note: `deprecated: pick a current model (${activeIds(all).slice(0, 3).join(', ')})` }
        : {}),
    };
  }

  /** A 404 for `model`, naming the models the account can use instead. */
  private async unknownModel(model: string, err: unknown, signal: AbortSignal): Promise<RuneError> {
    let pick = '';
    try {
      const ids = activeIds(await this.catalog(signal));
      if (ids.length) pick = ` Pick one of: ${ids.slice(0, 6).join(', ')}.`;
    } catch {
      // The listing is a hint only: without it the message still names the fix.
    }
    return new BadRequestError(
      `${this.who.name} does not offer the model ${model} (HTTP 404: retired or unknown).${pick} Set providers.${this.opts.id}.model (or fim_model) to a current model.`,
      { cause: err, status: 404 },
    );
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

function activeIds(all: Anthropic.ModelInfo[]): string[] {
  return all.filter((m) => m.lifecycle === 'active').map((m) => m.id);
}

function toBlocks(content: string | ContentPart[], names: ToolNameMap): Block[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  // The API refuses empty text blocks.
  return content.flatMap((p): Block[] => (p.type === 'text' && !p.text ? [] : [toBlock(p, names)]));
}

function toBlock(p: ContentPart, names: ToolNameMap): Block {
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
      return { type: 'tool_use', id: p.id, name: names.toWire(p.name), input: p.input ?? {} };
    case 'tool_result':
      return {
        type: 'tool_result',
        tool_use_id: p.id,
        content: p.content,
        ...(p.isError ? { is_error: true } : {}),
      };
  }
}

/** Splits out system text and merges consecutive turns of one role (the API alternates). */
function toParams(
  req: ChatRequest,
  names: ToolNameMap,
): { system: string | undefined; messages: Param[] } {
  const system: string[] = req.system ? [req.system] : [];
  const messages: Param[] = [];
  for (const m of req.messages) {
    if (m.role === 'system') {
      system.push(typeof m.content === 'string' ? m.content : toText(m.content));
      continue;
    }
    const role = m.role === 'assistant' ? 'assistant' : 'user';
    const blocks = toBlocks(m.content, names);
    // An empty turn (a stored empty answer) would fail every later request.
    if (!blocks.length) continue;
    const last = messages[messages.length - 1];
    if (last && last.role === role) (last.content as Block[]).push(...blocks);
    else messages.push({ role, content: blocks });
  }
  return { system: system.length ? system.join('\n\n') : undefined, messages };
}

function toText(parts: ContentPart[]): string {
  return parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
}
