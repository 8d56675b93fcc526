/**
 * The provider registry as a host service, built from the user's `providers`,
 * `default_provider`, `chat.provider` and `completion.provider` options. Features get
 * their provider through the service of `providersModule` (`ctx.needs.providers.registry()
 * .get('chat' | 'completion', override?)`).
 *
 * Requests: `rune.providers.list` → the providers with their defaults and state;
 * `rune.providers.models` (id?) → { [id]: models | { error } }; `rune.providers.usage` →
 * usage per provider and model. Adds the "providers" section to :checkhealth rune.
 * Plugins add their providers through the registry's `register()` (src/nvim/plugins.ts).
 */
import * as path from 'node:path';
import type { HealthItem, ReadyHost } from './host.js';
import type { EditorFacts } from './facts.js';
import type { Logger } from '../core/log.js';
import { defineModule, provide } from './module.js';
import { showProgress } from './progress.js';
import { readJsonObject, writeFileAtomic } from '../core/atomic-file.js';
import { pullOllamaModel } from '../providers/ollama-pull.js';
import { modelNotPulled, whoFor } from '../providers/errors.js';
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
import { authModule, type AuthService } from './auth.js';

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
/** What the providers module provides. */
export interface ProvidersService {
  /**
   * The registry built from the user's config (or from what was detected), created on
   * first use. Throws ConfigError (naming the key) when the `providers` config is invalid.
   */
  registry(): ProviderRegistry;
  /** Replaces the registry (`:RuneSetup`'s pick; tests inject one). */
  replace(registry: ProviderRegistry): void;
  /** The detection result when the user configured no provider, else undefined. */
  auto(): AutoChoice | undefined;
  /**
   * When `err` says an Ollama model is not pulled, asks the user once per model and server
   * whether to pull it. Chat and completion call it on failure.
   */
  offerPull(err: unknown): void;
}

/** What the module's functions share (one per host). */
interface State {
  host: ReadyHost;
  logger: Logger;
  facts: EditorFacts;
  auth: AuthService;
  registry?: ProviderRegistry;
  auto?: AutoChoice;
  /** How to cancel each long piece of work whose progress is showing, by key. */
  cancellers: Map<string, () => void>;
  /** Missing models already offered for pulling (`server model`): asked once each. */
  offered: Set<string>;
}

function build(st: State, config = st.host.config): ManagedRegistry {
  const { host, auth } = st;
  return createProviderRegistry(parseProvidersConfig(config), {
    logger: host.logger,
    secrets: auth.secrets,
    storedKeyAccount: apiKeyAccount,
    oauth: (name, opts) => auth.oauthToken(name, opts),
    kinds: { copilot: copilotAdapterFactory(() => auth.config.copilot) },
    notify: (message, level = 'info') => {
      void host.nvim
        .lua(
          `require("rune.util").notify(..., vim.log.levels.${level === 'warn' ? 'WARN' : 'INFO'})`,
          [message],
        )
        .catch(() => undefined);
    },
    progress: (key, p, cancel) => {
      if (p.status === 'running') st.cancellers.set(key, cancel);
      else st.cancellers.delete(key);
      void showProgress(host, key, p);
    },
  });
}

function registryOf(st: State): ProviderRegistry {
  return (st.registry ??= build(st));
}

function replace(st: State, registry: ProviderRegistry): void {
  const old = st.registry;
  if (old && old !== registry) old.dispose();
  st.registry = registry;
}

/** The provider registry of a running host (for callers holding the host, e.g. tests). */
export function getProviderRegistry(host: ReadyHost): ProviderRegistry {
  const p = host.service(providersModule);
  if (!p) throw new ConfigError('providers', 'the providers module is off; see :RuneLog');
  return p.registry();
}

/** Replaces the registry of a running host (tests use it to inject one). */
export function setProviderRegistry(host: ReadyHost, registry: ProviderRegistry): void {
  host.service(providersModule)?.replace(registry);
}

/**
 * Looks at what this machine offers (src/providers/detect.ts) and builds the registry
 * from it. With nothing found, asking for a provider fails with guidance instead.
 */
function detect(st: State): Promise<Detection> {
  const secrets = st.auth.secrets;
  const env = process.env;
  return detectProviders({
    env,
    which: (name) => which(name, env),
    storedKey: async (id) => !!(await secrets.get(apiKeyAccount(id))),
    copilotToken: async () => (await findGitHubToken({ env, store: secrets }))?.source,
  });
}

/** Where :RuneSetup keeps the pick: Rune's own state folder, nothing outside it. */
function setupFile(facts: EditorFacts): string {
  return path.join(facts.state, 'rune', 'setup.json');
}

