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
import * as path from 'node:path';
import type { HealthItem, HostModule, ReadyHost } from './host.js';
import { readJsonObject, writeFileAtomic } from '../core/atomic-file.js';
import { pullOllamaModel } from '../providers/ollama-pull.js';
import { whoFor } from '../providers/errors.js';
import type { ModelInfo, ProviderRegistry } from '../providers/types.js';
import { DisposableStore, toDisposable } from '../core/disposable.js';
import { AuthError, ConfigError, RuneError, toRuneError } from '../core/errors.js';
import { parseProvidersConfig } from '../providers/config.js';
import { createProviderRegistry, type ManagedRegistry } from '../providers/registry.js';
import type { ManagedProvider } from '../providers/managed.js';
import { modelChecks } from '../providers/model-checks.js';
import { copilotAdapterFactory } from '../providers/copilot.js';
import { apiKeyAccount } from '../auth/secret-store.js';
import { findGitHubToken } from '../auth/github.js';
import { which } from '../core/which.js';
import {
  detectProviders,
  detectedConfig,
  guidance,
  setupSnippet,
  hasConfiguredProviders,
  type Detection,
} from '../providers/detect.js';
import { hostCopilotConfig, hostOAuthTokens, hostSecrets } from './auth.js';

const registries = new WeakMap<ReadyHost, ProviderRegistry>();

/** How the providers were chosen when the user configured none. */
export interface AutoChoice {
  detection: Detection;
  /** The reason shown in the chat header and :checkhealth, per provider id. */
  why: Record<string, string>;
  /** What to do when nothing was found (undefined when something was). */
  guidance?: string;
  /** The provider picked with :RuneSetup (saved in Rune's state folder). */
  picked?: string;
}
const autos = new WeakMap<ReadyHost, AutoChoice>();

/** The detection result when the user configured no provider, else undefined. */
export function autoChoice(host: ReadyHost): AutoChoice | undefined {
  return autos.get(host);
}

/** Per host: how to cancel each long piece of work whose progress is showing, by key. */
const cancellers = new WeakMap<ReadyHost, Map<string, () => void>>();

function cancellersOf(host: ReadyHost): Map<string, () => void> {
  let m = cancellers.get(host);
  if (!m) cancellers.set(host, (m = new Map()));
  return m;
}

