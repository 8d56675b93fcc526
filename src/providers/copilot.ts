/**
 * GitHub Copilot as a provider (kind `copilot`).
 *
 * - Completions go through the official Copilot language server
 *   (`textDocument/inlineCompletion`): the FIM request's prefix and suffix
 *   become a document the server sees, and the answers carry an `id` so the
 *   ghost-text engine can report them shown and accepted (`didShow`,
 *   `didAccept`), as Copilot asks of every editor.
 * - Chat goes through the token exchange the Copilot editor plugins use
 *   (GitHub token → short-lived Copilot token → OpenAI-style chat completions
 *   at the endpoint the exchange names). That exchange is not a documented
 *   public API and may change.
 *
 * Unlike the other providers this file imports auth/ (GitHub sign-in, the
 * language server); the registry stays free of that edge and gets this kind
 * through `RegistryDeps.kinds` (see `copilotAdapterFactory`).
 */
import { pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AuthError, type RuneError } from '../core/errors.js';
import { nullLogger, type Logger } from '../core/log.js';
import type { SecretStore as KeyLookup } from '../core/secrets.js';
import type { CopilotConfig } from '../auth/config.js';
import type { CopilotLanguageServer, InlineDocument, InlineItem } from '../auth/copilot-ls.js';
import { sharedCopilotServer } from '../auth/copilot-service.js';
import { CopilotTokenSource, copilotHeaders, findGitHubToken } from '../auth/github.js';
import type { Adapter, AdapterHooks, CompleteResult } from './adapter.js';
import { OpenAIAdapter, openaiSdk } from './openai.js';
import type { AdapterFactory } from './registry.js';
import type { ChatEvent, ChatRequest, Completion, FimRequest, ModelInfo } from './types.js';

export interface CopilotAdapterOptions {
  id: string;
  /** GitHub REST API origin for the token exchange (default `copilot.apiUrl`). */
  url?: string;
  /** Where `:RuneAuth copilot` keeps the GitHub token. */
  secrets?: KeyLookup;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  fetch?: typeof fetch;
  /** The `auth.copilot` options (language server, endpoints, request spacing). */
  copilot?: Partial<CopilotConfig>;
  /** The language server to use (default: the shared one for `copilot`). */
  languageServer?: () => Promise<CopilotLanguageServer>;
  /** The editor, as reported to Copilot. */
  editorInfo?: { name: string; version: string };
}

/** Turns a FIM request into the document and cursor the language server sees. */
export function fimToDocument(req: FimRequest): InlineDocument {
  const text = req.prefix + req.suffix;
  const lines = req.prefix.split('\n');
  const uri = req.filename
    ? pathToFileURL(path.resolve(req.filename)).href
    : `untitled:rune-${req.language ?? 'buffer'}`;
  return {
    uri,
    languageId: req.language || 'plaintext',
    text,
    line: lines.length - 1,
    character: lines[lines.length - 1]!.length,
  };
}

function offsetAt(text: string, pos: { line: number; character: number }): number {
  let off = 0;
  for (let l = 0; l < pos.line; l++) {
    const nl = text.indexOf('\n', off);
    if (nl < 0) return text.length;
    off = nl + 1;
  }
  return Math.min(off + pos.character, text.length);
}

/**
 * The text to insert at the cursor for an item whose range may start before
 * the cursor (the typed part is repeated in `insertText`) or end after it
 * (the rest of the line is repeated). `typed` is how many leading characters
 * of `insertText` were already in the buffer.
 */
export function itemToInsertion(
  item: InlineItem,
  doc: InlineDocument,
): { text: string; typed: number } {
  const cursor = offsetAt(doc.text, doc);
  const start = Math.min(offsetAt(doc.text, item.range.start), cursor);
  const end = Math.max(offsetAt(doc.text, item.range.end), cursor);
  let text = item.insertText;
  const before = doc.text.slice(start, cursor);
  let typed = 0;
  if (text.startsWith(before)) {
    text = text.slice(before.length);
    typed = before.length;
  }
  const after = doc.text.slice(cursor, end);
  if (after && text.endsWith(after)) text = text.slice(0, text.length - after.length);
  return { text, typed };
}

/** The Copilot adapter; the managed layer wraps it like any other. */
export class CopilotAdapter implements Adapter {
  readonly kind = 'copilot';
  readonly url: string;
  private readonly tokens: CopilotTokenSource;
  private inner: { token: string; adapter: OpenAIAdapter } | undefined;
  private readonly shown = new Map<string, { item: InlineItem; typed: number }>();
  private readonly logger: Logger;
  private readonly server: () => Promise<CopilotLanguageServer>;
  private current: CopilotLanguageServer | undefined;

  constructor(private readonly opts: CopilotAdapterOptions) {
    const cfg = opts.copilot ?? {};
    this.url = (opts.url ?? cfg.apiUrl ?? 'https://api.github.com').replace(/\/+$/, '');
    this.logger = opts.logger ?? nullLogger;
    this.tokens = new CopilotTokenSource({
      apiUrl: this.url,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      headers: copilotHeaders(editorVersion(opts.editorInfo)),
      githubToken: async () => {
        const found = await findGitHubToken({ env: opts.env, store: opts.secrets });
        if (found) this.logger.addSecret(found.token);
        return found;
      },
    });
    this.server =
      opts.languageServer ??
      (() =>
        sharedCopilotServer({
          ...(cfg.server ? { server: cfg.server } : {}),
          settings: cfg.settings ?? {},
          minIntervalMs: cfg.minIntervalMs ?? 500,
          requestTimeoutMs: cfg.timeoutMs ?? 30_000,
          ...(opts.editorInfo ? { editorInfo: opts.editorInfo } : {}),
          ...(opts.env ? { env: opts.env } : {}),
          logger: this.logger,
        }).get());
  }

