/**
 * The `providers` section of the user's config, validated with zod. Errors name the full
 * key path (`providers.claude.timeouts.idle_ms`). Options are snake_case as written in Lua.
 *
 *   providers = {
 *     ollama = { model = 'llama3.2', fim_model = 'qwen2.5-coder:1.5b' },
 *     claude = { kind = 'anthropic', api_key = 'cmd:pass show anthropic' },
 *     lmstudio = { kind = 'openai', url = 'http://127.0.0.1:1234/v1', fim = 'chat' },
 *     llamacpp = { url = 'http://127.0.0.1:8080', infill = { t_max_predict_ms = 500 } },
 *   },
 *   default_provider = 'ollama',          -- chat.provider / completion.provider override it
 *
 * Plugins may add providers at run time (src/plugins/). Because the config is read before
 * plugins load, `default_provider`, `chat.provider` and `completion.provider` may name a
 * provider that is not configured here while plugins are on; the registry says so at use
 * time if no plugin supplied it. `providers.<id> = { kind = 'plugin', ... }` declares such
 * a provider up front with its own timeouts, limits and default model.
 */
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import type { ManagedSettings } from './managed.js';
import type { Feature } from './types.js';

export const KINDS = [
  'ollama',
  'anthropic',
  'openai',
  'llamacpp',
  'zeke',
  'copilot',
  'plugin',
] as const;
export type Kind = (typeof KINDS)[number];

const ms = z.number().int().nonnegative();
const Timeouts = z.strictObject({ connect_ms: ms, first_token_ms: ms, idle_ms: ms }).partial();
const Retry = z
  .strictObject({
    max_attempts: z.number().int().min(1).max(10),
    base_delay_ms: ms,
    max_delay_ms: ms,
    max_retry_after_ms: ms,
  })
  .partial();
const RateLimit = z.strictObject({ rps: z.number().positive(), burst: z.number().int().min(1) });
const Concurrency = z
  .strictObject({ chat: z.number().int().min(1), completion: z.number().int().min(1) })
  .partial();
const Breaker = z.strictObject({ failures: z.number().int().min(1), cooldown_ms: ms }).partial();
const Cache = z.strictObject({ max: z.number().int().min(1), ttl_ms: ms }).partial();
const Infill = z.strictObject({ t_max_predict_ms: ms, cache_prompt: z.boolean() }).partial();
// An empty Lua list arrives as {} (see clean()).
const Args = z.union([z.array(z.string()), z.strictObject({}).transform(() => [] as string[])]);
const Serve = z.strictObject({
  model: z.string().min(1).optional(),
  // llama.cpp's -hf: `org/name` with an optional `:quant` tag (common/arg.cpp).
  hf_repo: z
    .string()
    .regex(/^[\w.-]+\/[\w.-]+(:[\w.-]+)?$/, "expected 'org/name' or 'org/name:quant'")
    .optional(),
  args: Args.optional(),
  bin: z.string().min(1).optional(),
});

const Provider = z.strictObject({
  kind: z.enum(KINDS).optional(),
  url: z.url({ protocol: /^https?$/ }).optional(),
  model: z.string().min(1).optional(),
  fim_model: z.string().min(1).optional(),
  fim: z.enum(['native', 'chat', 'infill']).optional(),
  api_key: z.string().min(1).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  max_tokens: z.number().int().positive().optional(),
  timeouts: Timeouts.optional(),
  retry: Retry.optional(),
  rate_limit: z.union([z.literal(false), RateLimit]).optional(),
  concurrency: Concurrency.optional(),
  breaker: z.union([z.literal(false), Breaker]).optional(),
  cache: z.union([z.literal(false), Cache]).optional(),
  infill: Infill.optional(),
  serve: Serve.optional(),
});
type ProviderInput = z.infer<typeof Provider>;

/** One provider, normalised, with every default applied. */
export interface ProviderConfig {
  id: string;
  kind: Kind;
  url: string;
  /** A secret reference (`env:`, `cmd:`, `file:`, `keyring:`) or undefined (no key). */
  apiKey: string | undefined;
  headers: Record<string, string> | undefined;
  /**
   * How an `openai` provider fills in the middle: /v1/completions with `suffix`
   * (`native`), a chat prompt (`chat`), llama.cpp's /infill (`infill`), or — unset, for a
   * custom url — /infill when the server turns out to be llama.cpp, else native (`auto`).
   */
  fim: 'native' | 'chat' | 'infill' | 'auto';
  maxTokens: number;
  /** llama.cpp's /infill options (kinds `llamacpp`, and `openai` when the server is llama.cpp). */
  infill?: { tMaxPredictMs?: number; cachePrompt?: boolean };
  /** llamacpp: a llama-server Rune runs itself (`serve`). */
  serve?: { model?: string; hfRepo?: string; args: string[]; bin?: string };
  settings: ManagedSettings;
}

