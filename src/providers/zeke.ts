/**
 * zeke: `zeke serve` over HTTP when it runs, else the `zeke` CLI (zeke-cli.ts).
 *
 * `zeke serve` (default http://127.0.0.1:7878; src/rpc/zhttp_server.zig in GhostKellz/zeke)
 * answers POST /api/chat `{message, model?, temperature?, max_tokens?, intent?, language?,
 * complexity?, project?}` → `{response, model, provider, tokens_in, tokens_out,
 * latency_ms}`, POST /api/complete `{prompt, model?, max_tokens?, language?}` →
 * `{completion, model, provider}`, GET /health; failures are `{"error":…, "code":…}`.
 * Its rules shape this file:
 * - Any field it does not declare is a 400, so Rune sends only declared fields.
 * - Without a `complexity` hint, a prompt over 2000 bytes is routed to a cloud path zeke no
 *   longer has (500, code NoCloudProvider; src/routing/router.zig). Rune sends
 *   `complexity: "medium"`, which zeke routes to its local Ollama; NoCloudProvider is never
 *   retried (the same request is routed the same way) and its code is shown.
 * - zeke uses Ollama with `deepseek-coder:33b` unless `model` is given, and never passes
 *   `max_tokens` on; Rune always sends the configured model and no `max_tokens`.
 * - It serves one connection at a time and keeps it open while the client does (zhttp
 *   src/server.zig), so an idle kept-alive connection would block every other client:
 *   every request goes on its own connection with `Connection: close`.
 * - One prompt per call: the conversation is flattened and trimmed (zeke-prompt.ts).
 * When the server refuses the connection and `zeke` is on PATH, the call goes through the
 * CLI instead, the way zeke.nvim talks to zeke.
 */
import http from 'node:http';
import https from 'node:https';
import { AbortError, BadRequestError, RuneError } from '../core/errors.js';
import type { Adapter, AdapterHooks, CompleteResult } from './adapter.js';
import { fromStatus, malformed, mapCommon, netCode, type Who, whoFor } from './errors.js';
import { FIM_SYSTEM, cleanFimAnswer, fimPrompt } from './fim-prompt.js';
import type { ChatEvent, ChatRequest, FimRequest, ModelInfo } from './types.js';
import { ZekeCliAdapter } from './zeke-cli.js';
import { zekeNotice, zekePrompt } from './zeke-prompt.js';

export interface ZekeAdapterOptions {
  id: string;
  url: string;
  /** The Ollama model zeke should use (zeke's own default is deepseek-coder:33b). */
  model: string;
  apiKey?: () => Promise<string | undefined>;
  headers?: Record<string, string>;
  /** For the CLI fallback: the environment whose PATH has `zeke` (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** What zeke's router needs to keep a chat on its local path (see the header). */
const COMPLEXITY = 'medium';

interface Reply {
  status: number;
  text: string;
}

export class ZekeAdapter implements Adapter {
  readonly kind = 'zeke';
  readonly url: string;
  private readonly who: Who;
  private readonly cli: ZekeCliAdapter;

