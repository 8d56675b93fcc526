/**
 * The provider registry as a host service, built from the user's `providers`,
 * `default_provider`, `chat.provider` and `completion.provider` options. Features get
 * their provider with `getProviderRegistry(host).get('chat' | 'completion', override?)`.
 *
 * Requests: `rune.providers.list` → the providers with their defaults and state;
 * `rune.providers.models` (id?) → { [id]: models | { error } }; `rune.providers.usage` →
 * usage per provider and model. Adds the "providers" section to :checkhealth rune.
 * Plugins add their providers through the registry's `register()` (src/nvim/plugins.ts).
 */
import type { HealthItem, HostModule, ReadyHost } from './host.js';
import type { ModelInfo, ProviderRegistry } from '../providers/types.js';
import { DisposableStore, toDisposable } from '../core/disposable.js';
import { AuthError, RuneError, toRuneError } from '../core/errors.js';
import { parseProvidersConfig } from '../providers/config.js';
import { createProviderRegistry, type ManagedRegistry } from '../providers/registry.js';
import type { ManagedProvider } from '../providers/managed.js';
import { modelChecks } from '../providers/model-checks.js';
import { copilotAdapterFactory } from '../providers/copilot.js';
import { apiKeyAccount } from '../auth/secret-store.js';
import { hostCopilotConfig, hostOAuthTokens, hostSecrets } from './auth.js';

const registries = new WeakMap<ReadyHost, ProviderRegistry>();

function build(host: ReadyHost): ManagedRegistry {
  return createProviderRegistry(parseProvidersConfig(host.config), {
    logger: host.logger,
    secrets: hostSecrets(host),
    storedKeyAccount: apiKeyAccount,
    oauth: hostOAuthTokens(host),
    kinds: { copilot: copilotAdapterFactory(() => hostCopilotConfig(host)) },
    notify: (message, level = 'info') => {
      void host.nvim
        .lua(
          `require("rune.util").notify(..., vim.log.levels.${level === 'warn' ? 'WARN' : 'INFO'})`,
          [message],
        )
        .catch(() => undefined);
    },
  });
}

/**
 * The registry built from the user's config, created on first use. Throws ConfigError
 * (naming the key) when the `providers` config is invalid.
 */
export function getProviderRegistry(host: ReadyHost): ProviderRegistry {
  let r = registries.get(host);
  if (!r) {
    r = build(host);
    registries.set(host, r);
  }
  return r;
}

/** Replaces the registry (tests use it to inject one). */
export function setProviderRegistry(host: ReadyHost, registry: ProviderRegistry): void {
  const old = registries.get(host);
  if (old && old !== registry) old.dispose();
  registries.set(host, registry);
}

function isManaged(r: ProviderRegistry): r is ManagedRegistry {
  return typeof (r as Partial<ManagedRegistry>).managed === 'function';
}

async function models(
  registry: ProviderRegistry,
  id: string | undefined,
): Promise<Record<string, ModelInfo[] | { error: { code: string; message: string } }>> {
  const ids = id ? [id] : registry.list().map((p) => p.id);
  const out: Record<string, ModelInfo[] | { error: { code: string; message: string } }> = {};
  await Promise.all(
    ids.map(async (pid) => {
      try {
        out[pid] = await registry.get('chat', pid).models();
      } catch (err) {
        if (id) throw err;
        const e = toRuneError(err);
        out[pid] = { error: { code: e.code, message: e.message } };
      }
    }),
  );
  return out;
}

async function health(registry: ProviderRegistry): Promise<HealthItem[]> {
  const list = registry.list();
  const defaults = list.flatMap((p) => p.defaultFor.map((f) => `${f} → ${p.id}`)).join(', ');
  const per = await Promise.all(
    list.map(async (p): Promise<HealthItem[]> => {
      const name = `${p.id} (${p.kind}${p.model ? `, ${p.model}` : ''})`;
      if (!isManaged(registry)) return [{ level: 'info', message: `${name}: configured` }];
      const key = await registry.keyStatus(p.id);
      if (!key.ok) return [{ level: 'error', message: `${name}: ${key.message}` }];
      const provider = registry.managed(p.id);
      let msg: string;
      try {
        msg = await provider.probe();
      } catch (err) {
        const e = toRuneError(err);
        return [
          { level: e instanceof AuthError ? 'error' : 'warn', message: `${name}: ${e.message}` },
        ];
      }
      const items: HealthItem[] = [{ level: 'ok', message: `${name}: ${msg}; ${key.message}` }];
      if (p.kind === 'ollama') items.push(...(await ollamaModels(provider, p.id)));
      items.push(...(await modelChecks(provider, p.id, p.kind)));
      return items;
    }),
  );
  const missing: HealthItem[] = isManaged(registry)
    ? registry.missing().map((m) => ({
        level: m.defaultFor.length ? 'warn' : 'info',
        message: `${m.id}${m.defaultFor.length ? ` (default for ${m.defaultFor.join(', ')})` : ''}: not available yet; no loaded plugin supplies it`,
        advice: [
          'Check that the plugin that adds it is installed and loads (:RunePlugins)',
          'or name a configured provider in default_provider / chat.provider / completion.provider',
        ],
      }))
    : [];
  return [
    {
      level: 'info',
      message: `${list.length} provider(s); defaults: ${defaults || 'none available'}`,
    },
    ...per.flat(),
    ...missing,
  ];
}

/** Warns about configured Ollama models that are not installed (a common first-run snag). */
async function ollamaModels(provider: ManagedProvider, id: string): Promise<HealthItem[]> {
  let installed: Set<string>;
  try {
    installed = new Set((await provider.models()).map((m) => m.id.replace(/:latest$/, '')));
  } catch {
    return [];
  }
  const wanted = [provider.settings.model, provider.settings.fimModel].filter(
    (m, i, all): m is string => !!m && all.indexOf(m) === i,
  );
  return wanted
    .filter((m) => !installed.has(m.replace(/:latest$/, '')))
    .map((m) => ({
      level: 'warn' as const,
      message: `${id}: the model ${m} is not installed in Ollama`,
      advice: [
        `Run: ollama pull ${m}`,
        `or set providers.${id}.model / fim_model to an installed model`,
      ],
    }));
}

function optionalString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new RuneError('bad_request', `${what} must be a string.`);
  return v;
}

/** Builds the registry at startup (reporting a bad config) and serves its requests. */
export const providersModule: HostModule = {
  name: 'providers',
  activate(host) {
    const registry = getProviderRegistry(host);
    const store = new DisposableStore();
    const current = () => registries.get(host) ?? registry;
    store.add(host.onRequest('rune.providers.list', () => current().list()));
    store.add(
      host.onRequest('rune.providers.models', (args) =>
        models(current(), optionalString(args[0], 'The provider id')),
      ),
    );
    store.add(host.onRequest('rune.providers.usage', () => current().usage()));
    store.add(host.addHealth('providers', () => health(current())));
    store.add(
      toDisposable(() => {
        current().dispose();
        registries.delete(host);
      }),
    );
    return store;
  },
};
