import * as http from 'node:http';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  AbortError,
  AuthError,
  BadRequestError,
  ProviderUnavailableError,
  TimeoutError,
} from '../core/errors.js';
import type { SecretStore } from './secret-store.js';
import { openBrowser as defaultOpenBrowser } from './browser.js';

/** An OAuth 2 authorization server and this client's registration with it. */
export interface OAuthServerConfig {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  /** RFC 7009 revocation endpoint, when the server has one. */
  revocationEndpoint?: string;
  clientId: string;
  /** Only for confidential clients; public clients rely on PKCE alone. */
  clientSecret?: string;
  /** How the secret is sent (default `client_secret_basic`). */
  tokenAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  scopes?: string[];
  /** Extra authorization-request parameters, e.g. `audience` or `resource`. */
  extraParams?: Record<string, string>;
}

/** Tokens as stored: `expiresAt` is an epoch in ms. */
export interface TokenSet {
  accessToken: string;
  tokenType: string;
  refreshToken?: string;
  expiresAt?: number;
  scope?: string;
}

/** How a sign-in reaches the user. */
export interface InteractionOptions {
  /** Opens the URL in a browser; resolves false when it could not (default: xdg-open/open). */
  openBrowser?: (url: string) => Promise<boolean>;
  /** Shown the authorization URL, and whether a browser was opened for it. */
  onPrompt?: (url: string, opened: boolean) => void;
  /** How long to wait for the browser to come back (default 5 minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Port for the loopback callback (default: a random free one). */
  port?: number;
}

