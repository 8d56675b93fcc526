/**
 * The provider registry: every configured provider, built once from the config, with a
 * default per feature, usage accounting shared by all, and API keys resolved lazily (on
 * the first call that needs one) from `env:`, `cmd:`, `file:` or `keyring:`. Providers
 * supplied at run time (by plugins) join through `register()` and leave when disposed.
 *
 * Depends on core/ only: kinds whose adapters need more (Copilot needs auth/) come in
 * through `RegistryDeps.kinds`.
 */
import type { Disposable } from '../core/disposable.js';
import {
  AuthError,
  ConfigError,
  NotFoundError,
  RuneError,
  StateError,
  toRuneError,
} from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { describeSecretRef, resolveSecret, type SecretStore } from '../core/secrets.js';
import type { Adapter, AdapterHooks, CompleteResult } from './adapter.js';
import { AnthropicAdapter } from './anthropic.js';
import { pluginProviderConfig, type ProviderConfig, type ProvidersConfig } from './config.js';
import { LlamaServe, type ServeProgress } from './llama-serve.js';
import { LlamaCppAdapter } from './llamacpp.js';
import { ManagedProvider, type ProviderState } from './managed.js';
import { OllamaAdapter } from './ollama.js';
import { OpenAIAdapter } from './openai.js';
import type {
  ChatEvent,
  ChatRequest,
  Completion,
  Feature,
  FimRequest,
  ModelInfo,
  Provider,
  ProviderRegistry,
  UsageRecord,
} from './types.js';
import { UsageTracker } from './usage.js';
import { ZekeAdapter } from './zeke.js';

/** What an adapter factory gets besides the provider's config. */
export interface AdapterContext {
  /** The provider's API key, resolved on first use (undefined when it needs none). */
  apiKey: () => Promise<string | undefined>;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  secrets?: SecretStore;
  fetch?: typeof fetch;
  notify?: RegistryDeps['notify'];
  progress?: RegistryDeps['progress'];
}

/** Builds the adapter of one configured provider of a kind. */
export type AdapterFactory = (p: ProviderConfig, ctx: AdapterContext) => Adapter;

export interface RegistryDeps {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Where `keyring:` keys live (the secret store); without it `keyring:` is an error. */
  secrets?: SecretStore;
  /**
   * The secret-store account of a key saved with `:RuneAuth <id>` / `rune auth login <id>`,
   * looked up in `secrets` when an `env:` key's variable is unset. Without it, no fallback.
   */
  storedKeyAccount?: (provider: string) => string;
  /** The fetch every provider uses (default: Node's global fetch, which keeps connections alive). */
  fetch?: typeof fetch;
  /**
   * Access tokens of the OAuth sign-in `name` (`api_key = 'oauth:name'`), valid for a
   * while (renewed before they expire); `force` renews one the server refused.
   */
  oauth?: (name: string, opts: { force: boolean }) => Promise<string>;
  /**
   * Adapter factories for kinds beyond the built-in ones (ollama, anthropic, openai, zeke),
   * e.g. `{ copilot: copilotAdapterFactory(...) }`; a configured provider of a kind with no
   * factory is a ConfigError.
   */
  kinds?: Partial<Record<string, AdapterFactory>>;
  /** Tells the user something worth a message (a server Rune starts for them is loading). */
  notify?: (message: string, level?: 'info' | 'warn') => void;
  /**
   * Shows long work in place under `key` (`serve.<id>`: a server Rune starts loading its
   * model); `cancel` stops that work.
   */
  progress?: (key: string, p: ServeProgress, cancel: () => void) => void;
}

/** One line of `rune.providers.list`. */
export interface ProviderListing {
  id: string;
  kind: string;
  defaultFor: Feature[];
  model?: string;
  fimModel?: string;
  url: string;
  keyed: boolean;
  state: ProviderState;
  /** Set for providers a plugin supplied at run time. */
  plugin?: true;
}

