/**
 * GitHub sign-in for Copilot: the OAuth device flow (RFC 8628 as GitHub runs
 * it), the user lookup, and the exchange of the GitHub token for a short-lived
 * Copilot token. The exchange (`GET /copilot_internal/v2/token`) is not a
 * documented public API: it is what the Copilot editor plugins and
 * CopilotChat.nvim use, and it may change without notice.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AbortError, AuthError, ProviderUnavailableError, TimeoutError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { COPILOT_GITHUB_ACCOUNT, type SecretStore } from './secret-store.js';

/** The OAuth app of the GitHub Copilot editor plugins (the one CopilotChat.nvim signs in with). */
export const COPILOT_CLIENT_ID = 'Iv1.b507a08c87ecfe98';

export interface GitHubOptions {
  /** Web origin for the device flow (default https://github.com). */
  githubUrl?: string;
  /** REST API origin (default https://api.github.com). */
  apiUrl?: string;
  clientId?: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** What the user must do: open `verificationUri` and type `userCode`. */
export interface DeviceCode {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  /** Seconds the code stays valid. */
  expiresIn: number;
  /** Seconds between polls. */
  interval: number;
}

const trim = (u: string) => u.replace(/\/+$/, '');

/** Headers the Copilot services expect from an editor integration. */
export function copilotHeaders(editorVersion = 'Neovim/unknown'): Record<string, string> {
  return {
    'editor-version': editorVersion,
    'editor-plugin-version': `rune.nvim/${VERSION}`,
    'copilot-integration-id': 'vscode-chat',
    'user-agent': `rune.nvim/${VERSION}`,
  };
}

async function call(
  url: string,
  init: RequestInit,
  opts: GitHubOptions,
  what: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url, { ...init, signal: opts.signal });
  } catch (err) {
    if (opts.signal?.aborted) throw new AbortError(undefined, { cause: err });
    throw new ProviderUnavailableError(
      `${what}: could not reach ${new URL(url).origin} (${(err as Error).message}). Check the ` +
        'network connection (or the proxy), then try again.',
      url,
      { cause: err },
    );
  }
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // Not JSON: the status says what happened.
  }
  return { status: res.status, body };
}

/** Starts the device flow: the code to show to the user. */
export async function requestDeviceCode(opts: GitHubOptions = {}): Promise<DeviceCode> {
  const url = `${trim(opts.githubUrl ?? 'https://github.com')}/login/device/code`;
  const { status, body } = await call(
    url,
    {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: opts.clientId ?? COPILOT_CLIENT_ID, scope: 'read:user' }),
    },
    opts,
    'GitHub sign-in',
  );
  if (status !== 200 || typeof body.device_code !== 'string') {
    throw new ProviderUnavailableError(
      `GitHub sign-in: ${url} answered HTTP ${status}${body.error ? ` (${String(body.error)})` : ''}. Try again later.`,
      url,
      { status },
    );
  }
  return {
    deviceCode: body.device_code,
    userCode: String(body.user_code),
    verificationUri: String(body.verification_uri),
    expiresIn: Number(body.expires_in ?? 900),
    interval: Number(body.interval ?? 5),
  };
}

/**
 * Polls until the user has entered the code; resolves with the GitHub OAuth
 * token. Honours `slow_down`, stops at expiry, on refusal and on the signal.
 */