export interface HttpOptions {
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** base64url without padding. */
function b64url(buf: Buffer): string {
  return buf.toString('base64url');
}

/** A PKCE verifier (43 chars from 32 random bytes) and its S256 challenge (RFC 7636). */
export function createPkcePair(): { verifier: string; challenge: string } {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title>` +
  `<body style="font-family:sans-serif;margin:3em"><h1>${title}</h1><p>${text}</p></body>`;

/** The loopback redirect target of an authorization-code flow. */
export interface CallbackServer {
  /** `http://127.0.0.1:<port>/callback` */
  readonly redirectUri: string;
  readonly port: number;
  /**
   * Resolves with the authorization code of the first callback carrying
   * `state`; rejects on a state mismatch, an error answer, the timeout, or
   * the signal. The server keeps listening until `close()`.
   */
  waitForCode(opts: { state: string; timeoutMs?: number; signal?: AbortSignal }): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the callback server on 127.0.0.1 (never another interface), on
 * `port` or a random free one. Only `GET /callback` is answered.
 */
export async function startCallbackServer(port = 0): Promise<CallbackServer> {
  type Waiter = { state: string; resolve(code: string): void; reject(err: Error): void };
  let waiter: Waiter | undefined;

  const handle = (params: URLSearchParams, res: http.ServerResponse) => {
    const w = waiter;
    if (!w) {
      res.writeHead(409, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE('No sign-in in progress', 'Start the sign-in again from Neovim.'));
      return;
    }
    const state = params.get('state') ?? '';
    if (!sameString(state, w.state)) {
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE('Sign-in refused', 'This answer does not belong to the sign-in Rune started.'));
      w.reject(
        new AuthError(
          'The sign-in answer did not match the request Rune sent (state mismatch), so it was ' +
            'ignored for safety. Start the sign-in again.',
        ),
      );
      return;
    }
    const error = params.get('error');
    const code = params.get('code');
    if (error || !code) {
      const desc = params.get('error_description');
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE('Sign-in failed', 'Return to Neovim for details.'));
      w.reject(
        new AuthError(
          `The authorization server refused the sign-in: ${error ?? 'no code in the answer'}` +
            `${desc ? ` (${desc})` : ''}. Check the account and scopes, then try again.`,
        ),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE('Signed in', 'Rune is signed in. You can close this tab.'));
    w.resolve(code);
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    handle(url.searchParams, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as { port: number }).port;

  return {
    redirectUri: `http://127.0.0.1:${bound}/callback`,
    port: bound,
    waitForCode({ state, timeoutMs = 300_000, signal }) {
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          finish();
          reject(
            new TimeoutError(
              `No sign-in answer came back from the browser within ${Math.round(timeoutMs / 1000)} s. ` +
                'Run the sign-in again and finish it in the browser (open the printed URL if no ' +
                'browser opened).',
              'total',
            ),
          );
        }, timeoutMs);
        const onAbort = () => {
          finish();
          reject(new AbortError('The sign-in was cancelled.'));
        };
        const finish = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          waiter = undefined;
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        waiter = {
          state,
          resolve: (code) => {
            finish();
            resolve(code);
          },
          reject: (err) => {
            finish();
            reject(err);
          },
        };
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

interface TokenResponse {
  access_token?: string;
  token_type?: string;
  refresh_token?: string;
  expires_in?: number | string;
  scope?: string;
  error?: string;
  error_description?: string;
}

async function postForm(
  config: OAuthServerConfig,
  url: string,
  params: Record<string, string>,
  opts: HttpOptions,
): Promise<{ status: number; body: TokenResponse }> {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (config.clientSecret && config.tokenAuthMethod !== 'client_secret_post') {
    const basic = `${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
  } else {
    body.set('client_id', config.clientId);
    if (config.clientSecret) body.set('client_secret', config.clientSecret);
  }
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url, { method: 'POST', headers, body, signal: opts.signal });
  } catch (err) {
    if (opts.signal?.aborted) throw new AbortError(undefined, { cause: err });
    throw new ProviderUnavailableError(
      `Could not reach the authorization server at ${url}: ${(err as Error).message}. ` +
        'Check the network connection and the URL, then try again.',
      url,
      { cause: err },
    );
  }
  const text = await res.text();
  let parsed: TokenResponse = {};
  try {
    parsed = text ? (JSON.parse(text) as TokenResponse) : {};
  } catch {
    // Some servers answer errors in HTML; the status code tells enough.
  }
  return { status: res.status, body: parsed };
}

function toTokenSet(body: TokenResponse, now: number, previous?: TokenSet): TokenSet {
  if (!body.access_token) {
    throw new AuthError('The authorization server answered without an access token.');
  }
  const expiresIn = Number(body.expires_in);
  return {
    accessToken: body.access_token,
    tokenType: body.token_type ?? 'Bearer',
    // Rotation: a new refresh token replaces the old one; servers that do not rotate omit it.
    refreshToken: body.refresh_token ?? previous?.refreshToken,
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? now + expiresIn * 1000 : undefined,
    scope: body.scope ?? previous?.scope,
  };
}

function tokenError(what: string, url: string, status: number, body: TokenResponse): Error {
  const detail = body.error
    ? `${body.error}${body.error_description ? `: ${body.error_description}` : ''}`
    : `HTTP ${status}`;
  if (status >= 500 || status === 0) {
    return new ProviderUnavailableError(
      `${what} failed at ${url} (${detail}). The authorization server has a problem; try again later.`,
      url,
      { status },
    );
  }
  if (body.error && body.error !== 'invalid_grant' && body.error !== 'invalid_client') {
    return new BadRequestError(`${what} was refused (${detail}). Check the OAuth configuration.`, {
      status,
    });
  }
  return new AuthError(`${what} was refused (${detail}). Sign in again.`);
}

/** Trades an authorization code (and its PKCE verifier) for tokens. */
export async function exchangeCode(
  config: OAuthServerConfig,
  args: { code: string; verifier: string; redirectUri: string },
  opts: HttpOptions & { now?: () => number } = {},
): Promise<TokenSet> {
  const { status, body } = await postForm(
    config,
    config.tokenEndpoint,
    {
      grant_type: 'authorization_code',
      code: args.code,
      code_verifier: args.verifier,
      redirect_uri: args.redirectUri,
    },
    opts,
  );
  if (status !== 200) throw tokenError('The code exchange', config.tokenEndpoint, status, body);
  return toTokenSet(body, (opts.now ?? Date.now)());
}

/** Uses the refresh token; a rotated refresh token in the answer replaces the old one. */
export async function refreshTokens(
  config: OAuthServerConfig,
  tokens: TokenSet,
  opts: HttpOptions & { now?: () => number } = {},
): Promise<TokenSet> {
  if (!tokens.refreshToken) throw new AuthError('The session has expired. Sign in again.');
  const params: Record<string, string> = {
    grant_type: 'refresh_token',
    refresh_token: tokens.refreshToken,
  };
  if (config.scopes?.length) params.scope = config.scopes.join(' ');
  const { status, body } = await postForm(config, config.tokenEndpoint, params, opts);
  if (status !== 200) throw tokenError('Refreshing the token', config.tokenEndpoint, status, body);
  return toTokenSet(body, (opts.now ?? Date.now)(), tokens);
}

/** Revokes one token (RFC 7009). Servers answer 200 even for unknown tokens. */
export async function revokeToken(
  config: OAuthServerConfig,
  token: string,
  hint: 'access_token' | 'refresh_token',
  opts: HttpOptions = {},
): Promise<void> {
  if (!config.revocationEndpoint) return;
  const { status, body } = await postForm(
    config,
    config.revocationEndpoint,
    { token, token_type_hint: hint },
    opts,
  );
  if (status !== 200)
    throw tokenError('Revoking the token', config.revocationEndpoint, status, body);
}

/** The authorization URL for a PKCE request. */
export function authorizationUrl(
  config: OAuthServerConfig,
  args: { redirectUri: string; state: string; challenge: string },
): string {
  const url = new URL(config.authorizationEndpoint);
  const q = url.searchParams;
  q.set('response_type', 'code');
  q.set('client_id', config.clientId);
  q.set('redirect_uri', args.redirectUri);
  q.set('state', args.state);
  q.set('code_challenge', args.challenge);
  q.set('code_challenge_method', 'S256');
  if (config.scopes?.length) q.set('scope', config.scopes.join(' '));
  for (const [k, v] of Object.entries(config.extraParams ?? {})) q.set(k, v);
  return url.toString();
}

/**
 * Runs the authorization-code flow with PKCE: starts the loopback callback
 * server, opens the browser (or prints the URL), checks the returned state,
 * and exchanges the code for tokens.
 */
export async function authorize(
  config: OAuthServerConfig,
  opts: InteractionOptions & HttpOptions = {},
): Promise<TokenSet> {
  const server = await startCallbackServer(opts.port ?? 0);
  try {
    const { verifier, challenge } = createPkcePair();
    const state = b64url(randomBytes(16));
    const url = authorizationUrl(config, { redirectUri: server.redirectUri, state, challenge });
    const code = server.waitForCode({ state, timeoutMs: opts.timeoutMs, signal: opts.signal });
    code.catch(() => undefined);
    const opened = await (opts.openBrowser ?? defaultOpenBrowser)(url).catch(() => false);
    opts.onPrompt?.(url, opened);
    return await exchangeCode(
      config,
      { code: await code, verifier, redirectUri: server.redirectUri },
      opts,
    );
  } finally {
    await server.close();
  }
}

/** How long before an access token expires it is renewed. */
export const REFRESH_SKEW_MS = 60_000;

export interface OAuthSessionOptions {
  config: OAuthServerConfig;
  store: SecretStore;
  /** Secret-store account holding the token set (see `oauthAccount`). */
  account: string;
  /** Refresh this long before expiry (default 60 s). */
  refreshSkewMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * One OAuth sign-in kept in the secret store: `login()` runs the PKCE flow,
 * `accessToken()` hands out a token that is valid for at least the refresh
 * skew (refreshing it first when needed — one refresh at a time, saving the
 * rotated refresh token), `logout()` revokes and forgets.
 */
export class OAuthSession {
  private refreshing: Promise<TokenSet> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: OAuthSessionOptions) {
    this.now = opts.now ?? Date.now;
  }

  async login(interaction: InteractionOptions = {}): Promise<TokenSet> {
    const tokens = await authorize(this.opts.config, {
      ...interaction,
      fetch: this.opts.fetch,
      now: this.now,
    } as InteractionOptions & HttpOptions);
    await this.save(tokens);
    return tokens;
  }

  /** The stored tokens, if any (not refreshed). */
  async tokens(): Promise<TokenSet | undefined> {
    const raw = await this.opts.store.get(this.opts.account);
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as TokenSet;
    } catch {
      return undefined;
    }
  }

  /**
   * A valid access token; throws AuthError when there is no sign-in or it cannot be renewed.
   * `force`: renew it even if it has not expired (the server refused it).
   */
  async accessToken(opts: { signal?: AbortSignal; force?: boolean } = {}): Promise<string> {
    const tokens = await this.tokens();
    if (!tokens) throw new AuthError('Not signed in. Sign in first with `rune auth login`.');
    const skew = this.opts.refreshSkewMs ?? REFRESH_SKEW_MS;
    if (!opts.force && (tokens.expiresAt === undefined || tokens.expiresAt - skew > this.now())) {
      return tokens.accessToken;
    }
    this.refreshing ??= this.refresh(tokens, opts.signal).finally(() => {
      this.refreshing = undefined;
    });
    return (await this.refreshing).accessToken;
  }

  private async refresh(tokens: TokenSet, signal?: AbortSignal): Promise<TokenSet> {
    try {
      const next = await refreshTokens(this.opts.config, tokens, {
        fetch: this.opts.fetch,
        signal,
        now: this.now,
      });
      await this.save(next);
      return next;
    } catch (err) {
      // A refused refresh token is dead for good; keeping it would fail the same way forever.
      if (err instanceof AuthError) await this.opts.store.delete(this.opts.account);
      throw err;
    }
  }

  /** Revokes the tokens at the server (when it has a revocation endpoint) and forgets them. */
  async logout(opts: { signal?: AbortSignal } = {}): Promise<{ revoked: boolean }> {
    const tokens = await this.tokens();
    if (!tokens) return { revoked: false };
    const http = { fetch: this.opts.fetch, signal: opts.signal };
    try {
      if (tokens.refreshToken) {
        await revokeToken(this.opts.config, tokens.refreshToken, 'refresh_token', http);
      }
      await revokeToken(this.opts.config, tokens.accessToken, 'access_token', http);
    } catch (err) {
      await this.opts.store.delete(this.opts.account);
      throw new ProviderUnavailableError(
        `Signed out locally (the tokens are forgotten), but revoking them at the server failed: ` +
          `${(err as Error).message} Revoke the app's access in the provider's account settings.`,
        this.opts.config.revocationEndpoint,
        { cause: err },
      );
    }
    await this.opts.store.delete(this.opts.account);
    return { revoked: Boolean(this.opts.config.revocationEndpoint) };
  }

  private async save(tokens: TokenSet): Promise<void> {
    await this.opts.store.set(this.opts.account, JSON.stringify(tokens));
  }
}