export interface ProvidersConfig {
  providers: ProviderConfig[];
  defaults: Record<Feature, string>;
  /**
   * Whether plugins may supply providers at run time (`plugins.enabled` is not false), so
   * a default may name a provider this config does not list.
   */
  pluginProviders?: boolean;
  /** The option that set each feature's default (`chat.provider`, `default_provider`, …). */
  defaultsFrom?: Partial<Record<Feature, string>>;
}

interface KindDefaults {
  url: string;
  model: string;
  fimModel?: string;
  apiKey?: string;
  timeouts: ManagedSettings['timeouts'];
  concurrency: ManagedSettings['concurrency'];
}

const DEFAULTS: Record<Kind, KindDefaults> = {
  ollama: {
    url: 'http://127.0.0.1:11434',
    model: 'llama3.2',
    fimModel: 'qwen2.5-coder:1.5b',
    // A local model may need a while to load into memory before its first token.
    timeouts: { connectMs: 5_000, firstTokenMs: 120_000, idleMs: 60_000 },
    concurrency: { chat: 2, completion: 1 },
  },
  anthropic: {
    url: 'https://api.anthropic.com',
    // Current models: the SDK warns about (and the API retires) the ones past their end
    // of life; :checkhealth says when the configured one is deprecated or gone.
    model: 'claude-sonnet-5-5',
    fimModel: 'claude-haiku-5-5',
    apiKey: 'env:ANTHROPIC_API_KEY',
    timeouts: { connectMs: 15_000, firstTokenMs: 60_000, idleMs: 60_000 },
    concurrency: { chat: 4, completion: 2 },
  },
  openai: {
    url: 'https://api.openai.com/v1',
    model: 'gpt-4o-mini',
    apiKey: 'env:OPENAI_API_KEY',
    timeouts: { connectMs: 15_000, firstTokenMs: 60_000, idleMs: 60_000 },
    concurrency: { chat: 4, completion: 2 },
  },
  llamacpp: {
    // llama-server's default address; it serves the one model it was started with, so
    // the model name is only a label (a router-mode server picks by it).
    url: 'http://127.0.0.1:8080',
    model: '',
    timeouts: { connectMs: 5_000, firstTokenMs: 120_000, idleMs: 60_000 },
    concurrency: { chat: 2, completion: 1 },
  },
  copilot: {
    // The GitHub API origin for the token exchange; the key is the GitHub sign-in
    // (:RuneAuth copilot), found by the adapter itself.
    url: 'https://api.github.com',
    model: 'gpt-4o',
    timeouts: { connectMs: 15_000, firstTokenMs: 60_000, idleMs: 60_000 },
    concurrency: { chat: 4, completion: 2 },
  },
  zeke: {
    url: 'http://127.0.0.1:7878',
    // zeke serve falls back to deepseek-coder:33b; zeke's own `local` alias is this one.
    model: 'qwen2.5-coder:7b',
    timeouts: { connectMs: 5_000, firstTokenMs: 120_000, idleMs: 120_000 },
    concurrency: { chat: 2, completion: 1 },
  },
  plugin: {
    // Not a URL: the provider runs in its plugin's worker. The model is the plugin's choice.
    url: 'plugin:',
    model: '',
    // No connect phase (the worker is already running); the plugin's own call deadline
    // (plugins.limits.call_timeout_ms) bounds the whole call.
    timeouts: { connectMs: 0, firstTokenMs: 120_000, idleMs: 60_000 },
    concurrency: { chat: 4, completion: 2 },
  },
};

/** Options a provider supplied by a plugin cannot take: the plugin owns its connection. */
const NOT_FOR_PLUGINS = ['url', 'api_key', 'headers', 'fim', 'max_tokens', 'infill'] as const;

/** Lua's vim.NIL arrives as null and an empty table may arrive as []: both mean "unset". */
function clean(v: unknown): unknown {
  if (v === null) return undefined;
  if (Array.isArray(v)) return v.length === 0 ? {} : v.map(clean);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const c = clean(x);
      if (c !== undefined) out[k] = c;
    }
    return out;
  }
  return v;
}

