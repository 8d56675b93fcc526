import { randomBytes } from 'node:crypto';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { StateError } from '../core/errors.js';
import { openBrowser as defaultOpenBrowser } from './browser.js';
import {
  REFRESH_SKEW_MS,
  startCallbackServer,
  type CallbackServer,
  type InteractionOptions,
} from './oauth.js';
import { oauthAccount, type SecretStore } from './secret-store.js';

/** What is kept per MCP server in the secret store (one JSON secret). */
interface McpAuthRecord {
  tokens?: OAuthTokens;
  client?: OAuthClientInformationMixed;
  /** True when `client` came from dynamic registration (it is tied to `port`). */
  registered?: boolean;
  port?: number;
  verifier?: string;
  /** When `tokens.access_token` expires (epoch ms), from the `expires_in` it came with. */
  expiresAt?: number;
}

export interface McpOAuthProviderOptions extends Omit<InteractionOptions, 'port' | 'signal'> {
  store: SecretStore;
  /** The MCP server's name in `mcpServers`; tokens are filed under `oauth/mcp:<name>`. */
  server: string;
  /** A pre-registered client; without one the SDK registers dynamically. */
  client?: { clientId: string; clientSecret?: string };
  /** Requested scope, space-separated. */
  scope?: string;
  /**
   * The MCP server's URL. When given, the provider finishes the sign-in by itself once
   * the browser comes back (it runs the SDK's code exchange); `authorized()` resolves then.
   */
  serverUrl?: string | URL;
  /**
   * The MCP server's URL for renewing an access token shortly before it expires, when
   * the caller finishes sign-ins itself (`finishAuth`); defaults to `serverUrl`.
   */
  renewUrl?: string | URL;
  /** Renew this long before the access token expires (default 60 s). */
  refreshSkewMs?: number;
  now?: () => number;
}

/**
 * The MCP SDK's `OAuthClientProvider`, backed by Rune's secret store and the
 * loopback callback server. Give it to a Streamable HTTP (or SSE) transport:
 *
 * ```ts
 * const auth = new McpOAuthProvider({ store, server: 'linear', serverUrl: url });
 * const transport = new StreamableHTTPClientTransport(url, { authProvider: auth });
 * try { await client.connect(transport); }
 * catch (e) {
 *   if (!(e instanceof UnauthorizedError)) throw e;
 *   await auth.authorized();   // the user signed in in the browser; tokens are stored
 *   await client.connect(new StreamableHTTPClientTransport(url, { authProvider: auth }));
 * }
 * await auth.dispose();
 * ```
 *
 * The SDK discovers the authorization server, registers, builds the PKCE
 * request and refreshes tokens; this class stores what it is given, opens
 * the browser and receives the redirect (state checked, timeout applied).
 * Without `serverUrl`, pass `await waitForAuthorizationCode()` to the
 * transport's `finishAuth()` instead of awaiting `authorized()`.
 */
export class McpOAuthProvider implements OAuthClientProvider {
  private server: CallbackServer | undefined;
  private record: McpAuthRecord = {};
  private expectedState: string | undefined;
  private pendingCode: Promise<string> | undefined;
  private pendingAuth: Promise<void> | undefined;
  private loaded: Promise<void> | undefined;
  private renewing: Promise<void> | undefined;
  private readonly account: string;
  /**
   * Why the stored sign-in could not be renewed (its refresh token was refused), until
   * the sign-in that replaces it is asked for; the tokens are forgotten by then.
   */
  renewalRefused: string | undefined;

  constructor(private readonly opts: McpOAuthProviderOptions) {
    this.account = oauthAccount(`mcp:${opts.server}`);
  }

  /**
   * Loads the stored record and binds the callback port: the one used before
   * when a dynamic registration is tied to it, else a random one.
   */
  async prepare(): Promise<void> {
    await this.load();
    if (this.server) return;
    if (this.record.port) {
      this.server = await startCallbackServer(this.record.port).catch(() => undefined);
    }
    if (!this.server) {
      this.server = await startCallbackServer(0);
      if (this.record.registered && this.record.port !== this.server.port) {
        // The registered redirect URI names the old port; register again.
        this.record.client = undefined;
        this.record.registered = false;
      }
      this.record.port = this.server.port;
      await this.persist();
    }
  }

