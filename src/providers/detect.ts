/**
 * What this machine offers when the user configured no provider: a running Ollama (and its
 * pulled models), a llama-server answering (or only installed), an Anthropic or OpenAI key
 * (environment or Rune's secret store), a Copilot sign-in, `zeke` on PATH. Every check runs
 * in parallel under one short deadline, and only loopback addresses are probed.
 *
 * Where to probe comes from the peers' own environment variables, so a user's
 * non-default port is found and tests point the probes at their own servers:
 * `OLLAMA_HOST` (ollama's envconfig.Host: `[scheme://]host[:port]`, default
 * 127.0.0.1:11434) and `LLAMA_ARG_HOST` / `LLAMA_ARG_PORT` (llama-server's own
 * environment options, default 127.0.0.1:8080).
 *
 * The result is a `providers` table in the shape of the user's config, so the registry
 * treats a detected provider like a configured one.
 */
import * as http from 'node:http';
import type { Kind } from './config.js';

export interface DetectDeps {
  env: NodeJS.ProcessEnv;
  /** A program's path on PATH, or undefined. */
  which: (name: string) => string | undefined;
  fetch?: typeof fetch;
  /** Whether Rune's secret store holds an API key for the provider id. */
  storedKey?: (id: 'anthropic' | 'openai') => Promise<boolean>;
  /** Where a GitHub token for Copilot was found, or undefined. */
  copilotToken?: () => Promise<string | undefined>;
  /** The deadline for all checks together (default 800 ms). */
  timeoutMs?: number;
  /**
   * How the user signs in where the guidance is read: `:RuneAuth` in Neovim (the
   * default), `rune auth login` in a shell.
   */
  signIn?: (id: 'anthropic' | 'openai' | 'copilot') => string;
}

const runeAuth = (id: string): string => `:RuneAuth ${id}`;

/** One option found (or missing) on this machine. */
export interface Candidate {
  /** The provider id it gets, also its key in `providers`. */
  id: string;
  kind: Kind;
  /** Whether Rune can use it as it is. */
  usable: boolean;
  /** What was found, or what is missing. */
  found: string;
  /** What the user must do to use it (when not usable). */
  needs?: string;
  /** The options it gets as a provider (when usable). */
  options?: Record<string, unknown>;
}

export interface Detection {
  candidates: Candidate[];
  chat?: { id: string; why: string };
  completion?: { id: string; why: string };
}

/** Chat prefers the strongest model; completion the fastest (local first). */
const CHAT_ORDER = ['anthropic', 'openai', 'copilot', 'ollama', 'llamacpp', 'zeke'];
const COMPLETION_ORDER = ['llamacpp', 'ollama', 'copilot', 'anthropic', 'openai', 'zeke'];

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Ollama's address from OLLAMA_HOST, as ollama's envconfig.Host reads it. */
export function ollamaUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env.OLLAMA_HOST?.trim() || '127.0.0.1:11434';
  let u: URL;
  try {
    u = new URL(/^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    return undefined;
  }
  const host = u.hostname === '0.0.0.0' || u.hostname === '' ? '127.0.0.1' : u.hostname;
  if (!LOOPBACK.has(host)) return undefined;
  return `${u.protocol}//${host}:${u.port || '11434'}`;
}

