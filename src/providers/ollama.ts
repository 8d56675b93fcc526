/**
 * Ollama through the `ollama` package: /api/chat (streamed NDJSON, tools, images),
 * /api/generate with `suffix` for fill-in-the-middle, /api/tags, /api/embed, /api/show.
 *
 * ollama-js takes no AbortSignal per call, but it takes a `fetch`: each call gets a
 * client whose fetch carries the call's signal, so aborting closes the connection even
 * before the stream starts.
 *
 * What the real server does (ollama/ollama server/routes.go) shapes this file:
 * - It loads the model before it writes anything: the status line and headers come with
 *   the first NDJSON line (gin's c.Stream in streamResponse). Waiting for them is the
 *   first-token phase (a cold load takes seconds), not connect; a host that does not
 *   answer at all still fails at fetch's own TCP connect timeout.
 * - A model without a capability the request needs answers 400 "<model> does not support
 *   tools" (or "insert" for a suffix): chat asks again without tools and says so once;
 *   completion goes through a chat prompt.
 * - Thinking models stream `message.thinking` with empty content; they think for FIM too
 *   unless `think: false` is sent.
 * - GenerateHandler treats `suffix: ""` as no suffix (the chat template, a chatbot answer)
 *   and `prompt: ""` as a load request (`done_reason: "load"`, no text).
 */