function build(host: ReadyHost, config = host.config): ManagedRegistry {
  return createProviderRegistry(parseProvidersConfig(config), {
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
    progress: (key, p, cancel) => {
      const m = cancellersOf(host);
      if (p.status === 'running') m.set(key, cancel);
      else m.delete(key);
      void progress(host, key, p);
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

/**
 * Looks at what this machine offers (src/providers/detect.ts) and builds the registry
 * from it. With nothing found, asking for a provider fails with guidance instead.
 */
function detect(host: ReadyHost): Promise<Detection> {
  const secrets = hostSecrets(host);
  const env = process.env;
  return detectProviders({
    env,
    which: (name) => which(name, env),
    storedKey: async (id) => !!(await secrets.get(apiKeyAccount(id))),
    copilotToken: async () => (await findGitHubToken({ env, store: secrets }))?.source,
  });
}

/** Where :RuneSetup keeps the pick: Rune's own state folder, nothing outside it. */
async function setupFile(host: ReadyHost): Promise<string> {
  const state = (await host.nvim.call('stdpath', ['state'])) as string;
  return path.join(state, 'rune', 'setup.json');
}

async function savedPick(host: ReadyHost): Promise<string | undefined> {
  const file = await setupFile(host);
  const data = readJsonObject(file, (message) => {
    host.logger.warn('the :RuneSetup pick is unreadable; detecting again', { message });
    void host.nvim
      .lua('require("rune.util").notify(..., vim.log.levels.WARN)', [
        `The :RuneSetup pick: ${message} Providers are detected again.`,
      ])
      .catch(() => undefined);
  });
  return typeof data.provider === 'string' ? data.provider : undefined;
}

function buildDetected(
  host: ReadyHost,
  detection: Detection,
  pick: string | undefined,
): ProviderRegistry {
  const why: Record<string, string> = {};
  const picked =
    pick && detection.candidates.some((c) => c.id === pick && c.usable) ? pick : undefined;
  if (pick && !picked) host.logger.warn('the :RuneSetup pick is not available now', { pick });
  for (const f of ['chat', 'completion'] as const) {
    const d = detection[f];
    if (d) why[d.id] = `found: ${d.why}`;
  }
  if (picked) why[picked] = 'picked with :RuneSetup';
  const nothing = !detection.chat;
  const auto: AutoChoice = {
    detection,
    why,
    ...(picked ? { picked } : {}),
    ...(nothing ? { guidance: guidance(detection) } : {}),
  };
  autos.set(host, auto);
  host.logger.info('providers detected', {
    chat: detection.chat?.id,
    completion: detection.completion?.id,
    picked,
  });
  if (!nothing) return build(host, detectedConfig(host.config, detection, picked));
  const empty = build(host, { ...host.config, providers: {} });
  return {
    ...empty,
    get(feature, id) {
      if (id === undefined) throw new ConfigError('providers', auto.guidance!);
      return empty.get(feature, id);
    },
  } as ManagedRegistry;
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

/** Shows a pull's progress in Neovim (lua/rune/progress.lua draws it). */
function progress(
  host: ReadyHost,
  key: string,
  p: { title: string; text: string; percent?: number; status: string },
): Promise<void> {
  return host.nvim
    .lua('require("rune.progress").update(...)', [key, p])
    .then(() => undefined)
    .catch((err: unknown) => host.logger.debug('progress update failed', { err }));
}

/** `:RunePull {model}`: pulls into the configured (or detected) Ollama with progress. */
async function pull(
  host: ReadyHost,
  registry: ProviderRegistry,
  pulls: Map<string, AbortController>,
  model: string,
  providerId: string | undefined,
): Promise<void> {
  const title = `pull ${model}`;
  const key = `pull.${model}`;
  const target = registry
    .list()
    .find((p) => (providerId ? p.id === providerId : p.kind === 'ollama')) as
    { id: string; kind: string; url?: string } | undefined;
  const fail = (text: string) => progress(host, key, { title, text, status: 'failed' });
  if (!model) return void (await fail('say which model: :RunePull llama3.2'));
  if (!target || target.kind !== 'ollama' || !target.url) {
    return void (await fail(
      providerId
        ? `${providerId} is not an Ollama provider`
        : 'no Ollama provider is configured or running (:RuneSetup)',
    ));
  }
  if (pulls.has(model)) return;
  const ac = new AbortController();
  pulls.set(model, ac);
  let last = '';
  try {
    await progress(host, key, { title, text: 'starting', percent: 0, status: 'running' });
    await pullOllamaModel(target.url, model, {
      who: whoFor('ollama', target.id, target.url),
      signal: ac.signal,
      onProgress: (p) => {
        const text = p.percent !== undefined ? `${p.status} ${p.percent}%` : p.status;
        if (text === last) return;
        last = text;
        void progress(host, key, {
          title,
          text,
          ...(p.percent !== undefined ? { percent: p.percent } : {}),
          status: 'running',
        });
      },
    });
    await progress(host, key, { title, text: 'done', percent: 100, status: 'success' });
    host.logger.info('model pulled', { provider: target.id, model });
  } catch (err) {
    const e = toRuneError(err);
    host.logger.warn('model pull failed', { provider: target.id, model, err });
    await progress(host, key, {
      title,
      text: ac.signal.aborted ? 'cancelled' : e.message,
      status: ac.signal.aborted ? 'cancel' : 'failed',
    });
  } finally {
    pulls.delete(model);
  }
}

/** What :RuneSetup shows: the options found now, what each needs, and which is in use. */
async function setupOptions(host: ReadyHost) {
  if (hasConfiguredProviders(host.config)) {
    return {
      configured: true,
      options: getProviderRegistry(host)
        .list()
        .map((p) => ({ id: p.id, kind: p.kind, usable: true, found: 'configured in setup()' })),
    };
  }
  const detection = await detect(host);
  const auto = autos.get(host);
  if (auto) auto.detection = detection;
  const chat = auto?.picked ?? detection.chat?.id;
  return {
    configured: false,
    options: detection.candidates.map((c) => ({
      id: c.id,
      kind: c.kind,
      usable: c.usable,
      found: c.found,
      ...(c.needs ? { needs: c.needs } : {}),
      current: c.id === chat,
    })),
  };
}

/**
 * Uses `id` from now on and saves the pick in Rune's state folder (read at the next
 * start). Returns the setup() snippet that makes it permanent.
 */
async function setupPick(host: ReadyHost, id: string): Promise<{ snippet: string[] }> {
  if (hasConfiguredProviders(host.config)) {
    throw new RuneError(
      'bad_request',
      'Providers are configured in setup(); change them there (:help rune-providers).',
    );
  }
  const detection = autos.get(host)?.detection ?? (await detect(host));
  const c = detection.candidates.find((x) => x.id === id);
  if (!c?.usable) {
    throw new RuneError(
      'bad_request',
      `${id} cannot be used yet${c?.needs ? `: ${c.needs}` : ''}; pick one marked available.`,
    );
  }
  await writeFileAtomic(
    await setupFile(host),
    `${JSON.stringify({ provider: id, picked_at: new Date().toISOString() }, null, 2)}\n`,
  );
  setProviderRegistry(host, buildDetected(host, detection, id));
  return { snippet: setupSnippet(c) };
}

/** What detection found, for a user who configured no provider. */
function autoHealth(auto: AutoChoice | undefined): HealthItem[] {
  if (!auto) return [];
  const d = auto.detection;
  const head: HealthItem = auto.guidance
    ? {
        level: 'warn',
        message: 'No provider configured and none found on this machine',
        advice: [
          'Run :RuneSetup, or:',
          ...d.candidates.filter((c) => c.needs).map((c) => `${c.kind}: ${c.needs}`),
        ],
      }
    : {
        level: 'ok',
        message: auto.picked
          ? `No provider configured; ${auto.picked} picked with :RuneSetup (saved in Rune's state folder)`
          : `No provider configured; detected: chat → ${d.chat!.id} (${d.chat!.why}), completion → ${d.completion!.id} (${d.completion!.why})`,
        advice: ['Make it permanent with providers = { … } in setup() (:help rune-providers)'],
      };
  const rest: HealthItem[] = d.candidates
    .filter((c) => c.usable || c.found)
    .map((c) => ({
      level: 'info',
      message: `${c.kind}: ${c.found}${c.usable ? '' : ` (${c.needs ?? 'not usable'})`}`,
    }));
  return [head, ...rest];
}

function optionalString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new RuneError('bad_request', `${what} must be a string.`);
  return v;
}

/** Builds the registry at startup (reporting a bad config) and serves its requests. */
export const providersModule: HostModule = {
  name: 'providers',
  async activate(host) {
    const auto = !registries.has(host) && !hasConfiguredProviders(host.config);
    if (auto) {
      const [detection, pick] = await Promise.all([detect(host), savedPick(host)]);
      registries.set(host, buildDetected(host, detection, pick));
    }
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
    store.add(host.onRequest('rune.setup.options', () => setupOptions(host)));
    const pulls = new Map<string, AbortController>();
    store.add(
      host.onNotification('rune.ollama.pull', ([model, provider]) => {
        void pull(
          host,
          current(),
          pulls,
          String(model ?? ''),
          optionalString(provider, 'provider'),
        );
      }),
    );
    store.add(
      host.onNotification('rune.ollama.pull_cancel', ([model]) => {
        for (const [m, ac] of pulls) if (!model || model === m) ac.abort();
      }),
    );
    store.add(toDisposable(() => pulls.forEach((ac) => ac.abort())));
    // A cancelled progress message (0.12's Progress event, or require('rune.progress').cancel).
    store.add(
      host.onNotification('rune.progress.cancel', ([key]) => {
        if (typeof key === 'string') cancellersOf(host).get(key)?.();
      }),
    );
    store.add(
      host.onRequest('rune.setup.pick', async (args) => {
        const id = optionalString(args[0], 'The provider id');
        if (!id) throw new RuneError('bad_request', 'Say which provider to pick.');
        return setupPick(host, id);
      }),
    );
    store.add(
      host.addHealth('providers', async () => [
        ...autoHealth(autos.get(host)),
        ...(await health(current())),
      ]),
    );
    store.add(
      toDisposable(() => {
        current().dispose();
        registries.delete(host);
      }),
    );
    return store;
  },
};