async function savedPick(st: State): Promise<string | undefined> {
  const file = setupFile(st.facts);
  const { host } = st;
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
  st: State,
  detection: Detection,
  pick: string | undefined,
): ProviderRegistry {
  const why: Record<string, string> = {};
  const picked =
    pick && detection.candidates.some((c) => c.id === pick && c.usable) ? pick : undefined;
  const { host } = st;
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
  st.auto = auto;
  host.logger.info('providers detected', {
    chat: detection.chat?.id,
    completion: detection.completion?.id,
    picked,
  });
  if (!nothing) return build(st, detectedConfig(host.config, detection, picked));
  const empty = build(st, { ...host.config, providers: {} });
  return {
    ...empty,
    get(feature, id) {
      if (id === undefined) throw new ConfigError('providers', auto.guidance!);
      return empty.get(feature, id);
    },
  } as ManagedRegistry;
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

/**
 * When `err` says an Ollama model is not pulled, asks the user once per model and server
 * whether to pull it (lua/rune/progress.lua asks without blocking; "yes" sends
 * `rune.ollama.pull`, which runs with progress). Chat and completion call it on failure.
 */
function offerPull(st: State, err: unknown): void {
  const e = modelNotPulled(err);
  if (!e) return;
  const { host } = st;
  // The managed registry's listing carries each provider's URL (src/providers/registry.ts).
  let listing: { id: string; kind: string; url?: string }[] | undefined;
  try {
    listing = registryOf(st).list() as typeof listing;
  } catch {
    listing = undefined;
  }
  const provider = listing?.find((p) => p.kind === 'ollama' && p.url === e.url);
  const key = `${e.url} ${e.model}`;
  const seen = st.offered;
  if (seen.has(key)) return;
  seen.add(key);
  host.logger.info('offering to pull a missing model', { model: e.model, provider: provider?.id });
  void host.nvim
    .lua('require("rune.progress").offer_pull(...)', [
      { model: e.model, provider: provider?.id ?? null, server: e.url },
    ])
    .catch((err2: unknown) => host.logger.debug('could not offer the pull', { err: err2 }));
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
  const fail = (text: string) => showProgress(host, key, { title, text, status: 'failed' });
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
    await showProgress(host, key, { title, text: 'starting', percent: 0, status: 'running' });
    await pullOllamaModel(target.url, model, {
      who: whoFor('ollama', target.id, target.url),
      signal: ac.signal,
      onProgress: (p) => {
        const text = p.percent !== undefined ? `${p.status} ${p.percent}%` : p.status;
        if (text === last) return;
        last = text;
        void showProgress(host, key, {
          title,
          text,
          ...(p.percent !== undefined ? { percent: p.percent } : {}),
          status: 'running',
        });
      },
    });
    await showProgress(host, key, { title, text: 'done', percent: 100, status: 'success' });
    host.logger.info('model pulled', { provider: target.id, model });
  } catch (err) {
    const e = toRuneError(err);
    host.logger.warn('model pull failed', { provider: target.id, model, err });
    await showProgress(host, key, {
      title,
      text: ac.signal.aborted ? 'cancelled' : e.message,
      status: ac.signal.aborted ? 'cancel' : 'failed',
    });
  } finally {
    pulls.delete(model);
  }
}

/** What :RuneSetup shows: the options found now, what each needs, and which is in use. */
async function setupOptions(st: State) {
  if (hasConfiguredProviders(st.host.config)) {
    return {
      configured: true,
      options: registryOf(st)
        .list()
        .map((p) => ({ id: p.id, kind: p.kind, usable: true, found: 'configured in setup()' })),
    };
  }
  const detection = await detect(st);
  const auto = st.auto;
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
async function setupPick(st: State, id: string): Promise<{ snippet: string[] }> {
  if (hasConfiguredProviders(st.host.config)) {
    throw new RuneError(
      'bad_request',
      'Providers are configured in setup(); change them there (:help rune-providers).',
    );
  }
  const detection = st.auto?.detection ?? (await detect(st));
  const c = detection.candidates.find((x) => x.id === id);
  if (!c?.usable) {
    throw new RuneError(
      'bad_request',
      `${id} cannot be used yet${c?.needs ? `: ${c.needs}` : ''}; pick one marked available.`,
    );
  }
  await writeFileAtomic(
    setupFile(st.facts),
    `${JSON.stringify({ provider: id, picked_at: new Date().toISOString() }, null, 2)}\n`,
  );
  replace(st, buildDetected(st, detection, id));
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
export const providersModule = defineModule({
  name: 'providers',
  needs: [authModule],
  async activate(ctx) {
    const { host } = ctx;
    const st: State = {
      host,
      logger: ctx.logger,
      facts: ctx.facts,
      auth: ctx.needs.auth,
      cancellers: new Map(),
      offered: new Set(),
    };
    if (!hasConfiguredProviders(host.config)) {
      const [detection, pick] = await Promise.all([detect(st), savedPick(st)]);
      st.registry = buildDetected(st, detection, pick);
    }
    const store = new DisposableStore();
    const current = () => registryOf(st);
    try {
      current();
    } catch (err) {
      // Kept on: each use reports the same error (chat, completion and :RuneSetup name the key).
      host.logger.error('the providers config is invalid', { err });
      void host.nvim
        .lua('require("rune.util").notify(..., vim.log.levels.ERROR)', [
          `providers: ${toRuneError(err).message}`,
        ])
        .catch(() => undefined);
    }
    store.add(host.onRequest('rune.providers.list', () => current().list()));
    store.add(
      host.onRequest('rune.providers.models', (args) =>
        models(current(), optionalString(args[0], 'The provider id')),
      ),
    );
    store.add(host.onRequest('rune.providers.usage', () => current().usage()));
    store.add(host.onRequest('rune.setup.options', () => setupOptions(st)));
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
        if (typeof key === 'string') st.cancellers.get(key)?.();
      }),
    );
    store.add(
      host.onRequest('rune.setup.pick', async (args) => {
        const id = optionalString(args[0], 'The provider id');
        if (!id) throw new RuneError('bad_request', 'Say which provider to pick.');
        return setupPick(st, id);
      }),
    );
    store.add(
      host.addHealth('providers', async () => [
        ...autoHealth(st.auto),
        ...(await health(current())),
      ]),
    );
    store.add(toDisposable(() => st.registry?.dispose()));
    const service: ProvidersService = {
      registry: current,
      replace: (r) => replace(st, r),
      auto: () => st.auto,
      offerPull: (err) => offerPull(st, err),
    };
    return provide(store, service);
  },
});