import type { GenerateRequest, Message, Ollama, Tool } from 'ollama';
import type { RuneError } from '../core/errors.js';
import { lazy } from '../core/lazy.js';
import { VERSION } from '../core/version.js';
import type { Adapter, AdapterHooks, CompleteResult, ModelReport } from './adapter.js';
import {
  ModelFailedError,
  ModelNotPulledError,
  fromStatus,
  mapCommon,
  malformed,
  type Who,
  whoFor,
} from './errors.js';
import { fimChatRequest, fimFromChat } from './fim-prompt.js';
import { postLines } from './http-lines.js';
import { TOOL_NAME_MAX, ToolNameMap } from './tool-names.js';
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
  /** Models the server said cannot take tools / a suffix (asked once per host run). */
  private readonly noTools = new Set<string>();
  private readonly noInsert = new Set<string>();

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
        hooks?.sent?.();
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
    yield* this.chatWith(req, model, signal, hooks, undefined);
  }

  private async *chatWith(
    req: ChatRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
    think: false | undefined,
  ): AsyncGenerator<ChatEvent> {
    const client = await this.client(signal, hooks);
    const names = new ToolNameMap(req, TOOL_NAME_MAX.ollama);
    const offered = this.noTools.has(model) ? [] : (req.tools ?? []);
    const send = (tools: ToolSpec[]) =>
      client.chat({
        model,
        messages: toMessages(req, names),
        stream: true,
        ...(think === false ? { think } : {}),
        ...(tools.length ? { tools: tools.map((t) => toTool(t, names)) } : {}),
        options: {
          ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
          ...(req.maxTokens !== undefined ? { num_predict: req.maxTokens } : {}),
        },
      });
    let stream: Awaited<ReturnType<typeof send>>;
    let notice: string | undefined;
    try {
      stream = await send(offered);
    } catch (err) {
      if (!offered.length || !lacks(err, 'tools')) throw err;
      this.noTools.add(model);
      notice = `The model ${model} does not support tools (so says ${this.who.name}); Rune asked again without them, so it cannot read or change your files in this chat. Pick a model with tool support (ollama show ${model} lists its capabilities).`;
      hooks.notice?.(notice);
      stream = await send([]);
    }
    if (notice) yield { type: 'notice', message: notice };
    let calls = 0;
    let ended = false;
    try {
      for await (const part of stream) {
        if (part.message?.thinking) yield { type: 'thinking', delta: part.message.thinking };
        if (part.message?.content) yield { type: 'text', delta: part.message.content };
        for (const tc of part.message?.tool_calls ?? []) {
          yield {
            type: 'tool_call',
            id: `call_${calls++}`,
            name: names.fromWire(tc.function.name),
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
    // An empty prompt only loads the model (no text), so the top of a file goes through
    // a chat prompt, as does a model without the insert capability.
    if (req.prefix === '' || this.noInsert.has(model)) {
      return this.completeByChat(req, model, signal, hooks);
    }
    try {
      return await this.generate(req, model, signal, hooks);
    } catch (err) {
      if (!lacks(err, 'insert')) throw err;
      this.noInsert.add(model);
      hooks.notice?.(
        `The model ${model} does not support fill-in-the-middle (insert), so completion asks it through a chat prompt; a code model with FIM (e.g. qwen2.5-coder) completes better.`,
      );
      return this.completeByChat(req, model, signal, hooks);
    }
  }

  private async generate(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    const body = {
      model,
      prompt: req.prefix,
      // An empty suffix selects the chat template; at the end of a file the text after
      // the cursor is the final newline.
      suffix: req.suffix === '' ? '\n' : req.suffix,
      stream: true as const,
      // Hidden reasoning would spend the completion's budget and time.
      think: false,
      options: {
        ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
        ...(req.maxTokens !== undefined ? { num_predict: req.maxTokens } : {}),
        ...(req.stop?.length ? { stop: req.stop } : {}),
      },
    };
    // Requests through a fetch of the caller's (an OAuth sign-in's bearer) keep the SDK.
    if (this.opts.fetch) return this.generateBySdk(body, model, signal, hooks);
    const key = await this.opts.apiKey?.();
    let text = '';
    const done = await postLines<CompleteResult>({
      url: `${this.url}/api/generate`,
      framing: 'ndjson',
      body: JSON.stringify(body),
      // The headers the `ollama` package sends, then the configured ones.
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json',
        'User-Agent': `rune.nvim/${VERSION}`,
        ...this.opts.headers,
        ...(key ? { Authorization: `Bearer ${key}` } : {}),
      },
      signal,
      sent: () => hooks.sent?.(),
      gotHeaders: () => hooks.headers(),
      line: (part) => {
        // A failure after the answer started: one `{"error": …}` line (routes.go streamResponse).
        if ('error' in part) throw new Error(String(part.error));
        text += typeof part.response === 'string' ? part.response : '';
        if (!part.done) return undefined;
        return {
          completions: [{ text }],
          usage: {
            inputTokens: typeof part.prompt_eval_count === 'number' ? part.prompt_eval_count : 0,
            outputTokens: typeof part.eval_count === 'number' ? part.eval_count : 0,
          },
          model: typeof part.model === 'string' && part.model ? part.model : model,
        };
      },
    });
    if (!done)
      throw malformed(this.who, new Error('the stream ended before its final "done" line'));
    return done;
  }

  private async generateBySdk(
    body: GenerateRequest & { stream: true },
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    const client = await this.client(signal, hooks);
    const stream = await client.generate(body);
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

  private async completeByChat(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    const ask = fimChatRequest(req, model);
    return fimFromChat(this.chatWith(ask, model, signal, hooks, false), req, this.who);
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    const client = await this.client(signal);
    const res = await client.list();
    return res.models.map((m) => ({ id: m.name, provider: this.opts.id }));
  }

  async describe(model: string, signal: AbortSignal): Promise<ModelReport> {
    const client = await this.client(signal);
    let caps: unknown;
    try {
      caps = (await client.show({ model })).capabilities;
    } catch (err) {
      if ((err as { status_code?: unknown }).status_code === 404) return { exists: false };
      throw err;
    }
    // Servers older than the `capabilities` field cannot say.
    if (!Array.isArray(caps)) return { exists: true };
    // api/types.go ShowResponse.Capabilities; model/capability.go names them.
    const map: Record<string, string> = {
      tools: 'tools',
      insert: 'fim',
      vision: 'vision',
      thinking: 'thinking',
    };
    const supports = caps.flatMap((c) => (typeof c === 'string' && map[c] ? [map[c]] : []));
    return { exists: true, supports };
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
      if (isDeterministic(msg)) {
        return new ModelFailedError(
          `${this.who.name} could not run the model: ${msg}. Trying again will fail the same way: pick a smaller model (or quantization), free memory, or lower num_ctx.`,
          { cause: e },
        );
      }
      // handleScheduleError (server/routes.go): 404 `model "x" not found, try pulling it first`.
      const missing = status === 404 ? /model "([^"]+)" not found/.exec(msg)?.[1] : undefined;
      if (missing) {
        return new ModelNotPulledError(
          `${this.who.name} has no model "${missing}": pull it with :RunePull ${missing} (or \`ollama pull ${missing}\`), or pick another with :RuneChatModel.`,
          missing,
          this.url,
          { cause: e, status: 404 },
        );
      }
      if (e instanceof Error && e.name === 'ResponseError' && typeof status === 'number') {
        return fromStatus(this.who, status, msg, undefined, e);
      }
      // ollama-js throws a plain Error for an `{"error": ...}` line inside the stream.
      return fromStatus(this.who, 500, msg, undefined, e);
    });
  }
}