function fail(prefix: string, err: z.ZodError): never {
  const issue = err.issues[0]!;
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  throw new ConfigError(path, issue.message);
}

function inferKind(id: string): Kind | undefined {
  const l = id.toLowerCase();
  if (l.startsWith('ollama')) return 'ollama';
  if (l.startsWith('anthropic') || l.startsWith('claude')) return 'anthropic';
  if (l.startsWith('openai')) return 'openai';
  if (l.startsWith('llamacpp') || l.startsWith('llama.cpp') || l.startsWith('llama-cpp'))
    return 'llamacpp';
  if (l.startsWith('zeke')) return 'zeke';
  if (l.startsWith('copilot')) return 'copilot';
  return undefined;
}

function normalise(id: string, p: ProviderInput): ProviderConfig {
  const kind = p.kind ?? inferKind(id);
  if (!kind) {
    throw new ConfigError(
      `providers.${id}.kind`,
      `say which API this provider speaks: one of ${KINDS.map((k) => `'${k}'`).join(', ')}`,
    );
  }
  if (kind === 'plugin') {
    const bad = NOT_FOR_PLUGINS.find((k) => p[k] !== undefined);
    if (bad) {
      throw new ConfigError(
        `providers.${id}.${bad}`,
        'a provider supplied by a plugin takes no connection options (the plugin owns its connection); only model, fim_model, timeouts, retry, rate_limit, concurrency, breaker and cache',
      );
    }
  }
  if (p.serve && kind !== 'llamacpp') {
    throw new ConfigError(
      `providers.${id}.serve`,
      "only a provider of kind 'llamacpp' can run its server; set kind = 'llamacpp'",
    );
  }
  if (p.serve && (p.serve.model === undefined) === (p.serve.hf_repo === undefined)) {
    throw new ConfigError(
      `providers.${id}.serve`,
      "set either model (a .gguf file) or hf_repo ('org/name:quant', downloaded by llama-server)",
    );
  }
  if (p.serve && p.url) {
    throw new ConfigError(
      `providers.${id}.url`,
      'a provider with serve gets the url of the server Rune starts; remove url (or serve)',
    );
  }
  const d = DEFAULTS[kind];
  const url = kind === 'plugin' ? `plugin:${id}` : (p.url ?? d.url);
  const isDefaultUrl = url.replace(/\/+$/, '') === d.url;
  // A custom url for an OpenAI-compatible server usually needs no key (LM Studio,
  // llama.cpp, vLLM); the official endpoint needs OPENAI_API_KEY.
  const apiKey = p.api_key ?? (kind === 'openai' && !isDefaultUrl ? undefined : d.apiKey);
  const model = p.model ?? d.model;
  // Plugin providers get no breaker unless asked for (the plugin manager already disables a
  // plugin that crashes) and no retries unless asked for (Rune cannot tell whether a plugin's
  // call is safe to repeat: its errors arrive without the HTTP status that says so).
  const breaker =
    p.breaker === false || (kind === 'plugin' && p.breaker === undefined)
      ? undefined
      : { failures: 5, cooldown_ms: 15_000, ...p.breaker };
  const cache =
    p.cache === undefined || p.cache === false
      ? undefined
      : { max: 256, ttl_ms: 60_000, ...p.cache };
  return {
    id,
    kind,
    url,
    apiKey,
    headers: p.headers,
    fim:
      p.fim ??
      (kind === 'openai' && isDefaultUrl
        ? 'chat'
        : kind === 'openai'
          ? 'auto'
          : kind === 'llamacpp'
            ? 'infill'
            : 'chat'),
    maxTokens: p.max_tokens ?? 4096,
    ...(p.serve
      ? {
          serve: {
            ...(p.serve.model !== undefined ? { model: p.serve.model } : {}),
            ...(p.serve.hf_repo !== undefined ? { hfRepo: p.serve.hf_repo } : {}),
            args: p.serve.args ?? [],
            ...(p.serve.bin ? { bin: p.serve.bin } : {}),
          },
        }
      : {}),
    ...(p.infill
      ? {
          infill: {
            ...(p.infill.t_max_predict_ms !== undefined
              ? { tMaxPredictMs: p.infill.t_max_predict_ms }
              : {}),
            ...(p.infill.cache_prompt !== undefined ? { cachePrompt: p.infill.cache_prompt } : {}),
          },
        }
      : {}),
    settings: {
      model,
      fimModel: p.fim_model ?? d.fimModel ?? model,
      ...(p.max_tokens !== undefined ? { maxTokens: p.max_tokens } : {}),
      timeouts: {
        // A server Rune starts loads its model before it can answer the first request.
        connectMs: p.timeouts?.connect_ms ?? (p.serve ? 600_000 : d.timeouts.connectMs),
        firstTokenMs: p.timeouts?.first_token_ms ?? d.timeouts.firstTokenMs,
        idleMs: p.timeouts?.idle_ms ?? d.timeouts.idleMs,
      },
      retry: {
        maxAttempts: p.retry?.max_attempts ?? (kind === 'plugin' ? 1 : 3),
        baseDelayMs: p.retry?.base_delay_ms ?? 250,
        maxDelayMs: p.retry?.max_delay_ms ?? 8_000,
        maxRetryAfterMs: p.retry?.max_retry_after_ms ?? 60_000,
      },
      ...(p.rate_limit ? { rateLimit: { rps: p.rate_limit.rps, burst: p.rate_limit.burst } } : {}),
      concurrency: {
        chat: p.concurrency?.chat ?? d.concurrency.chat,
        completion: p.concurrency?.completion ?? d.concurrency.completion,
      },
      ...(breaker
        ? { breaker: { failures: breaker.failures, cooldownMs: breaker.cooldown_ms } }
        : {}),
      ...(cache ? { cache: { max: cache.max, ttlMs: cache.ttl_ms } } : {}),
    },
  };
}