/** llama-server's address from LLAMA_ARG_HOST / LLAMA_ARG_PORT. */
export function llamaServerUrl(env: NodeJS.ProcessEnv): string | undefined {
  const h = env.LLAMA_ARG_HOST?.trim() || '127.0.0.1';
  const host = h === '0.0.0.0' ? '127.0.0.1' : h;
  if (!LOOPBACK.has(host)) return undefined;
  const port = env.LLAMA_ARG_PORT?.trim() || '8080';
  if (!/^\d+$/.test(port)) return undefined;
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** GETs a URL's JSON body; a status other than 2xx is an error. */
type GetJson = (url: string, signal: AbortSignal) => Promise<unknown>;

function fetchJson(f: typeof fetch): GetJson {
  return async (url, signal) => {
    const res = await f(url, { signal });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    return res.json();
  };
}

/** The most of a probe's answer read (a long model list is a few KiB). */
const MAX_PROBE_BYTES = 4 * 1024 * 1024;

/**
 * `fetchJson(fetch)` through node:http(s), which the host has loaded already: Node's fetch
 * loads its HTTP client (undici) on first use, the largest cost of a start with nothing
 * configured, for two probes of a local server.
 */
const httpJson: GetJson = async (url, signal) => {
  // node:https (and TLS) only loads for an https:// OLLAMA_HOST.
  const get = url.startsWith('https:') ? (await import('node:https')).get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(url, { signal }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        res.resume();
        reject(new Error(`${url} answered ${status}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_PROBE_BYTES) {
          req.destroy(new Error(`${url} answered more than ${MAX_PROBE_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('error', reject);
  });
};

/** Prefers a coder model for completion, any non-embedding model for chat. */
function pickModels(names: string[]): { model: string; fim: string } | undefined {
  const usable = names.filter((n) => !/embed/i.test(n));
  if (usable.length === 0) return undefined;
  const coder = usable.find((n) => /coder|code|starcoder|codellama/i.test(n));
  const chat = usable.find((n) => !/coder|code/i.test(n)) ?? usable[0]!;
  return { model: chat, fim: coder ?? chat };
}

async function ollama(d: DetectDeps, getJson: GetJson, signal: AbortSignal): Promise<Candidate> {
  const url = ollamaUrl(d.env);
  const base: Candidate = { id: 'ollama', kind: 'ollama', usable: false, found: '' };
  const installed = d.which('ollama');
  if (!url) {
    return {
      ...base,
      found: `OLLAMA_HOST (${d.env.OLLAMA_HOST}) is not a loopback address; not probed`,
      needs: 'configure providers.ollama with its url in setup()',
    };
  }
  try {
    const body = (await getJson(`${url}/api/tags`, signal)) as {
      models?: { name?: string }[];
    };
    const names = (body.models ?? []).map((m) => m.name ?? '').filter(Boolean);
    const picked = pickModels(names);
    if (!picked) {
      return {
        ...base,
        found: `Ollama at ${url} has no chat model pulled`,
        needs: 'pull one: ollama pull llama3.2 (and qwen2.5-coder:1.5b for completion)',
      };
    }
    return {
      ...base,
      usable: true,
      found: `Ollama at ${url} with ${names.length} model(s)`,
      options: { url, model: picked.model, fim_model: picked.fim },
    };
  } catch {
    return {
      ...base,
      found: installed ? `ollama is installed (${installed}) but not running at ${url}` : '',
      needs: installed
        ? 'start it: ollama serve'
        : 'install Ollama (https://ollama.com) and run: ollama pull llama3.2',
    };
  }
}

async function llamaServer(
  d: DetectDeps,
  getJson: GetJson,
  signal: AbortSignal,
): Promise<Candidate> {
  const url = llamaServerUrl(d.env);
  const base: Candidate = { id: 'llamacpp', kind: 'llamacpp', usable: false, found: '' };
  const installed = d.which('llama-server');
  if (url) {
    try {
      // llama-server's /health answers 200 {"status":"ok"} once its model is loaded
      // (tools/server/server.cpp, handle_health), 503 while loading.
      const body = (await getJson(`${url}/health`, signal)) as { status?: string };
      if (body.status === 'ok') {
        return { ...base, usable: true, found: `llama-server at ${url}`, options: { url } };
      }
    } catch {
      // not answering: report what is installed
    }
  }
  return {
    ...base,
    found: installed ? `llama-server is installed (${installed}) but not running` : '',
    needs: installed
      ? "start it with a model (llama-server -m model.gguf), or let Rune run it: providers.llamacpp = { serve = { model = '/path/to/model.gguf' } }"
      : 'install llama.cpp (https://github.com/ggml-org/llama.cpp) and run llama-server -m model.gguf',
  };
}

async function keyed(d: DetectDeps, id: 'anthropic' | 'openai'): Promise<Candidate> {
  const variable = id === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY';
  // The SDKs' own base URL variables (anthropic-sdk-typescript's ANTHROPIC_BASE_URL,
  // openai-node's OPENAI_BASE_URL): a proxy or gateway the user set for every client.
  const baseUrl = d.env[id === 'anthropic' ? 'ANTHROPIC_BASE_URL' : 'OPENAI_BASE_URL']?.trim();
  const options = baseUrl ? { url: baseUrl } : {};
  const base: Candidate = { id, kind: id, usable: false, found: '' };
  if (d.env[variable]?.trim()) {
    return { ...base, usable: true, found: `${variable} is set`, options };
  }
  if (await (d.storedKey?.(id) ?? Promise.resolve(false)).catch(() => false)) {
    return {
      ...base,
      usable: true,
      found: `a key stored with ${(d.signIn ?? runeAuth)(id)}`,
      options,
    };
  }
  return { ...base, needs: `set ${variable}, or store a key with ${(d.signIn ?? runeAuth)(id)}` };
}

async function copilot(d: DetectDeps): Promise<Candidate> {
  const base: Candidate = { id: 'copilot', kind: 'copilot', usable: false, found: '' };
  const source = await (d.copilotToken?.() ?? Promise.resolve(undefined)).catch(() => undefined);
  if (source) return { ...base, usable: true, found: `signed in (${source})`, options: {} };
  return {
    ...base,
    needs: `sign in with ${(d.signIn ?? runeAuth)('copilot')} (needs a Copilot subscription)`,
  };
}

function zeke(d: DetectDeps): Candidate {
  const base: Candidate = { id: 'zeke', kind: 'zeke', usable: false, found: '' };
  const bin = d.which('zeke');
  if (bin) return { ...base, usable: true, found: `zeke on PATH (${bin})`, options: {} };
  return { ...base, needs: 'install zeke (https://github.com/ghostkellz/zeke) and put it on PATH' };
}

/** Runs every check at once; a check still running at the deadline counts as not found. */
export async function detectProviders(d: DetectDeps): Promise<Detection> {
  const get = d.fetch ? fetchJson(d.fetch) : httpJson;
  const ms = d.timeoutMs ?? 800;
  const signal = AbortSignal.timeout(ms);
  const bounded = (id: string, kind: Kind, p: Promise<Candidate>): Promise<Candidate> =>
    new Promise((resolve) => {
      const late = (): void =>
        resolve({ id, kind, usable: false, found: `no answer within ${ms} ms` });
      const t = setTimeout(late, ms + 50);
      p.then(
        (c) => resolve(c),
        () => late(),
      ).finally(() => clearTimeout(t));
    });
  const candidates = await Promise.all([
    bounded('anthropic', 'anthropic', keyed(d, 'anthropic')),
    bounded('openai', 'openai', keyed(d, 'openai')),
    bounded('copilot', 'copilot', copilot(d)),
    bounded('ollama', 'ollama', ollama(d, get, signal)),
    bounded('llamacpp', 'llamacpp', llamaServer(d, get, signal)),
    Promise.resolve(zeke(d)),
  ]);
  const best = (order: string[]) =>
    order.map((id) => candidates.find((c) => c.id === id && c.usable)).find(Boolean);
  const chat = best(CHAT_ORDER);
  const completion = best(COMPLETION_ORDER);
  return {
    candidates,
    ...(chat ? { chat: { id: chat.id, why: chat.found } } : {}),
    ...(completion ? { completion: { id: completion.id, why: completion.found } } : {}),
  };
}

/**
 * The config to build the registry from: the user's, with the detected providers and
 * picks (or `choice`, a provider id picked in :RuneSetup) filled in.
 */
export function detectedConfig(
  config: Readonly<Record<string, unknown>>,
  det: Detection,
  choice?: string,
): Record<string, unknown> {
  const usable = det.candidates.filter((c) => c.usable);
  const providers = Object.fromEntries(usable.map((c) => [c.id, c.options ?? {}]));
  const picked = choice && usable.some((c) => c.id === choice) ? choice : undefined;
  const chat = picked ?? det.chat?.id;
  const completion = picked ?? det.completion?.id;
  const section = (name: string, id: string | undefined) => {
    const s = config[name];
    const own = s && typeof s === 'object' ? (s as Record<string, unknown>) : {};
    return id && (own.provider === undefined || own.provider === null)
      ? { ...own, provider: id }
      : own;
  };
  return {
    ...config,
    providers,
    chat: section('chat', chat),
    completion: section('completion', completion),
  };
}

/** The first line of the guidance (chat shows the guidance whole when it sees it). */
export const NO_MODEL = 'No model found on this machine: run :RuneSetup to pick one, or';

/** Guidance for a machine where nothing usable was found: what to install or set, one a line. */
export function guidance(det: Detection): string {
  const lines = det.candidates
    .filter((c) => !c.usable && c.needs)
    .map((c) => `- ${c.kind}: ${c.found ? `${c.found}; ` : ''}${c.needs}`);
  return [`${NO_MODEL}:`, ...lines].join('\n');
}

/**
 * Whether the user chose providers (a `providers` table, or a provider named by
 * `default_provider`, `chat.provider` or `completion.provider`); else Rune detects one.
 */
export function hasConfiguredProviders(config: Readonly<Record<string, unknown>>): boolean {
  const p = config.providers;
  if (p && typeof p === 'object' && Object.keys(p).length > 0) return true;
  const named = (v: unknown) => typeof v === 'string' && v !== '';
  const section = (name: string) => {
    const s = config[name];
    return s && typeof s === 'object' ? (s as Record<string, unknown>).provider : undefined;
  };
  return named(config.default_provider) || named(section('chat')) || named(section('completion'));
}

/** The setup() call that makes a detected or picked provider permanent, as Lua lines. */
export function setupSnippet(c: Candidate): string[] {
  const opts = Object.entries(c.options ?? {})
    .map(([k, v]) => `${k} = ${JSON.stringify(v).replace(/^"|"$/g, "'")}`)
    .join(', ');
  return ["require('rune').setup({", `  providers = { ${c.id} = { ${opts} } },`, '})'];
}