/** A 400 "… does not support <capability>" (server/images.go CheckCapabilities). */
function lacks(err: unknown, capability: string): boolean {
  const status = (err as { status_code?: unknown }).status_code;
  const msg = err instanceof Error ? err.message : '';
  return status === 400 && new RegExp(`does not support\\b[\\s\\S]*\\b${capability}\\b`).test(msg);
}

/**
 * Failures that repeat for the same model and request: the server's out-of-memory and
 * load errors (ollama/ollama llm/status.go outOfMemorySubstrings, errorPrefixes).
 */
function isDeterministic(msg: string): boolean {
  return /out of (device )?memory|requires more system memory|cudaMalloc failed|hipMalloc failed|failed to allocate|allocation failed|not enough memory|insufficient memory|error loading model|unable to load (full )?model/i.test(
    msg,
  );
}

function stopReason(r: string | undefined): string {
  if (!r || r === 'stop') return 'end';
  if (r === 'length') return 'max_tokens';
  return r;
}

function toTool(t: ToolSpec, names: ToolNameMap): Tool {
  return {
    type: 'function',
    function: {
      name: names.toWire(t.name),
      description: t.description,
      parameters: t.inputSchema as Tool['function']['parameters'],
    },
  };
}

function toMessages(req: ChatRequest, wire: ToolNameMap): Message[] {
  const out: Message[] = [];
  if (req.system) out.push({ role: 'system', content: req.system });
  const names = new Map<string, string>();
  for (const m of req.messages) out.push(...toOllama(m, names, wire));
  return out;
}

function toOllama(m: ChatMessage, names: Map<string, string>, wire: ToolNameMap): Message[] {
  if (typeof m.content === 'string') return [{ role: m.role, content: m.content }];
  const msg: Message = { role: m.role, content: '' };
  const extra: Message[] = [];
  const images: string[] = [];
  for (const p of m.content) {
    if (p.type === 'text') msg.content += p.text;
    else if (p.type === 'image') images.push(p.data);
    else if (p.type === 'tool_call') {
      names.set(p.id, wire.toWire(p.name));
      (msg.tool_calls ??= []).push({
        function: {
          name: wire.toWire(p.name),
          arguments: (p.input ?? {}) as Record<string, unknown>,
        },
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
 * A pull source over the body's reader rather than a `TransformStream`: one stream hop
 * fewer between the answer's last line and the caller.
 */
function validateNdjson(res: Response): Response {
  if (!res.ok || !res.body || !/ndjson/.test(res.headers.get('content-type') ?? '')) return res;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let rest = '';
  const check = (line: string) => {
    if (line.trim()) JSON.parse(line);
  };
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        const { done, value } = await reader.read();
        if (done) {
          check(rest + decoder.decode());
          ctl.close();
          return;
        }
        const lines = (rest + decoder.decode(value, { stream: true })).split('\n');
        rest = lines.pop() ?? '';
        try {
          lines.forEach(check);
        } catch (err) {
          // The rest of a broken answer is not wanted: the connection closes.
          void reader.cancel(err).catch(() => undefined);
          throw err;
        }
        ctl.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    // Reading ahead lets the body reach its end although ollama-js stops reading at the
    // "done" line, so the connection goes back to the keep-alive pool.
    { highWaterMark: 1024 },
  );
  return new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