/**
 * The settings of a provider a plugin supplies under `id`: its `providers.<id>` entry when
 * declared with `kind = 'plugin'`, else the plugin defaults.
 */
export function pluginProviderConfig(id: string, cfg?: ProvidersConfig): ProviderConfig {
  return (
    cfg?.providers.find((p) => p.id === id && p.kind === 'plugin') ??
    normalise(id, { kind: 'plugin' })
  );
}

/**
 * Parses the user's whole config (the host's `config`), reading `providers`,
 * `default_provider`, `chat.provider` and `completion.provider`. With no providers
 * configured, a local Ollama is the one provider.
 */
export function parseProvidersConfig(config: Readonly<Record<string, unknown>>): ProvidersConfig {
  const raw = clean(config.providers) ?? {};
  const table = z.record(z.string().min(1), z.unknown()).safeParse(raw);
  if (!table.success) {
    throw new ConfigError('providers', 'must be a table of provider name → options');
  }
  // Lua tables have no order: sorting by name keeps lists and the fallback default stable.
  const entries = Object.entries(table.data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) entries.push(['ollama', {}]);
  const providers = entries.map(([id, v]) => {
    const r = Provider.safeParse(v ?? {});
    if (!r.success) fail(`providers.${id}`, r.error);
    return normalise(id, r.data);
  });
  const ids = providers.map((p) => p.id);
  const plugins = clean(config.plugins);
  const pluginProviders = !(
    plugins &&
    typeof plugins === 'object' &&
    (plugins as Record<string, unknown>).enabled === false
  );
  const pick = (path: string, v: unknown): string | undefined => {
    const c = clean(v);
    if (c === undefined) return undefined;
    if (typeof c !== 'string' || c === '') {
      throw new ConfigError(path, `must be a provider name; configured: ${ids.join(', ')}`);
    }
    // A plugin may supply it once loaded; the registry reports it at use time if none did.
    if (!ids.includes(c) && !pluginProviders) {
      throw new ConfigError(
        path,
        `names no configured provider; configured: ${ids.join(', ')} (plugins are off, so no plugin can supply "${c}")`,
      );
    }
    return c;
  };
  const section = (name: string) => {
    const s = clean(config[name]);
    return s && typeof s === 'object' ? (s as Record<string, unknown>).provider : undefined;
  };
  const chosen = pick('default_provider', config.default_provider);
  const fallback = chosen ?? (ids.includes('ollama') ? 'ollama' : ids[0]!);
  const defaultsFrom: Partial<Record<Feature, string>> = {};
  const feature = (f: Feature): string => {
    const own = pick(`${f}.provider`, section(f));
    if (own !== undefined) defaultsFrom[f] = `${f}.provider`;
    else if (chosen !== undefined) defaultsFrom[f] = 'default_provider';
    return own ?? fallback;
  };
  return {
    providers,
    defaults: { chat: feature('chat'), completion: feature('completion') },
    pluginProviders,
    defaultsFrom,
  };
}