export interface ManagedRegistry extends ProviderRegistry {
  /** The managed provider named `id` (for health checks and tests). */
  managed(id: string): ManagedProvider;
  list(): ProviderListing[];
  /** Resolves each provider's key: undefined when fine, else what to fix. */
  keyStatus(id: string): Promise<{ ok: boolean; message: string }>;
  /**
   * Adds a provider at run time (a plugin's). It gets the first-token and idle timeouts,
   * concurrency limits and usage accounting of a configured provider, with the options of
   * a `providers.<id> = { kind = 'plugin' }` entry when there is one. Disposing removes it:
   * calls in flight fail with a StateError, later calls with a NotFoundError naming it.
   * Throws when the id is taken by a configured provider or another registration.
   */
  register(provider: Provider): Disposable;
  /**
   * Provider ids the config names (defaults, `kind = 'plugin'` entries) that nothing
   * supplies now, with the features each is the default for.
   */
  missing(): { id: string; defaultFor: Feature[] }[];
}

/**
 * A fetch that sends the OAuth sign-in's current access token as the bearer on every
 * request, and on a 401 renews it and sends the request again, once.
 */
function bearerFetch(base: typeof fetch, token: (force: boolean) => Promise<string>): typeof fetch {
  const send = async (
    input: Parameters<typeof fetch>[0],
    init: RequestInit | undefined,
    force: boolean,
  ) => {
    const headers = new Headers(
      init?.headers ?? (input instanceof Request ? input.headers : undefined),
    );
    headers.set('authorization', `Bearer ${await token(force)}`);
    headers.delete('x-api-key');
    return base(input, { ...init, headers });
  };
  return async (input, init) => {
    const res = await send(input, init, false);
    if (res.status !== 401) return res;
    await res.body?.cancel().catch(() => undefined);
    return send(input, init, true);
  };
}

/** The sign-in name of an `oauth:name` key, else undefined. */
function oauthName(p: ProviderConfig): string | undefined {
  return p.apiKey?.startsWith('oauth:') ? p.apiKey.slice(6).trim() : undefined;
}

/** Resolves once, keeps the value, retries after a failure (the user may fix it meanwhile). */
function lazyKey(p: ProviderConfig, deps: RegistryDeps): () => Promise<string | undefined> {
  let value: Promise<string | undefined> | undefined;
  return () => {
    if (!p.apiKey) return Promise.resolve(undefined);
    value ??= resolveSecret(p.apiKey, `providers.${p.id}.api_key`, {
      env: deps.env,
      store: deps.secrets,
    })
      .catch(async (err: unknown) => {
        // After the environment variable: the key `rune auth login <id>` (or
        // :RuneAuth) stored in the secret store.
        const account = deps.storedKeyAccount;
        if (
          !(err instanceof AuthError) ||
          !p.apiKey?.startsWith('env:') ||
          !deps.secrets ||
          !account
        )
          throw err;
        const stored = await deps.secrets.get(account(p.id)).catch(() => undefined);
        if (stored) return stored;
        throw new AuthError(
          `${err.message} Or store the key with :RuneAuth ${p.id} (or \`rune auth login ${p.id}\`).`,
          { cause: err, provider: p.id },
        );
      })
      .then(
        (v) => {
          deps.logger.addSecret(v);
          return v;
        },
        (err: unknown) => {
          value = undefined;
          throw err;
        },
      );
    return value;
  };
}

const BUILTIN: Partial<Record<string, AdapterFactory>> = {
  ollama: (p, c) => new OllamaAdapter(common(p, c)),
  anthropic: (p, c) => new AnthropicAdapter({ ...common(p, c), maxTokens: p.maxTokens }),
  // A custom url may be a llama.cpp server: unless told, the adapter asks it once and then
  // uses /infill (which honours the suffix) instead of /v1/completions.
  openai: (p, c) =>
    p.fim === 'auto' || p.fim === 'infill'
      ? new LlamaCppAdapter({ ...common(p, c), kind: 'openai', fim: p.fim, ...infillOf(p) })
      : new OpenAIAdapter({ ...common(p, c), fim: p.fim }),
  llamacpp: (p, c) =>
    new LlamaCppAdapter({
      ...common(p, c),
      kind: 'llamacpp',
      fim: 'infill',
      ...infillOf(p),
      ...(p.serve
        ? {
            serve: new LlamaServe({
              id: p.id,
              ...p.serve,
              logger: c.logger,
              ...(c.env ? { env: c.env } : {}),
              ...(c.notify ? { notify: c.notify } : {}),
              ...(c.progress ? { progress: progressOf(c.progress, `serve.${p.id}`) } : {}),
            }),
          }
        : {}),
    }),
  zeke: (p, c) =>
    new ZekeAdapter({ ...common(p, c), model: p.settings.model, ...(c.env ? { env: c.env } : {}) }),
};