  /** The OpenAI-compatible adapter for the current Copilot token and endpoint. */
  private async chatAdapter(signal: AbortSignal): Promise<OpenAIAdapter> {
    const t = await this.tokens.get(signal);
    this.logger.addSecret(t.token);
    if (this.inner?.token !== t.token) {
      this.inner = {
        token: t.token,
        adapter: new OpenAIAdapter({
          id: this.opts.id,
          url: t.api,
          apiKey: async () => t.token,
          headers: copilotHeaders(editorVersion(this.opts.editorInfo)),
          fim: 'chat',
          ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
        }),
      };
    }
    return this.inner.adapter;
  }

  async *chat(
    req: ChatRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncGenerator<ChatEvent> {
    const adapter = await this.chatAdapter(signal);
    yield* adapter.chat(req, model, signal, hooks);
  }

  async complete(
    req: FimRequest,
    _model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    const ls = await this.server();
    this.current = ls;
    // The server is up: what follows is the request itself, not connecting.
    hooks.headers();
    const doc = fimToDocument(req);
    const items = await ls.inlineCompletion(doc, { signal });
    const completions: Completion[] = [];
    for (const item of items.slice(0, Math.max(1, req.n ?? 1))) {
      const { text, typed } = itemToInsertion(item, doc);
      const arg = item.command?.arguments?.[0];
      const id = typeof arg === 'string' ? arg : randomUUID();
      this.remember(id, item, typed);
      completions.push({ text, id });
    }
    return { completions, usage: { inputTokens: 0, outputTokens: 0 }, model: 'copilot' };
  }

  private remember(id: string, item: InlineItem, typed: number): void {
    this.shown.delete(id);
    this.shown.set(id, { item, typed });
    while (this.shown.size > 64) this.shown.delete(this.shown.keys().next().value as string);
  }

  /** Reports a completion shown; unknown ids (another provider's) are ignored. */
  didShow(c: Completion): void {
    const s = c.id ? this.shown.get(c.id) : undefined;
    if (!s || !this.current) return;
    this.current.didShow(s.item).catch((err: unknown) => this.logger.debug('didShow', { err }));
  }

  /** Reports a completion accepted, whole or its first `acceptedChars` characters. */
  didAccept(c: Completion, acceptedChars?: number): void {
    const s = c.id ? this.shown.get(c.id) : undefined;
    if (!s || !this.current) return;
    const partial =
      acceptedChars !== undefined && acceptedChars < c.text.length
        ? s.typed + acceptedChars
        : undefined;
    if (partial === undefined) this.shown.delete(c.id!);
    this.current
      .didAccept(s.item, partial)
      .catch((err: unknown) => this.logger.debug('didAccept', { err }));
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    const t = await this.tokens.get(signal);
    const OpenAI = await openaiSdk.get();
    const client = new OpenAI({
      apiKey: t.token,
      baseURL: t.api,
      maxRetries: 0,
      defaultHeaders: copilotHeaders(editorVersion(this.opts.editorInfo)),
      ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
    });
    const out: ModelInfo[] = [];
    for await (const m of client.models.list({ signal })) {
      const extra = m as unknown as {
        capabilities?: { type?: string; limits?: { max_context_window_tokens?: number } };
        model_picker_enabled?: boolean;
      };
      if (extra.capabilities?.type && extra.capabilities.type !== 'chat') continue;
      if (extra.model_picker_enabled === false) continue;
      const ctx = extra.capabilities?.limits?.max_context_window_tokens;
      out.push({ id: m.id, provider: this.opts.id, ...(ctx ? { contextLength: ctx } : {}) });
    }
    return out;
  }

  async probe(signal: AbortSignal): Promise<string> {
    const t = await this.tokens.get(signal);
    return `signed in; Copilot API at ${t.api}`;
  }

  mapError(err: unknown): RuneError {
    const inner = this.inner?.adapter;
    const mapped = inner
      ? inner.mapError(err)
      : new OpenAIAdapter({
          id: this.opts.id,
          url: this.url,
          apiKey: async () => undefined,
          fim: 'chat',
        }).mapError(err);
    if (mapped instanceof AuthError && !mapped.provider) {
      // The Copilot token may have been revoked early; the next call exchanges a fresh one.
      this.tokens.invalidate();
      this.inner = undefined;
      return new AuthError(
        `Copilot refused the request: ${mapped.message.split('. ')[0]}. Run :RuneAuth copilot login if it keeps happening.`,
        { cause: err, provider: 'copilot' },
      );
    }
    return mapped;
  }
}

function editorVersion(info?: { name: string; version: string }): string {
  return info ? `${info.name}/${info.version}` : 'Neovim/unknown';
}

/**
 * The registry's factory for kind `copilot` (pass it as `kinds: { copilot: … }`);
 * `copilot` reads the `auth.copilot` options when a provider is built.
 */
export function copilotAdapterFactory(copilot?: () => Partial<CopilotConfig>): AdapterFactory {
  return (p, ctx) =>
    new CopilotAdapter({
      id: p.id,
      url: p.url,
      logger: ctx.logger,
      ...(ctx.secrets ? { secrets: ctx.secrets } : {}),
      ...(ctx.env ? { env: ctx.env } : {}),
      ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
      ...(copilot ? { copilot: copilot() } : {}),
    });
}

/** The registry's constructor for kind `copilot`. */
export function createCopilotAdapter(opts: CopilotAdapterOptions): CopilotAdapter {
  return new CopilotAdapter(opts);
}
