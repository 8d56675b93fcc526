/**
 * OpenAI and every OpenAI-compatible server (LM Studio, llama.cpp's server, vLLM,
 * OpenRouter, Mistral, Gemini's OpenAI endpoint, …) through the `openai` package with a
 * configurable base URL: streamed chat with tools and images, fill-in-the-middle through
 * /v1/completions with `suffix` (or a chat prompt for chat-only servers), model listing
 * and embeddings. The SDK's own retries are off: the managed layer retries.
 */
import type OpenAI from 'openai';
import { AbortError, BadRequestError, type RuneError } from '../core/errors.js';
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
import { fimChatRequest, fimFromChat } from './fim-prompt.js';
import { TOOL_NAME_MAX, ToolNameMap } from './tool-names.js';
import type { ChatEvent, ChatMessage, ChatRequest, FimRequest, ModelInfo } from './types.js';

export interface OpenAIAdapterOptions {
  id: string;
  /** Base URL including the version path, e.g. `https://api.openai.com/v1`. */
  url: string;
  apiKey: () => Promise<string | undefined>;
  headers?: Record<string, string>;
  /** `native`: POST /v1/completions with `suffix`; `chat`: a chat prompt. */
  fim: 'native' | 'chat';
  fetch?: typeof fetch;
  /** The kind named in messages (default `openai`), for servers with an adapter of their own. */
  kind?: string;
}

/** The SDK, loaded on the first request (Copilot's adapter shares it). */
export const openaiSdk = lazy(async () => (await import('openai')).default);

type Msg = OpenAI.Chat.ChatCompletionMessageParam;
type Part = OpenAI.Chat.ChatCompletionContentPart;

export class OpenAIAdapter implements Adapter {
  readonly kind = 'openai';
  readonly url: string;
  private readonly who: Who;
  private client: OpenAI | undefined;
  /** Models that took only reasoning-model parameters / refused a native FIM suffix. */
  private readonly reasoning = new Set<string>();
  private readonly noNativeFim = new Set<string>();

  constructor(private readonly opts: OpenAIAdapterOptions) {
    this.who = whoFor(opts.kind ?? 'openai', opts.id, opts.url);
    this.url = this.who.url;
  }

