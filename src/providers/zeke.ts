/**
 * Zeke's `zeke serve` HTTP API (default http://127.0.0.1:7878) through fetch: POST
 * /api/chat `{message, model, temperature, max_tokens}` → `{response, model, provider,
 * tokens_in, tokens_out, latency_ms}`; POST /api/complete `{prompt, model, max_tokens,
 * language}` → `{completion, model, provider}`; GET /health; GET /api/status. Zeke answers
 * in one piece, so a chat yields the whole text as one delta.
 */
import { AbortError, type RuneError } from '../core/errors.js';
import { parseRetryAfter } from '../core/retry.js';
import type { Adapter, AdapterHooks, CompleteResult } from './adapter.js';
import { fromStatus, malformed, mapCommon, type Who, whoFor } from './errors.js';
import { FIM_SYSTEM, cleanFimAnswer, fimPrompt } from './fim-prompt.js';
import type { ChatEvent, ChatMessage, ChatRequest, FimRequest, ModelInfo } from './types.js';

export interface ZekeAdapterOptions {
  id: string;
  url: string;
  apiKey?: () => Promise<string | undefined>;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

export class ZekeAdapter implements Adapter {
  readonly kind = 'zeke';
  readonly url: string;
  private readonly who: Who;

  constructor(private readonly opts: ZekeAdapterOptions) {
    this.who = whoFor('zeke', opts.id, opts.url);
    this.url = this.who.url;
  }

  private async call(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal,
    hooks?: AdapterHooks,
  ): Promise<Record<string, unknown>> {
    const key = await this.opts.apiKey?.();
    const res = await (this.opts.fetch ?? fetch)(`${this.url}${path}`, {
      method,
      signal,
      headers: {
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...this.opts.headers,
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    hooks?.headers();
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch (err) {
      if (!res.ok) throw fromStatus(this.who, res.status, text.slice(0, 200));
      throw malformed(this.who, err);
    }
    const obj = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
    if (!res.ok) {
      const detail = typeof obj.error === 'string' ? obj.error : res.statusText;
      throw fromStatus(
        this.who,
        res.status,
        detail,
        parseRetryAfter((n) => res.headers.get(n)),
      );
    }
    return obj;
  }

  async *chat(
    req: ChatRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncGenerator<ChatEvent> {
    const r = await this.call(
      'POST',
      '/api/chat',
      {
        message: flatten(req),
        ...(model ? { model } : {}),
        ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
        ...(req.maxTokens !== undefined ? { max_tokens: req.maxTokens } : {}),
      },
      signal,
      hooks,
    );
    if (typeof r.response !== 'string') {
      throw malformed(this.who, new Error('the answer has no "response" string'));
    }
    if (r.response) yield { type: 'text', delta: r.response };
    yield {
      type: 'done',
      usage: { inputTokens: num(r.tokens_in), outputTokens: num(r.tokens_out) },
      stopReason: 'end',
      model: typeof r.model === 'string' ? r.model : model,
    };
  }

  async complete(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    const r = await this.call(
      'POST',
      '/api/complete',
      {
        prompt: `${FIM_SYSTEM}\n\n${fimPrompt(req)}`,
        ...(model ? { model } : {}),
        ...(req.maxTokens !== undefined ? { max_tokens: req.maxTokens } : {}),
        ...(req.language ? { language: req.language } : {}),
      },
      signal,
      hooks,
    );
    if (typeof r.completion !== 'string') {
      throw malformed(this.who, new Error('the answer has no "completion" string'));
    }
    return {
      completions: [{ text: cleanFimAnswer(r.completion, req.stop) }],
      usage: { inputTokens: num(r.tokens_in), outputTokens: num(r.tokens_out) },
      model: typeof r.model === 'string' ? r.model : model,
    };
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    const r = await this.call('GET', '/api/status', undefined, signal);
    const list = Array.isArray(r.models) ? r.models : [];
    return list
      .map((m) =>
        typeof m === 'string'
          ? m
          : ((m as { id?: unknown; name?: unknown })?.id ?? (m as { name?: unknown })?.name),
      )
      .filter((m): m is string => typeof m === 'string')
      .map((id) => ({ id, provider: this.opts.id }));
  }

  async probe(signal: AbortSignal): Promise<string> {
    const r = await this.call('GET', '/health', undefined, signal);
    if (signal.aborted) throw new AbortError();
    return `reachable at ${this.url} (status ${String(r.status ?? 'unknown')}${r.version ? `, version ${String(r.version)}` : ''})`;
  }

  mapError(err: unknown): RuneError {
    return mapCommon(this.who, err, (e) => malformed(this.who, e));
  }
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function text(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  return m.content
    .map((p) => {
      if (p.type === 'text') return p.text;
      if (p.type === 'tool_result') return `[tool result] ${p.content}`;
      if (p.type === 'tool_call') return `[tool call ${p.name}] ${JSON.stringify(p.input)}`;
      return '[image omitted]';
    })
    .join('\n');
}

/** Zeke's chat takes one message: a single turn as is, a conversation as a transcript. */
function flatten(req: ChatRequest): string {
  const turns = req.messages.filter((m) => text(m));
  if (!req.system && turns.length === 1 && turns[0]!.role === 'user') return text(turns[0]!);
  const lines = req.system ? [`System: ${req.system}`, ''] : [];
  for (const m of turns) {
    const who = m.role === 'assistant' ? 'Assistant' : m.role === 'system' ? 'System' : 'User';
    lines.push(`${who}: ${text(m)}`, '');
  }
  lines.push('Assistant:');
  return lines.join('\n');
}