function progressOf(
  progress: NonNullable<RegistryDeps['progress']>,
  key: string,
): (p: ServeProgress, cancel: () => void) => void {
  return (p, cancel) => progress(key, p, cancel);
}

function infillOf(p: ProviderConfig) {
  return p.infill ? { infill: p.infill } : {};
}

function common(p: ProviderConfig, c: AdapterContext) {
  return {
    id: p.id,
    url: p.url,
    apiKey: c.apiKey,
    ...(p.headers ? { headers: p.headers } : {}),
    ...(c.fetch ? { fetch: c.fetch } : {}),
  };
}

function adapterFor(
  p: ProviderConfig,
  apiKey: () => Promise<string | undefined>,
  deps: RegistryDeps,
): Adapter {
  const make = deps.kinds?.[p.kind] ?? BUILTIN[p.kind];
  if (!make) {
    throw new ConfigError(
      `providers.${p.id}.kind`,
      `providers of kind '${p.kind}' are not available here; use another kind`,
    );
  }
  const signIn = oauthName(p);
  if (signIn !== undefined) {
    const oauth = deps.oauth;
    if (!oauth) {
      throw new ConfigError(
        `providers.${p.id}.api_key`,
        `'oauth:${signIn}' needs OAuth sign-ins, which are not available here`,
      );
    }
    return make(p, {
      apiKey: () => Promise.resolve(undefined),
      logger: deps.logger.child({ provider: p.id }),
      ...(deps.env ? { env: deps.env } : {}),
      ...(deps.secrets ? { secrets: deps.secrets } : {}),
      fetch: bearerFetch(deps.fetch ?? fetch, (force) => oauth(signIn, { force })),
    });
  }
  return make(p, {
    apiKey,
    logger: deps.logger.child({ provider: p.id }),
    ...(deps.env ? { env: deps.env } : {}),
    ...(deps.secrets ? { secrets: deps.secrets } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.notify ? { notify: deps.notify } : {}),
    ...(deps.progress ? { progress: deps.progress } : {}),
  });
}

/**
 * A provider supplied at run time, seen as an Adapter so the managed layer gives it the
 * same timeouts, limits and usage accounting as a configured one. Removing it fails the
 * calls in flight with a StateError naming it (the managed layer passes a RuneError
 * through unchanged) and every later call with a NotFoundError.
 */
class RegisteredAdapter implements Adapter {
  readonly kind: string;
  readonly url: string;
  private readonly inflight = new Set<AbortController>();
  private gone: RuneError | undefined;
  private removedWith: RuneError | undefined;

  constructor(
    private readonly provider: Provider,
    url: string,
  ) {
    this.kind = provider.kind || 'plugin';
    this.url = url;
    const embed = provider.embed?.bind(provider);
    if (embed) {
      this.embed = (input, model, signal) =>
        this.call(signal, (s) => embed(input, { signal: s, ...(model ? { model } : {}) }));
    }
    if (provider.didShow) this.didShow = (c) => provider.didShow!(c);
    if (provider.didAccept) this.didAccept = (c, n) => provider.didAccept!(c, n);
  }

  readonly embed?: (input: string[], model: string, signal: AbortSignal) => Promise<number[][]>;
  readonly didShow?: (c: Completion) => void;
  readonly didAccept?: (c: Completion, acceptedChars?: number) => void;

