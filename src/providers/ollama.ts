/**
 * Ollama through the `ollama` package: /api/chat (streamed NDJSON, tools, images),
 * /api/generate with `suffix` for fill-in-the-middle, /api/tags, /api/embed.
 *
 * ollama-js takes no AbortSignal per call, but it takes a `fetch`: each call gets a
 * client whose fetch carries the call's signal, so aborting closes the connection even
 * before the stream starts.
 */
import type { Message, Ollama, Tool } from 'ollama';
import type { RuneError } from '../core/errors.js';
import { lazy } from '../core/lazy.js';
import type { Adapter, AdapterHooks, CompleteResult } from './adapter.js';
import { fromStatus, mapCommon, malformed, type Who, whoFor } from './errors.js';
import type {
  ChatEvent,
  ChatMessage,
  ChatRequest,
  FimRequest,
  ModelInfo,
  ToolSpec,
} from './types.js';

/** The SDK, loaded on the first request. */
const ollamaSdk = lazy(async () => (await import('ollama')).Ollama);

export interface OllamaAdapterOptions {
  id: string;
  url: string;
  headers?: Record<string, string>;
  /** Resolves the API key (for Ollama behind an authenticating proxy, or ollama.com). */
  apiKey?: () => Promise<string | undefined>;
  fetch?: typeof fetch;
}

export class OllamaAdapter implements Adapter {
  readonly kind = 'ollama';
  readonly url: string;
  private readonly who: Who;

  constructor(private readonly opts: OllamaAdapterOptions) {
    this.who = whoFor('ollama', opts.id, opts.url);
    this.url = this.who.url;
  }

  private async client(signal: AbortSignal, hooks?: AdapterHooks): Promise<Ollama> {
    const key = await this.opts.apiKey?.();
    const base = this.opts.fetch ?? fetch;
    const Sdk = await ollamaSdk.get();
    return new Sdk({
      host: this.url,
      headers: { ...this.opts.headers, ...(key ? { Authorization: `Bearer ${key}` } : {}) },
      fetch: async (input, init) => {
        const res = await base(input, {
          ...init,
          signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal,
        });
        hooks?.headers();
        return validateNdjson(res);
      },
    });
  }