  /** Reads the stored record once. */
  private load(): Promise<void> {
    this.loaded ??= this.opts.store.get(this.account).then((raw) => {
      this.record = raw ? (JSON.parse(raw) as McpAuthRecord) : {};
    });
    return this.loaded;
  }

  private bound(): CallbackServer {
    if (!this.server) throw new StateError('McpOAuthProvider.prepare() must be awaited first.');
    return this.server;
  }

  get redirectUrl(): string {
    // The SDK reads this (to learn that the flow is interactive) before its first async
    // call into the provider; every use that matters comes after `clientInformation()`,
    // which binds the port.
    return this.server?.redirectUri ?? 'http://127.0.0.1/callback';
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'Rune (Neovim)',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this.opts.client?.clientSecret ? 'client_secret_post' : 'none',
      ...(this.opts.scope ? { scope: this.opts.scope } : {}),
    };
  }

  state(): string {
    this.expectedState = randomBytes(16).toString('base64url');
    return this.expectedState;
  }

  /** Called by the SDK before it registers or authorizes: binds the callback port first. */
  async clientInformation(): Promise<OAuthClientInformationMixed | undefined> {
    await this.prepare();
    if (this.opts.client) {
      return {
        client_id: this.opts.client.clientId,
        ...(this.opts.client.clientSecret ? { client_secret: this.opts.client.clientSecret } : {}),
      };
    }
    return this.record.client;
  }

  async saveClientInformation(info: OAuthClientInformationMixed): Promise<void> {
    this.record.client = info;
    this.record.registered = true;
    await this.persist();
  }

  /**
   * The stored tokens; an access token that expires within the refresh skew is
   * renewed first (one renewal at a time), so requests never carry a stale one.
   * A 401 is handled by the SDK, which refreshes through the same record.
   */
  async tokens(): Promise<OAuthTokens | undefined> {
    await this.load();
    const { tokens, expiresAt } = this.record;
    const now = (this.opts.now ?? Date.now)();
    const skew = this.opts.refreshSkewMs ?? REFRESH_SKEW_MS;
    const url = this.opts.renewUrl ?? this.opts.serverUrl;
    if (tokens?.refresh_token && url && expiresAt && expiresAt - skew <= now) {
      this.renewing ??= this.renew(url, tokens.refresh_token).finally(() => {
        this.renewing = undefined;
      });
      await this.renewing;
    }
    return this.record.tokens;
  }

  async saveTokens(tokens: OAuthTokens): Promise<void> {
    // Kept as given (the SDK stamps its own fields on them); the expiry beside them.
    this.record.tokens = tokens;
    const ttl = Number(tokens.expires_in);
    this.record.expiresAt =
      Number.isFinite(ttl) && ttl > 0 ? (this.opts.now ?? Date.now)() + ttl * 1000 : undefined;
    await this.persist();
  }

  /**
   * Refreshes the access token with the SDK's own discovery and token request. A
   * refusal forgets the tokens (the next request then starts a browser sign-in) and
   * is kept for the sign-in prompt; a network failure keeps them (the request may still pass, or
   * its 401 leads the SDK to refresh again).
   */
  private async renew(serverUrl: string | URL, refreshToken: string): Promise<void> {
    const sdk = await import('@modelcontextprotocol/sdk/client/auth.js');
    const { OAuthError, ServerError } =
      await import('@modelcontextprotocol/sdk/server/auth/errors.js');
    const client = await this.clientInformation();
    if (!client) return;
    try {
      const info = await sdk.discoverOAuthServerInfo(serverUrl);
      const resource = await sdk.selectResourceURL(serverUrl, this, info.resourceMetadata);
      const next = await sdk.refreshAuthorization(info.authorizationServerUrl, {
        metadata: info.authorizationServerMetadata,
        clientInformation: client,
        refreshToken,
        ...(resource ? { resource } : {}),
      });
      await this.saveTokens({ ...next, issuer: String(info.authorizationServerUrl) });
    } catch (err) {
      if (!(err instanceof OAuthError) || err instanceof ServerError) return;
      await this.refused(err.message);
    }
  }

  /** The refresh token was refused: forget the tokens and keep the reason for the prompt. */
  private async refused(reason: string): Promise<void> {
    if (!this.record.tokens) return;
    this.record.tokens = undefined;
    this.record.expiresAt = undefined;
    this.renewalRefused = reason;
    await this.persist();
  }

  async redirectToAuthorization(url: URL): Promise<void> {
    const server = this.bound();
    const state = url.searchParams.get('state') ?? this.expectedState;
    if (!state) throw new StateError('The authorization URL has no state parameter.');
    this.pendingCode = server.waitForCode({ state, timeoutMs: this.opts.timeoutMs });
    this.pendingCode.catch(() => undefined);
    const serverUrl = this.opts.serverUrl;
    if (serverUrl) {
      const code = this.pendingCode;
      this.pendingAuth = code.then(async (authorizationCode) => {
        // Loaded here, on a sign-in, rather than at host start.
        const { auth } = await import('@modelcontextprotocol/sdk/client/auth.js');
        const r = await auth(this, { serverUrl, authorizationCode });
        if (r !== 'AUTHORIZED') {
          throw new StateError(`The sign-in to ${this.opts.server} did not complete (${r}).`);
        }
      });
      this.pendingAuth.catch(() => undefined);
    }
    const opened = await (this.opts.openBrowser ?? defaultOpenBrowser)(url.toString()).catch(
      () => false,
    );
    this.opts.onPrompt?.(url.toString(), opened);
  }

  /** The code the browser brought back after `redirectToAuthorization`; pass it to `finishAuth`. */
  waitForAuthorizationCode(): Promise<string> {
    if (!this.pendingCode) {
      return Promise.reject(new StateError('No authorization is in progress for this server.'));
    }
    return this.pendingCode;
  }

  /**
   * Resolves once the sign-in started by `redirectToAuthorization` has finished and the
   * tokens are stored (needs `serverUrl`); rejects with why it failed.
   */
  authorized(): Promise<void> {
    if (!this.pendingAuth) {
      return Promise.reject(
        new StateError(
          this.opts.serverUrl
            ? 'No authorization is in progress for this server.'
            : 'authorized() needs the serverUrl option.',
        ),
      );
    }
    return this.pendingAuth;
  }

  async saveCodeVerifier(verifier: string): Promise<void> {
    this.record.verifier = verifier;
    await this.persist();
  }

  codeVerifier(): string {
    if (!this.record.verifier) throw new StateError('No PKCE verifier was saved for this sign-in.');
    return this.record.verifier;
  }

  async invalidateCredentials(
    scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery',
  ): Promise<void> {
    // The SDK drops the tokens when the server refuses their refresh (invalid_grant).
    if (scope === 'tokens' && this.record.tokens?.refresh_token) {
      await this.refused('the authorization server refused the refresh token');
    }
    if (scope === 'all' || scope === 'tokens') {
      this.record.tokens = undefined;
      this.record.expiresAt = undefined;
    }
    if (scope === 'all' || scope === 'client') {
      this.record.client = undefined;
      this.record.registered = false;
    }
    if (scope === 'all' || scope === 'verifier') this.record.verifier = undefined;
    await this.persist();
  }

  /** Forgets everything stored for this server. */
  async forget(): Promise<void> {
    await this.load();
    this.record = {};
    await this.opts.store.delete(this.account);
  }

  /** Closes the callback server. */
  async dispose(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await s?.close();
  }

  private async persist(): Promise<void> {
    await this.opts.store.set(this.account, JSON.stringify(this.record));
  }
}