  async *chat(
    req: ChatRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncGenerator<ChatEvent> {
    const call = this.begin(signal);
    try {
      // No connection to wait for: the provider's code is already running.
      hooks.headers();
      yield* this.provider.chat(model ? { ...req, model } : req, { signal: call.ac.signal });
    } catch (err) {
      throw this.reason(call.ac) ?? err;
    } finally {
      call.end();
    }
  }

  async complete(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult> {
    hooks.headers();
    const completions = await this.call(signal, (s) =>
      this.provider.complete(model ? { ...req, model } : req, { signal: s }),
    );
    return {
      completions,
      usage: { inputTokens: 0, outputTokens: 0 },
      model: model || this.provider.id,
    };
  }

  models(signal: AbortSignal): Promise<ModelInfo[]> {
    return this.call(signal, (s) => this.provider.models({ signal: s }));
  }

  async probe(signal: AbortSignal): Promise<string> {
    const models = await this.models(signal);
    return models.length
      ? `answers; ${models.length} model(s)`
      : `answers (supplied by a ${this.kind})`;
  }

  mapError(err: unknown): RuneError {
    return toRuneError(err);
  }

  /** Ends the calls in flight with `why`; later calls fail with `after`. */
  remove(why: RuneError, after: RuneError): void {
    this.gone = after;
    this.removedWith = why;
    for (const ac of this.inflight) ac.abort(why);
    this.inflight.clear();
  }

  private begin(signal: AbortSignal): { ac: AbortController; end(): void } {
    if (this.gone) throw this.gone;
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    this.inflight.add(ac);
    return {
      ac,
      end: () => {
        signal.removeEventListener('abort', onAbort);
        this.inflight.delete(ac);
      },
    };
  }

  private async call<T>(signal: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const call = this.begin(signal);
    try {
      return await fn(call.ac.signal);
    } catch (err) {
      throw this.reason(call.ac) ?? err;
    } finally {
      call.end();
    }
  }

  /** The removal error when the call ended because the provider was removed. */
  private reason(ac: AbortController): RuneError | undefined {
    return ac.signal.aborted && this.removedWith && ac.signal.reason === this.removedWith
      ? this.removedWith
      : undefined;
  }
}

interface Entry {
  cfg: ProviderConfig;
  provider: ManagedProvider;
  key: () => Promise<string | undefined>;
  /** Set for a provider registered at run time. */
  registered?: RegisteredAdapter;
}

export function createProviderRegistry(cfg: ProvidersConfig, deps: RegistryDeps): ManagedRegistry {
  const usage = new UsageTracker();
  const byId = new Map<string, Entry>();
  /** Ids that were registered and then removed (for a clearer error). */
  const removed = new Set<string>();
  const noKey = () => Promise.resolve(undefined);
  for (const p of cfg.providers) {
    // Declared for a plugin to supply: built when the plugin registers it.
    if (p.kind === 'plugin') continue;
    const key = lazyKey(p, deps);
    const provider = new ManagedProvider(
      p.id,
      adapterFor(p, key, deps),
      p.settings,
      usage,
      deps.logger.child({ provider: p.id }),
    );
    byId.set(p.id, { cfg: p, provider, key });
  }
  const expectsPlugin = () => cfg.pluginProviders === true;
  const entry = (id: string): Entry => {
    const e = byId.get(id);
    if (e) return e;
    const available = [...byId.keys()].sort().join(', ') || 'none';
    // Short enough for the one error line a chat shows.
    const pick = `Pick another with :RuneChatModel or chat.provider / completion.provider; available: ${available}.`;
    if (removed.has(id)) {
      throw new NotFoundError(
        `The provider "${id}" is gone: its plugin was unloaded or failed (see :RunePlugins). ${pick}`,
      );
    }
    const key = (Object.keys(cfg.defaults) as Feature[])
      .filter((f) => cfg.defaults[f] === id)
      .map((f) => cfg.defaultsFrom?.[f])
      .find((k) => k !== undefined);
    if (key && !cfg.providers.some((p) => p.id === id)) {
      // The user's own option names it: say which, so it can be fixed in setup().
      throw new ConfigError(
        key,
        `names "${id}", which is not configured, and no loaded plugin supplies it (see :RunePlugins); configured: ${available}`,
      );
    }
    if (cfg.providers.some((p) => p.id === id && p.kind === 'plugin')) {
      throw new NotFoundError(
        `The provider "${id}" (providers.${id}, kind 'plugin') is not available: no loaded plugin supplies it (see :RunePlugins). ${pick}`,
      );
    }
    if (expectsPlugin()) {
      throw new NotFoundError(
        `No provider named "${id}": not configured, and no loaded plugin supplies it (see :RunePlugins). ${pick}`,
      );
    }
    throw new ConfigError(
      'providers',
      `no provider named "${id}"; configured: ${available}. Add it to providers in your setup().`,
    );
  };
  const defaultFor = (id: string) =>
    (Object.keys(cfg.defaults) as Feature[]).filter((f) => cfg.defaults[f] === id);
  return {
    get(feature: Feature, id?: string) {
      return entry(id ?? cfg.defaults[feature]).provider;
    },
    managed: (id) => entry(id).provider,
    list() {
      return [...byId.values()]
        .sort((a, b) => (a.cfg.id < b.cfg.id ? -1 : a.cfg.id > b.cfg.id ? 1 : 0))
        .map(({ cfg: p, provider, registered }) => ({
          id: p.id,
          kind: provider.kind,
          defaultFor: defaultFor(p.id),
          ...(p.settings.model ? { model: p.settings.model } : {}),
          ...(p.settings.fimModel ? { fimModel: p.settings.fimModel } : {}),
          url: p.url,
          keyed: p.apiKey !== undefined,
          state: provider.state(),
          ...(registered ? { plugin: true as const } : {}),
        }));
    },
    usage(): UsageRecord[] {
      return usage.list();
    },
    async keyStatus(id) {
      const { cfg: p, key, registered } = entry(id);
      if (registered) return { ok: true, message: `supplied by a ${registered.kind}` };
      if (p.kind === 'copilot') return { ok: true, message: 'GitHub sign-in (:RuneAuth copilot)' };
      if (!p.apiKey) return { ok: true, message: 'no API key needed' };
      try {
        await key();
        return { ok: true, message: `API key found in ${describeSecretRef(p.apiKey)}` };
      } catch (err) {
        return { ok: false, message: err instanceof RuneError ? err.message : String(err) };
      }
    },
    register(supplied: Provider): Disposable {
      const id = supplied.id;
      const taken = byId.get(id);
      if (taken) {
        throw new RuneError(
          'conflict',
          taken.registered
            ? `the provider id "${id}" is already supplied by another plugin; give this one another id`
            : `the provider id "${id}" is taken by the configured provider providers.${id}; give the plugin's provider another id (or remove providers.${id} from setup())`,
        );
      }
      const p = pluginProviderConfig(id, cfg);
      const adapter = new RegisteredAdapter(supplied, p.url);
      const provider = new ManagedProvider(
        id,
        adapter,
        p.settings,
        usage,
        deps.logger.child({ provider: id }),
      );
      const e: Entry = { cfg: p, provider, key: noKey, registered: adapter };
      byId.set(id, e);
      removed.delete(id);
      deps.logger.info('provider registered', { provider: id, kind: adapter.kind });
      let done = false;
      return {
        dispose() {
          if (done) return;
          done = true;
          if (byId.get(id) === e) {
            byId.delete(id);
            removed.add(id);
          }
          adapter.remove(
            new StateError(
              `The provider "${id}" went away during the call: its plugin was reloaded or unloaded. Try again, or pick another with :RuneChatModel.`,
            ),
            new NotFoundError(
              `The provider "${id}" is gone: its plugin was reloaded or unloaded. Ask again (a reloaded plugin's provider is picked up), or pick another with :RuneChatModel.`,
            ),
          );
          provider.dispose();
          deps.logger.info('provider removed', { provider: id });
        },
      };
    },
    missing() {
      const named = new Set([
        ...Object.values(cfg.defaults),
        ...cfg.providers.filter((p) => p.kind === 'plugin').map((p) => p.id),
      ]);
      return [...named]
        .filter((id) => !byId.has(id))
        .sort()
        .map((id) => ({ id, defaultFor: defaultFor(id) }));
    },
    dispose() {
      for (const { provider } of byId.values()) provider.dispose();
    },
  };
}
