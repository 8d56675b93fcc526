/**
 * llama.cpp's `llama-server`: chat, models and embeddings through its OpenAI-compatible
 * API (/v1, the OpenAI adapter), and fill-in-the-middle through its own `POST /infill`,
 * which builds the model's FIM prompt itself (its FIM tokens, the repo-level pattern for
 * code from other files in `input_extra`) — /v1/completions ignores `suffix`. The context
 * length comes from the server (`meta.n_ctx` in /v1/models, else `n_ctx` in /props).
 *
 * The same class serves a provider of kind `openai` whose url is not OpenAI's and whose
 * `fim` is unset (or `infill`): it asks the server once what it is (`owned_by: "llamacpp"` in /v1/models, else /props) and
 * uses /infill only when it is llama.cpp; every other call goes to the OpenAI adapter.
 *
 * Wire format (llama.cpp tools/server/README.md, server-context.cpp): /infill takes
 * `input_prefix`, `input_suffix`, `input_extra` ([{filename, text}]), `n_predict`,
 * `cache_prompt`, `t_max_predict_ms` (stop after this long once a newline came),
 * `n_indent` (stop at a line indented less than this); it answers `content`,
 * `tokens_evaluated` (prompt tokens) and `tokens_predicted`. A request whose connection
 * closes is cancelled and its slot freed.
 */
import { AbortError, type RuneError } from '../core/errors.js';
import { parseRetryAfter } from '../core/retry.js';
import { postLines } from './http-lines.js';
import type { Adapter, AdapterHooks, CompleteResult } from './adapter.js';
import { fromStatus, malformed, type Who, whoFor } from './errors.js';
import type { LlamaServe } from './llama-serve.js';
import { OpenAIAdapter } from './openai.js';
import type { ChatEvent, ChatRequest, FimRequest, ModelInfo } from './types.js';

export interface LlamaCppInfill {
  /** Stop generating this long after the first newline (llama.cpp `t_max_predict_ms`). */
  tMaxPredictMs: number;
  /** Let the server reuse the cached prompt of the previous request (`cache_prompt`). */
  cachePrompt: boolean;
}

export const INFILL_DEFAULTS: LlamaCppInfill = { tMaxPredictMs: 500, cachePrompt: true };

export interface LlamaCppAdapterOptions {
  id: string;
  /** The server's root (`http://127.0.0.1:8080`) or its OpenAI base (`…/v1`). */
  url: string;
  apiKey: () => Promise<string | undefined>;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /**
   * `llamacpp`: the server is llama.cpp. `openai`: an OpenAI-compatible url that may be a
   * llama.cpp server; /infill is used only once the server says it is one.
   */
  kind: 'llamacpp' | 'openai';
  /** `infill`: the server is known to have /infill; `auto`: ask it whether it is llama.cpp. */
  fim: 'infill' | 'auto';
  infill?: Partial<LlamaCppInfill>;
  /** A server Rune runs itself (`serve`): its url replaces `url` once it is up. */
  serve?: LlamaServe;
}

interface ModelsBody {
  data?: { id?: string; owned_by?: string; meta?: { n_ctx?: number } }[];
}

export class LlamaCppAdapter implements Adapter {
  readonly kind: string;
  readonly url: string;
  private root: string;
  private readonly who: Who;
  private openai: OpenAIAdapter;
  private readonly infill: LlamaCppInfill;
  private isLlama: Promise<boolean> | undefined;

  constructor(private readonly opts: LlamaCppAdapterOptions) {
    this.kind = opts.kind;
    this.root = opts.url.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.who = whoFor(opts.kind, opts.id, opts.kind === 'openai' ? opts.url : this.root);
    this.url = this.who.url;
    this.infill = { ...INFILL_DEFAULTS, ...opts.infill };
    this.openai = this.openaiAt(opts.kind === 'openai' ? opts.url : `${this.root}/v1`);
    if (opts.fim === 'infill') this.isLlama = Promise.resolve(true);
  }