  private async sdk(): Promise<OpenAI> {
    if (!this.client) {
      const apiKey = await this.opts.apiKey();
      const Sdk = await openaiSdk.get();
      this.client = new Sdk({
        // Local OpenAI-compatible servers take no key, but the SDK requires a string.
        apiKey: apiKey ?? 'no-key',
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
    const names = new ToolNameMap(req, TOOL_NAME_MAX.openai);
    const stream = await this.createChat(client, req, model, names, signal);
    hooks.headers();
    const calls = new Map<number, { id: string; name: string; args: string }>();
    let finish: string | undefined;
    let usage = { inputTokens: 0, outputTokens: 0 };
    let actualModel = model;
    let ended = false;
    let refused = false;
    try {
      for await (const chunk of stream) {
        if (chunk.model) actualModel = chunk.model;
        if (chunk.usage) {
          usage = {
            inputTokens: chunk.usage.prompt_tokens ?? 0,
            outputTokens: chunk.usage.completion_tokens ?? 0,
          };
        }
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const d = choice.delta;
        if (d?.content) yield { type: 'text', delta: d.content };
        // A refusal streams in its own field, with `content: null`: it is the answer to show.
        if (d?.refusal) {
          refused = true;
          yield { type: 'text', delta: d.refusal };
        }
        for (const tc of d?.tool_calls ?? []) {
          let c = calls.get(tc.index);
          if (!c) {
            c = { id: tc.id ?? `call_${tc.index}`, name: '', args: '' };
            calls.set(tc.index, c);
          }
          if (tc.id) c.id = tc.id;
          if (tc.function?.name) c.name += tc.function.name;
          if (tc.function?.arguments) c.args += tc.function.arguments;
        }
        if (choice.finish_reason) {
          finish = choice.finish_reason;
          yield* this.flushCalls(calls, names);
        }
      }
      ended = true;
    } finally {
      if (!ended) stream.controller.abort();
    }
    if (finish === undefined) {
      // The SDK ends an aborted stream quietly: that is a cancellation, not a bad server.
      if (signal.aborted) throw new AbortError(undefined, { cause: signal.reason });
      throw malformed(this.who, new Error('the stream ended without a finish_reason'));
    }
    yield* this.flushCalls(calls, names);
    if (refused) {
      yield { type: 'notice', message: `${actualModel} declined to answer this request.` };
    }
    yield {
      type: 'done',
      usage,
      stopReason: refused ? 'refusal' : stopReason(finish),
      model: actualModel,
    };
  }

  /**
   * Starts the chat stream with the parameters the model takes: reasoning models (o-series,
   * gpt-5) want `max_completion_tokens` and only the default temperature. Known families
   * get them at once; any other model that refuses a parameter with 400
   * unsupported_parameter / unsupported_value is asked once more without it.
   */
  private async createChat(
    client: OpenAI,
    req: ChatRequest,
    model: string,
    names: ToolNameMap,
    signal: AbortSignal,
  ) {
    let reasoning = this.reasoning.has(model) || REASONING.test(model.replace(/^.*\//, ''));
    for (;;) {
      try {
        return await client.chat.completions.create(
          {
            model,
            messages: toMessages(req, names),
            stream: true,
            stream_options: { include_usage: true },
            ...(req.temperature !== undefined && !reasoning
              ? { temperature: req.temperature }
              : {}),
            ...(req.maxTokens !== undefined
              ? reasoning
                ? { max_completion_tokens: req.maxTokens }
                : { max_tokens: req.maxTokens }
              : {}),
            ...(req.tools?.length
              ? {
                  tools: req.tools.map((t) => ({
                    type: 'function' as const,
                    function: {
                      name: names.toWire(t.name),
                      description: t.description,
                      parameters: t.inputSchema,
                    },
                  })),
                }
              : {}),
          },
          { signal },
        );
      } catch (err) {
        const Sdk = openaiSdk.loaded;
        if (Sdk && err instanceof Sdk.NotFoundError && err.code === 'model_not_found') {
          throw await this.unknownModel(model, err, signal);
        }
        const bad = Sdk && err instanceof Sdk.BadRequestError ? err : undefined;
        const fixable =
          !reasoning &&
          (bad?.code === 'unsupported_parameter' || bad?.code === 'unsupported_value') &&
          /max_tokens|temperature/.test(bad.param ?? bad.message);
        if (!fixable) throw err;
        reasoning = true;
        this.reasoning.add(model);
      }
    }
  }

  /** A 404 model_not_found, naming models the server offers instead. */
  private async unknownModel(model: string, err: unknown, signal: AbortSignal): Promise<RuneError> {
    let pick = '';
    try {
      const ids = (await this.models(signal)).map((m) => m.id);
      if (ids.length) pick = ` It offers: ${ids.slice(0, 8).join(', ')}.`;
    } catch {
      // The listing is a hint only.
    }
    return new BadRequestError(
      `${this.who.name} does not offer the model ${model} (HTTP 404: retired, unknown, or not available to this key).${pick} Set providers.${this.opts.id}.model (or fim_model) to one it offers.`,
      { cause: err, status: 404 },
    );
  }

  private *flushCalls(
    calls: Map<number, { id: string; name: string; args: string }>,
    names: ToolNameMap,
  ): Generator<ChatEvent> {
    for (const [i, c] of [...calls].sort((a, b) => a[0] - b[0])) {
      calls.delete(i);
      let input: unknown;
      try {
        input = c.args ? JSON.parse(c.args) : {};
      } catch (err) {
        throw malformed(this.who, err);
      }
      yield { type: 'tool_call', id: c.id, name: names.fromWire(c.name), input };
    }
  }

  async complete(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    if (this.opts.fim === 'chat' || this.noNativeFim.has(model)) {
      return this.completeByChat(req, model, signal, hooks);
    }
    try {
      return await this.completeNative(req, model, signal, hooks);
    } catch (err) {
      if (!refusesNativeFim(err)) throw err;
      this.noNativeFim.add(model);
      hooks.notice?.(
        `${this.who.name} does not take a suffix on /v1/completions for ${model} (${(err as Error).message}); completion asks it through a chat prompt instead. Set providers.${this.opts.id}.fim = 'chat' to skip the first try.`,
      );
      return this.completeByChat(req, model, signal, hooks);
    }
  }

  private async completeByChat(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    return fimFromChat(this.chat(fimChatRequest(req, model), model, signal, hooks), req, this.who);
  }

  private async completeNative(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    const client = await this.sdk();
    const stream = await client.completions.create(
      {
        model,
        prompt: req.prefix,
        suffix: req.suffix,
        stream: true,
        stream_options: { include_usage: true },
        ...(req.maxTokens !== undefined ? { max_tokens: req.maxTokens } : {}),
        ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
        ...(req.stop?.length ? { stop: req.stop } : {}),
        ...(req.n && req.n > 1 ? { n: req.n } : {}),
      },
      { signal },
    );
    hooks.headers();
    const texts: string[] = [];
    let ended = false;
    // OpenAI sends one usage chunk for all choices; llama.cpp one per choice (in a chunk
    // of that choice): the last per choice, summed.
    const usages = new Map<number | 'all', { inputTokens: number; outputTokens: number }>();
    let actualModel = model;
    try {
      for await (const chunk of stream) {
        if (chunk.model) actualModel = chunk.model;
        if (chunk.usage) {
          usages.set(chunk.choices?.[0]?.index ?? 'all', {
            inputTokens: chunk.usage.prompt_tokens ?? 0,
            outputTokens: chunk.usage.completion_tokens ?? 0,
          });
        }
        for (const c of chunk.choices ?? []) texts[c.index] = (texts[c.index] ?? '') + c.text;
      }
      ended = true;
    } finally {
      if (!ended) stream.controller.abort();
    }
    // An aborted stream ends quietly with what it had: never a (partial) success.
    if (signal.aborted) throw new AbortError(undefined, { cause: signal.reason });
    const usage = { inputTokens: 0, outputTokens: 0 };
    for (const u of usages.values()) {
      usage.inputTokens += u.inputTokens;
      usage.outputTokens += u.outputTokens;
    }
    return {
      completions: (texts.length ? [...texts] : ['']).map((t) => ({ text: t ?? '' })),
      usage,
      model: actualModel,
    };
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    const client = await this.sdk();
    const out: ModelInfo[] = [];
    for await (const m of client.models.list({ signal })) {
      // llama.cpp's server says its context length in `meta.n_ctx`.
      const nCtx = (m as { meta?: { n_ctx?: unknown } }).meta?.n_ctx;
      out.push({
        id: m.id,
        provider: this.opts.id,
        ...(typeof nCtx === 'number' && nCtx > 0 ? { contextLength: nCtx } : {}),
      });
    }
    return out;
  }

  async embed(input: string[], model: string, signal: AbortSignal): Promise<number[][]> {
    const client = await this.sdk();
    const res = await client.embeddings.create({ model, input }, { signal });
    return [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
  }

  async probe(signal: AbortSignal): Promise<string> {
    const models = await this.models(signal);
    return `reachable at ${this.url} (${models.length} models)`;
  }

  mapError(err: unknown): RuneError {
    return mapCommon(this.who, err, (e) => {
      // Only the SDK throws its errors: none can be here before it is loaded.
      const Sdk = openaiSdk.loaded;
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

/** Reasoning model families (max_completion_tokens, default temperature only). */
const REASONING = /^(o\d|gpt-5)/;

/**
 * /v1/completions refusing a suffix: OpenAI's chat models (404 "This is a chat model…"),
 * vLLM (400 "suffix is not currently supported").
 */
function refusesNativeFim(err: unknown): boolean {
  // Only the SDK throws its errors: none can be here before it is loaded.
  const Sdk = openaiSdk.loaded;
  if (!Sdk || !(err instanceof Sdk.APIError)) return false;
  const msg = err.message;
  return (
    (err.status === 404 && /chat model/i.test(msg)) || (err.status === 400 && /suffix/i.test(msg))
  );
}

function stopReason(r: string): string {
  if (r === 'stop') return 'end';
  if (r === 'length') return 'max_tokens';
  if (r === 'tool_calls' || r === 'function_call') return 'tool_use';
  return r;
}

function toMessages(req: ChatRequest, names: ToolNameMap): Msg[] {
  const out: Msg[] = [];
  if (req.system) out.push({ role: 'system', content: req.system });
  for (const m of req.messages) out.push(...toOpenAI(m, names));
  return out;
}

function toOpenAI(m: ChatMessage, names: ToolNameMap): Msg[] {
  if (typeof m.content === 'string') {
    if (m.role === 'tool') return [];
    return [{ role: m.role, content: m.content } as Msg];
  }
  const parts: Part[] = [];
  const toolCalls: OpenAI.Chat.ChatCompletionMessageToolCall[] = [];
  const results: Msg[] = [];
  for (const p of m.content) {
    if (p.type === 'text') parts.push({ type: 'text', text: p.text });
    else if (p.type === 'image') {
      parts.push({ type: 'image_url', image_url: { url: `data:${p.mediaType};base64,${p.data}` } });
    } else if (p.type === 'tool_call') {
      toolCalls.push({
        id: p.id,
        type: 'function',
        function: { name: names.toWire(p.name), arguments: JSON.stringify(p.input ?? {}) },
      });
    } else {
      results.push({ role: 'tool', tool_call_id: p.id, content: p.content });
    }
  }
  const text = parts.every((p) => p.type === 'text')
    ? parts.map((p) => (p as OpenAI.Chat.ChatCompletionContentPartText).text).join('')
    : undefined;
  const out: Msg[] = [];
  if (m.role === 'assistant') {
    if (text || toolCalls.length) {
      out.push({
        role: 'assistant',
        content: text || null,
        ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
      });
    }
  } else if (m.role === 'system') {
    if (text) out.push({ role: 'system', content: text });
  } else if (parts.length) {
    out.push({ role: 'user', content: text ?? parts });
  }
  return m.role === 'assistant' ? [...out, ...results] : [...results, ...out];
}