  constructor(private readonly opts: ZekeAdapterOptions) {
    this.who = whoFor('zeke', opts.id, opts.url);
    this.url = this.who.url;
    this.cli = new ZekeCliAdapter({ who: this.who, ...(opts.env ? { env: opts.env } : {}) });
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal,
    hooks?: AdapterHooks,
  ): Promise<Reply> {
    const key = await this.opts.apiKey?.();
    const data = body === undefined ? undefined : JSON.stringify(body);
    const u = new URL(`${this.url}${path}`);
    return new Promise<Reply>((resolve, reject) => {
      const req = (u.protocol === 'https:' ? https : http).request(
        u,
        {
          method,
          signal,
          // A fresh connection each time, closed after the answer: zeke serves one at a time.
          agent: false,
          headers: {
            accept: 'application/json',
            connection: 'close',
            ...(data !== undefined
              ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }
              : {}),
            ...this.opts.headers,
            ...(key ? { authorization: `Bearer ${key}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      // zeke serve sends its headers only with the whole answer: the connect phase ends when
      // the connection is open, and the answer's wait counts as waiting for the first token.
      req.once('socket', (sock) => {
        if (sock.connecting) sock.once('connect', () => hooks?.headers());
        else hooks?.headers();
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  private async call(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal,
    hooks?: AdapterHooks,
  ): Promise<Record<string, unknown>> {
    const res = await this.send(method, path, body, signal, hooks);
    let json: unknown;
    try {
      json = res.text ? JSON.parse(res.text) : {};
    } catch (err) {
      if (res.status >= 400) throw fromStatus(this.who, res.status, res.text.slice(0, 200));
      throw malformed(this.who, err);
    }
    const obj = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
    if (res.status >= 400) throw this.failure(res.status, obj, body);
    return obj;
  }

  private failure(status: number, obj: Record<string, unknown>, body: unknown): RuneError {
    const error = typeof obj.error === 'string' ? obj.error : `HTTP ${status}`;
    const code = typeof obj.code === 'string' ? obj.code : undefined;
    const model = (body as { model?: unknown } | undefined)?.model;
    const said =
      `${this.who.name} answered HTTP ${status} ${code ?? ''}`.trimEnd() + ` ("${error}")`;
    if (code === 'NoCloudProvider') {
      return new BadRequestError(
        `${said}: zeke routed the request to its cloud path, which zeke no longer has. Not retried: zeke would route the same request the same way. Update zeke, or shorten the request.`,
        { status },
      );
    }
    if (code === 'OllamaGenerateError') {
      return new BadRequestError(
        `${said}: zeke's Ollama could not answer with the model "${String(model)}". Check that Ollama runs and has it (\`ollama pull ${String(model)}\`), or set providers.${this.opts.id}.model to a model you have pulled.`,
        { status },
      );
    }
    if (status === 400) {
      return new BadRequestError(
        `${said}: zeke refused the request's JSON (it rejects any field it does not know).`,
        { status },
      );
    }
    if (code !== undefined) {
      // zeke names the Zig error its router or its Ollama client hit: a fact about zeke's
      // setup that a retry a moment later does not change.
      const hint =
        code === 'ConnectionRefused'
          ? ' zeke serve could not reach Ollama: start it (`ollama serve`), then submit again.'
          : " Check zeke serve's own log.";
      return new RuneError('zeke', `${said}.${hint}`);
    }
    return fromStatus(this.who, status, error);
  }

  /**
   * Whether `err` means nothing listens at the url: then the CLI stands in (and says clearly
   * when there is no `zeke` on PATH either).
   */
  private useCli(err: unknown): boolean {
    return netCode(err) === 'ECONNREFUSED';
  }

  async *chat(
    req: ChatRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncGenerator<ChatEvent> {
    const { prompt, dropped } = zekePrompt(req);
    let r: Record<string, unknown>;
    try {
      r = await this.call(
        'POST',
        '/api/chat',
        {
          message: prompt,
          model: model || this.opts.model,
          complexity: COMPLEXITY,
          ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
        },
        signal,
        hooks,
      );
    } catch (err) {
      if (!this.useCli(err)) throw err;
      yield* this.cli.chat(req, model, signal, hooks);
      return;
    }
    if (typeof r.response !== 'string') {
      throw malformed(this.who, new Error('the answer has no "response" string'));
    }
    if (dropped > 0) yield { type: 'text', delta: zekeNotice(dropped) };
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
    let r: Record<string, unknown>;
    try {
      r = await this.call(
        'POST',
        '/api/complete',
        {
          prompt: `${FIM_SYSTEM}\n\n${fimPrompt(req)}`,
          model: model || this.opts.model,
          ...(req.language ? { language: req.language } : {}),
        },
        signal,
        hooks,
      );
    } catch (err) {
      if (!this.useCli(err)) throw err;
      return this.cli.complete(req, model, signal, hooks);
    }
    if (typeof r.completion !== 'string') {
      throw malformed(this.who, new Error('the answer has no "completion" string'));
    }
    return {
      completions: [{ text: cleanFimAnswer(r.completion, req.stop) }],
      usage: { inputTokens: 0, outputTokens: 0 },
      model: typeof r.model === 'string' ? r.model : model,
    };
  }

  /** zeke lists no models (its /api/status has none): the one Rune asks it to use. */
  models(): Promise<ModelInfo[]> {
    return Promise.resolve([{ id: this.opts.model, provider: this.opts.id }]);
  }

  async probe(signal: AbortSignal): Promise<string> {
    const model = `the Ollama model "${this.opts.model}" (set providers.${this.opts.id}.model; it must be pulled: \`ollama pull ${this.opts.model}\`)`;
    let r: Record<string, unknown>;
    try {
      r = await this.call('GET', '/health', undefined, signal);
    } catch (err) {
      if (!this.useCli(err)) throw err;
      return this.cli.probe();
    }
    if (signal.aborted) throw new AbortError();
    return `zeke serve reachable at ${this.url} (status ${String(r.status ?? 'unknown')}${r.version ? `, version ${String(r.version)}` : ''}); chat and completion use ${model}`;
  }

  mapError(err: unknown): RuneError {
    return mapCommon(this.who, err, (e) => malformed(this.who, e));
  }
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