  private openaiAt(url: string): OpenAIAdapter {
    const o = this.opts;
    return new OpenAIAdapter({
      id: o.id,
      url,
      apiKey: o.apiKey,
      fim: 'native',
      kind: o.kind,
      ...(o.headers ? { headers: o.headers } : {}),
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
  }

  /** Waits for a server Rune runs (starting it when needed); a no-op for a given url. */
  private async up(signal: AbortSignal): Promise<void> {
    if (!this.opts.serve) return;
    const root = await this.opts.serve.url(signal);
    if (root !== this.root) {
      this.root = root;
      this.openai = this.openaiAt(`${root}/v1`);
    }
  }

  async *chat(
    req: ChatRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncGenerator<ChatEvent> {
    await this.up(signal);
    yield* this.openai.chat(req, model, signal, hooks);
  }

  async complete(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    await this.up(signal);
    if (!(await this.llama(signal))) return this.openai.complete(req, model, signal, hooks);
    const prefix = req.extra?.length ? req.prefix.slice(req.extraInPrefix ?? 0) : req.prefix;
    const lastLine = prefix.slice(prefix.lastIndexOf('\n') + 1);
    const body = {
      input_prefix: prefix,
      input_suffix: req.suffix,
      ...(req.extra?.length
        ? { input_extra: req.extra.map((e) => ({ filename: e.filename, text: e.text })) }
        : {}),
      ...(model ? { model } : {}),
      ...(req.maxTokens !== undefined ? { n_predict: req.maxTokens } : {}),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(req.stop?.length ? { stop: req.stop } : {}),
      // Indentation of the cursor line: the answer stops at a line indented less.
      n_indent: /^[ \t]*/.exec(lastLine)![0].length,
      t_max_predict_ms: this.infill.tMaxPredictMs,
      cache_prompt: this.infill.cachePrompt,
      // Streamed: the server notices a closed connection (a cancelled completion) when it
      // writes the next token and frees the slot; a non-streamed request runs to its end.
      stream: true,
    };
    let text = '';
    const pick = (chunk: InfillChunk): CompleteResult | undefined => {
      if (chunk.error) {
        const e = chunk.error;
        throw fromStatus(this.who, typeof e.code === 'number' ? e.code : 500, String(e.message));
      }
      if (typeof chunk.content === 'string') text += chunk.content;
      if (chunk.stop !== true) return undefined;
      return {
        completions: [{ text: cutAtIndent(text, body.n_indent) }],
        usage: {
          inputTokens: num(chunk.tokens_evaluated),
          outputTokens: num(chunk.tokens_predicted),
        },
        model: typeof chunk.model === 'string' ? chunk.model : model,
      };
    };
    if (!this.opts.fetch) {
      // The answer's last event is what ghost text waits on: read over node:http.
      const got = await postLines<CompleteResult>({
        url: this.root + '/infill',
        framing: 'sse',
        body: JSON.stringify(body),
        headers: { ...(await this.headers()), 'content-type': 'application/json' },
        signal,
        gotHeaders: () => hooks.headers(),
        status: (res, detail) =>
          this.statusFailure(res.statusCode ?? 0, res.statusMessage ?? '', detail, (n) => {
            const v = res.headers[n.toLowerCase()];
            return Array.isArray(v) ? v[0] : v;
          }),
        line: (v) => pick(v as InfillChunk),
      });
      if (got) return got;
    } else {
      // Requests through a fetch of the caller's (an OAuth sign-in's bearer).
      const res = await this.post('/infill', body, signal);
      hooks.headers();
      for await (const ev of sseEvents(res)) {
        const got = pick(parse(ev, this.who) as InfillChunk);
        if (got) return got;
      }
    }
    if (signal.aborted) throw new AbortError();
    throw malformed(this.who, new Error('the /infill stream ended before its last event'));
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    await this.up(signal);
    const models = await this.openai.models(signal);
    if (!(await this.llama(signal))) return models;
    // /props: what the chat template can do, and the context length (older servers list
    // no meta in /v1/models).
    const res = await this.get('/props', signal).catch((err: unknown) => {
      if (signal.aborted) throw err;
      return undefined;
    });
    const props = (res?.ok ? await res.json().catch(() => ({})) : {}) as {
      default_generation_settings?: { n_ctx?: unknown };
      n_ctx?: unknown;
      chat_template_caps?: { supports_tools?: unknown };
    };
    const nCtx = props.default_generation_settings?.n_ctx ?? props.n_ctx;
    const tools = props.chat_template_caps?.supports_tools;
    return models.map((m) => ({
      ...m,
      ...(m.contextLength === undefined && typeof nCtx === 'number' ? { contextLength: nCtx } : {}),
      ...(typeof tools === 'boolean' ? { tools } : {}),
    }));
  }

  async embed(input: string[], model: string, signal: AbortSignal): Promise<number[][]> {
    await this.up(signal);
    return this.openai.embed(input, model, signal);
  }

  async probe(signal: AbortSignal): Promise<string> {
    const models = await this.models(signal);
    const llama = await this.llama(signal);
    const ctx = models[0]?.contextLength;
    return `reachable at ${this.url} (${models.length} model${models.length === 1 ? '' : 's'}${
      ctx ? `, context ${ctx} tokens` : ''
    })${llama ? '; llama.cpp server: fill-in-the-middle through /infill' : ''}${
      this.opts.serve?.pid ? `; started by Rune (pid ${this.opts.serve.pid})` : ''
    }`;
  }

  mapError(err: unknown): RuneError {
    return this.openai.mapError(err);
  }

  /** The server Rune runs for this provider, if it runs one. */
  get server(): LlamaServe | undefined {
    return this.opts.serve;
  }

  dispose(): void {
    this.opts.serve?.dispose();
  }

  /** Whether the server is llama.cpp; asked once (a failed question is asked again). */
  private llama(signal: AbortSignal): Promise<boolean> {
    this.isLlama ??= this.detect(signal).catch((err: unknown) => {
      this.isLlama = undefined;
      if (signal.aborted) throw err;
      return false;
    });
    return this.isLlama;
  }

  private async detect(signal: AbortSignal): Promise<boolean> {
    const list = await this.get(`${this.opts.url.replace(/\/+$/, '')}/models`, signal, true);
    if (list.ok) {
      const body = (await list.json().catch(() => ({}))) as ModelsBody;
      if (body.data?.some((m) => m.owned_by === 'llamacpp')) return true;
    }
    const props = await this.get('/props', signal).catch(() => undefined);
    if (!props?.ok) return false;
    const p = (await props.json().catch(() => ({}))) as Record<string, unknown>;
    return 'default_generation_settings' in p && 'total_slots' in p;
  }

  private async headers(): Promise<Record<string, string>> {
    const key = await this.opts.apiKey();
    return {
      ...this.opts.headers,
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    };
  }

  private async get(p: string, signal: AbortSignal, absolute = false): Promise<Response> {
    const f = this.opts.fetch ?? fetch;
    return f(absolute ? p : this.root + p, { headers: await this.headers(), signal });
  }

  /** A status other than 200: the body's `error.message` (else its text), and Retry-After. */
  private statusFailure(
    status: number,
    statusText: string,
    text: string,
    header: (name: string) => string | null | undefined,
  ): RuneError {
    let detail = text.slice(0, 500) || statusText;
    try {
      const e = (JSON.parse(text) as { error?: { message?: unknown } }).error;
      if (typeof e?.message === 'string') detail = e.message;
    } catch {
      // not JSON: the text itself is the detail
    }
    return fromStatus(this.who, status, detail, parseRetryAfter(header));
  }

  private async post(p: string, body: unknown, signal: AbortSignal): Promise<Response> {
    const f = this.opts.fetch ?? fetch;
    const res = await f(this.root + p, {
      method: 'POST',
      headers: { ...(await this.headers()), 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw this.statusFailure(res.status, res.statusText, text, (n) => res.headers.get(n));
    }
    return res;
  }
}

interface InfillChunk {
  content?: unknown;
  stop?: unknown;
  model?: unknown;
  tokens_evaluated?: unknown;
  tokens_predicted?: unknown;
  error?: { code?: unknown; message?: unknown };
}

/**
 * The answer as llama-server keeps it when `n_indent` stops it (server-context.cpp,
 * process_token): at the first line after a newline that is indented less than
 * `nIndent` and has more than its indentation, the text ends after that indentation.
 * The server cuts only its own copy; a streamed answer has already sent the token that
 * crossed the limit.
 */
export function cutAtIndent(text: string, nIndent: number): string {
  if (nIndent <= 0) return text;
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', nl + 1)) {
    let pos = nl + 1;
    while (text[pos] === ' ' || text[pos] === '\t') pos++;
    if (pos < text.length && pos - nl - 1 < nIndent) return text.slice(0, pos);
  }
  return text;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

function parse(data: string, who: Who): unknown {
  try {
    return JSON.parse(data);
  } catch (err) {
    throw malformed(who, err);
  }
}

/**
 * The `data:` payloads of a server-sent-events body. Decoded in the loop rather than
 * through a `TextDecoderStream`: one stream hop fewer between the last byte and the answer.
 */
async function* sseEvents(res: Response): AsyncGenerator<string> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line.startsWith('data:')) yield line.slice(5).trimStart();
      }
    }
  } finally {
    void reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
