/**
 * The provider registry: every configured provider, built once from the config, with a
 * default per feature, usage accounting shared by all, and API keys resolved lazily (on
 * the first call that needs one) from `env:`, `cmd:`, `file:` or `keyring:`.
 */
import { AuthError, ConfigError, RuneError } from '../core/errors.js';
import { apiKeyAccount } from '../auth/secret-store.js';
import type { Logger } from '../core/log.js';
import { describeSecretRef, resolveSecret, type SecretStore } from '../core/secrets.js';
import type { Adapter } from './adapter.js';
import type { CopilotConfig } from '../auth/config.js';
import { AnthropicAdapter } from './anthropic.js';
import { CopilotAdapter } from './copilot.js';
import type { ProviderConfig, ProvidersConfig } from './config.js';
import { ManagedProvider, type ProviderState } from './managed.js';
import { OllamaAdapter } from './ollama.js';
import { OpenAIAdapter } from './openai.js';
import type { Feature, ProviderRegistry, UsageRecord } from './types.js';
import { UsageTracker } from './usage.js';
import { ZekeAdapter } from './zeke.js';

export interface RegistryDeps {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Where `keyring:` keys live (the secret store); without it `keyring:` is an error. */
  secrets?: SecretStore;
  /** The fetch every provider uses (default: Node's global fetch, which keeps connections alive). */
  fetch?: typeof fetch;
  /** The `auth.copilot` options, read only when a `copilot` provider is configured. */
  copilot?: () => Partial<CopilotConfig>;
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
}

export interface ManagedRegistry extends ProviderRegistry {
  /** The managed provider named `id` (for health checks and tests). */
  managed(id: string): ManagedProvider;
  list(): ProviderListing[];
  /** Resolves each provider's key: undefined when fine, else what to fix. */
  keyStatus(id: string): Promise<{ ok: boolean; message: string }>;
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
        if (!(err instanceof AuthError) || !p.apiKey?.startsWith('env:') || !deps.secrets)
          throw err;
        const stored = await deps.secrets.get(apiKeyAccount(p.id)).catch(() => undefined);
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

function adapterFor(
  p: ProviderConfig,
  apiKey: () => Promise<string | undefined>,
  deps: RegistryDeps,
): Adapter {
  const common = {
    id: p.id,
    url: p.url,
    apiKey,
    ...(p.headers ? { headers: p.headers } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  };
  switch (p.kind) {
    case 'ollama':
      return new OllamaAdapter(common);
    case 'anthropic':
      return new AnthropicAdapter({ ...common, maxTokens: p.maxTokens });
    case 'openai':
      return new OpenAIAdapter({ ...common, fim: p.fim });
    case 'zeke':
      return new ZekeAdapter(common);
    case 'copilot':
      return new CopilotAdapter({
        id: p.id,
        url: p.url,
        logger: deps.logger.child({ provider: p.id }),
        ...(deps.secrets ? { secrets: deps.secrets } : {}),
        ...(deps.env ? { env: deps.env } : {}),
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
        ...(deps.copilot ? { copilot: deps.copilot() } : {}),
      });
  }
}

export function createProviderRegistry(cfg: ProvidersConfig, deps: RegistryDeps): ManagedRegistry {
  const usage = new UsageTracker();
  const byId = new Map<
    string,
    { cfg: ProviderConfig; provider: ManagedProvider; key: () => Promise<string | undefined> }
  >();
  for (const p of cfg.providers) {
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
  const entry = (id: string) => {
    const e = byId.get(id);
    if (!e) {
      throw new ConfigError(
        'providers',
        `no provider named "${id}"; configured: ${[...byId.keys()].join(', ')}. Add it to providers in your setup().`,
      );
    }
    return e;
  };
  return {
    get(feature: Feature, id?: string) {
      return entry(id ?? cfg.defaults[feature]).provider;
    },
    managed: (id) => entry(id).provider,
    list() {
      return [...byId.values()].map(({ cfg: p, provider }) => ({
        id: p.id,
        kind: p.kind,
        defaultFor: (Object.keys(cfg.defaults) as Feature[]).filter(
          (f) => cfg.defaults[f] === p.id,
        ),
        ...(p.settings.model ? { model: p.settings.model } : {}),
        ...(p.settings.fimModel ? { fimModel: p.settings.fimModel } : {}),
        url: p.url,
        keyed: p.apiKey !== undefined,
        state: provider.state(),
      }));
    },
    usage(): UsageRecord[] {
      return usage.list();
    },
    async keyStatus(id) {
      const { cfg: p, key } = entry(id);
      if (p.kind === 'copilot') return { ok: true, message: 'GitHub sign-in (:RuneAuth copilot)' };
      if (!p.apiKey) return { ok: true, message: 'no API key needed' };
      try {
        await key();
        return { ok: true, message: `API key found in ${describeSecretRef(p.apiKey)}` };
      } catch (err) {
        return { ok: false, message: err instanceof RuneError ? err.message : String(err) };
      }
    },
    dispose() {
      for (const { provider } of byId.values()) provider.dispose();
    },
  };
}