export async function pollDeviceToken(
  code: DeviceCode,
  opts: GitHubOptions & { sleep?: (ms: number, signal?: AbortSignal) => Promise<void> } = {},
): Promise<string> {
  const url = `${trim(opts.githubUrl ?? 'https://github.com')}/login/oauth/access_token`;
  const sleep = opts.sleep ?? defaultSleep;
  const deadline = Date.now() + code.expiresIn * 1000;
  let interval = code.interval;
  for (;;) {
    await sleep(interval * 1000, opts.signal);
    if (Date.now() > deadline) {
      throw new TimeoutError(
        `The GitHub code ${code.userCode} expired before it was entered. Run :RuneAuth copilot login again.`,
        'total',
      );
    }
    const { status, body } = await call(
      url,
      {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: opts.clientId ?? COPILOT_CLIENT_ID,
          device_code: code.deviceCode,
          grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        }),
      },
      opts,
      'GitHub sign-in',
    );
    if (typeof body.access_token === 'string' && body.access_token) return body.access_token;
    const error = typeof body.error === 'string' ? body.error : `HTTP ${status}`;
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      interval = Number(body.interval ?? interval + 5);
      continue;
    }
    if (error === 'expired_token') {
      throw new TimeoutError(
        `The GitHub code ${code.userCode} expired before it was entered. Run :RuneAuth copilot login again.`,
        'total',
      );
    }
    if (error === 'access_denied') {
      throw new AuthError('The GitHub sign-in was cancelled in the browser.', {
        provider: 'copilot',
      });
    }
    throw new AuthError(
      `GitHub refused the sign-in (${error}). Run :RuneAuth copilot login again.`,
      {
        provider: 'copilot',
      },
    );
  }
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError('The sign-in was cancelled.'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortError('The sign-in was cancelled.'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The login name the token belongs to. */
export async function fetchGitHubUser(token: string, opts: GitHubOptions = {}): Promise<string> {
  const url = `${trim(opts.apiUrl ?? 'https://api.github.com')}/user`;
  const { status, body } = await call(
    url,
    { headers: { accept: 'application/json', authorization: `token ${token}` } },
    opts,
    'GitHub user lookup',
  );
  if (status === 401) {
    throw new AuthError('GitHub refused the token. Run :RuneAuth copilot login again.', {
      provider: 'copilot',
    });
  }
  if (status !== 200 || typeof body.login !== 'string') {
    throw new ProviderUnavailableError(`GitHub user lookup: ${url} answered HTTP ${status}.`, url, {
      status,
    });
  }
  return body.login;
}

/** Where a GitHub token for Copilot was found. */
export interface FoundToken {
  token: string;
  source: string;
}

/**
 * The GitHub token for Copilot chat: the environment (`GH_COPILOT_TOKEN`,
 * `GITHUB_COPILOT_TOKEN`), then Rune's secret store (`:RuneAuth copilot`),
 * then the files the Copilot editor plugins write
 * (`~/.config/github-copilot/apps.json` or `hosts.json`).
 */
export async function findGitHubToken(
  opts: { env?: NodeJS.ProcessEnv; store?: Pick<SecretStore, 'get'>; configDir?: string } = {},
): Promise<FoundToken | undefined> {
  const env = opts.env ?? process.env;
  for (const name of ['GH_COPILOT_TOKEN', 'GITHUB_COPILOT_TOKEN']) {
    const v = env[name]?.trim();
    if (v) return { token: v, source: `the environment variable ${name}` };
  }
  const stored = await opts.store?.get(COPILOT_GITHUB_ACCOUNT).catch(() => undefined);
  if (stored) return { token: stored, source: "Rune's secret store" };
  const dir =
    opts.configDir ??
    path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'github-copilot');
  for (const file of ['apps.json', 'hosts.json']) {
    try {
      const data = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Record<
        string,
        { oauth_token?: string }
      >;
      for (const [key, v] of Object.entries(data)) {
        if (key.startsWith('github.com') && v?.oauth_token) {
          return { token: v.oauth_token, source: path.join(dir, file) };
        }
      }
    } catch {
      // absent or unreadable: try the next one
    }
  }
  return undefined;
}

/** A Copilot API token and where to send requests with it. */
export interface CopilotToken {
  token: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Base URL of the Copilot API (chat completions, models). */
  api: string;
}

/**
 * Exchanges the GitHub token for Copilot tokens and keeps the current one
 * until a minute before it expires; concurrent callers share one exchange.
 */
export class CopilotTokenSource {
  private current: CopilotToken | undefined;
  private pending: Promise<CopilotToken> | undefined;

  constructor(
    private readonly opts: {
      githubToken: () => Promise<FoundToken | undefined>;
      apiUrl?: string;
      fetch?: typeof fetch;
      headers?: Record<string, string>;
      now?: () => number;
    },
  ) {}

  /** Forgets the current token (e.g. after the API refused it). */
  invalidate(): void {
    this.current = undefined;
  }

  async get(signal?: AbortSignal): Promise<CopilotToken> {
    const now = (this.opts.now ?? Date.now)();
    if (this.current && this.current.expiresAt - 60_000 > now) return this.current;
    this.pending ??= this.exchange(signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async exchange(signal?: AbortSignal): Promise<CopilotToken> {
    const found = await this.opts.githubToken();
    if (!found) {
      throw new AuthError(
        'Copilot is not signed in: no GitHub token was found. Run :RuneAuth copilot login ' +
          '(or `rune auth login copilot`), or set GH_COPILOT_TOKEN.',
        { provider: 'copilot' },
      );
    }
    const url = `${trim(this.opts.apiUrl ?? 'https://api.github.com')}/copilot_internal/v2/token`;
    const { status, body } = await call(
      url,
      {
        headers: {
          accept: 'application/json',
          authorization: `token ${found.token}`,
          ...copilotHeaders(),
          ...this.opts.headers,
        },
      },
      { fetch: this.opts.fetch, signal },
      'Copilot token exchange',
    );
    if (status === 401) {
      throw new AuthError(
        `GitHub refused the token from ${found.source}. Run :RuneAuth copilot login to sign in again.`,
        { provider: 'copilot' },
      );
    }
    if (status === 403 || status === 404) {
      throw new AuthError(
        `The GitHub account of the token from ${found.source} has no Copilot access (HTTP ${status}). ` +
          'Check the subscription at https://github.com/settings/copilot.',
        { provider: 'copilot' },
      );
    }
    if (status !== 200 || typeof body.token !== 'string') {
      throw new ProviderUnavailableError(
        `Copilot token exchange: ${url} answered HTTP ${status}. Try again later.`,
        url,
        { status },
      );
    }
    const endpoints = (body.endpoints ?? {}) as { api?: string };
    const now = (this.opts.now ?? Date.now)();
    this.current = {
      token: body.token,
      expiresAt: typeof body.expires_at === 'number' ? body.expires_at * 1000 : now + 25 * 60_000,
      api: trim(endpoints.api ?? 'https://api.githubcopilot.com'),
    };
    return this.current;
  }
}