  async *chat(
    req: ChatRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncGenerator<ChatEvent> {
    const client = await this.client(signal, hooks);
    const stream = await client.chat({
      model,
      messages: toMessages(req),
      stream: true,
      ...(req.tools?.length ? { tools: req.tools.map(toTool) } : {}),
      options: {
        ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
        ...(req.maxTokens !== undefined ? { num_predict: req.maxTokens } : {}),
      },
    });
    let calls = 0;
    let ended = false;
    try {
      for await (const part of stream) {
        if (part.message?.content) yield { type: 'text', delta: part.message.content };
        for (const tc of part.message?.tool_calls ?? []) {
          yield {
            type: 'tool_call',
            id: `call_${calls++}`,
            name: tc.function.name,
            input: tc.function.arguments ?? {},
          };
        }
        if (part.done) {
          ended = true;
          yield {
            type: 'done',
            usage: { inputTokens: part.prompt_eval_count ?? 0, outputTokens: part.eval_count ?? 0 },
            stopReason: calls ? 'tool_use' : stopReason(part.done_reason),
            model: part.model || model,
          };
          return;
        }
      }
      throw malformed(this.who, new Error('the stream ended before its final "done" line'));
    } finally {
      if (!ended) stream.abort();
    }
  }

  async complete(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    const client = await this.client(signal, hooks);
    const stream = await client.generate({
      model,
      prompt: req.prefix,
      suffix: req.suffix,
      stream: true,
      options: {
        ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
        ...(req.maxTokens !== undefined ? { num_predict: req.maxTokens } : {}),
        ...(req.stop?.length ? { stop: req.stop } : {}),
      },
    });
    let text = '';
    let ended = false;
    try {
      for await (const part of stream) {
        text += part.response ?? '';
        if (part.done) {
          ended = true;
          return {
            completions: [{ text }],
            usage: { inputTokens: part.prompt_eval_count ?? 0, outputTokens: part.eval_count ?? 0 },
            model: part.model || model,
          };
        }
      }
    } finally {
      if (!ended) stream.abort();
    }
    throw malformed(this.who, new Error('the stream ended before its final "done" line'));
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    const client = await this.client(signal);
    const res = await client.list();
    return res.models.map((m) => ({ id: m.name, provider: this.opts.id }));
  }

  async embed(input: string[], model: string, signal: AbortSignal): Promise<number[][]> {
    const client = await this.client(signal);
    const res = await client.embed({ model, input });
    return res.embeddings;
  }

  async probe(signal: AbortSignal): Promise<string> {
    const models = await this.models(signal);
    return `reachable at ${this.url} (${models.length} model${models.length === 1 ? '' : 's'} installed)`;
  }

  mapError(err: unknown): RuneError {
    return mapCommon(this.who, err, (e) => {
      const status = (e as { status_code?: unknown }).status_code;
      const msg = e instanceof Error ? e.message : String(e);
      if (e instanceof Error && e.name === 'ResponseError' && typeof status === 'number') {
        return fromStatus(this.who, status, msg, undefined, e);
      }
      // ollama-js throws a plain Error for an `{"error": ...}` line inside the stream.
      return fromStatus(this.who, 500, msg, undefined, e);
    });
  }
}

function stopReason(r: string | undefined): string {
  if (!r || r === 'stop') return 'end';
  if (r === 'length') return 'max_tokens';
  return r;
}

function toTool(t: ToolSpec): Tool {
  return {
    type: 'function',
    function: {
      name: t.name,
      description: t.description,
      parameters: t.inputSchema as Tool['function']['parameters'],
    },
  };
}

function toMessages(req: ChatRequest): Message[] {
  const out: Message[] = [];
  if (req.system) out.push({ role: 'system', content: req.system });
  const names = new Map<string, string>();
  for (const m of req.messages) out.push(...toOllama(m, names));
  return out;
}

function toOllama(m: ChatMessage, names: Map<string, string>): Message[] {
  if (typeof m.content === 'string') return [{ role: m.role, content: m.content }];
  const msg: Message = { role: m.role, content: '' };
  const extra: Message[] = [];
  const images: string[] = [];
  for (const p of m.content) {
    if (p.type === 'text') msg.content += p.text;
    else if (p.type === 'image') images.push(p.data);
    else if (p.type === 'tool_call') {
      names.set(p.id, p.name);
      (msg.tool_calls ??= []).push({
        function: { name: p.name, arguments: (p.input ?? {}) as Record<string, unknown> },
      });
    } else if (p.type === 'tool_result') {
      extra.push({
        role: 'tool',
        content: p.content,
        ...(names.has(p.id) ? { tool_name: names.get(p.id)! } : {}),
      });
    }
  }
  if (images.length) msg.images = images;
  const keep = msg.content || msg.images?.length || msg.tool_calls?.length;
  return keep ? [msg, ...extra] : extra;
}

/**
 * ollama-js skips an NDJSON line it cannot parse (with a console warning), which would
 * silently drop part of an answer; this makes such a line fail the stream instead.
 */
function validateNdjson(res: Response): Response {
  if (!res.ok || !res.body || !/ndjson/.test(res.headers.get('content-type') ?? '')) return res;
  const decoder = new TextDecoder();
  let rest = '';
  const check = (line: string) => {
    if (line.trim()) JSON.parse(line);
  };
  const body = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>(
      {
        transform(chunk, ctl) {
          const lines = (rest + decoder.decode(chunk, { stream: true })).split('\n');
          rest = lines.pop() ?? '';
          lines.forEach(check);
          ctl.enqueue(chunk);
        },
        flush() {
          check(rest + decoder.decode());
        },
      },
      undefined,
      // Reading ahead lets the body reach its end although ollama-js stops reading at the
      // "done" line, so the connection goes back to the keep-alive pool.
      { highWaterMark: 1024 },
    ),
  );
  return new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
