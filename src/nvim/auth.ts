/**
 * Secrets and sign-in as a host service (`:RuneAuth`).
 *
 * Requests (all answer at once; long flows finish in the background and call
 * `require('rune.auth')._finished(provider, ok, message)`):
 * - `rune.auth.login(provider, secret?)` → `{ kind = 'need_secret', prompt }` for an
 *   API-key provider called without a secret (Lua asks with `inputsecret()` and calls
 *   again), `{ kind = 'stored' }`, `{ kind = 'device', user_code, verification_uri,
 *   opened }` for Copilot (GitHub device flow), `{ kind = 'browser', url, opened }` for
 *   an OAuth sign-in from `auth.oauth`.
 * - `rune.auth.logout(provider)` → `{ removed, revoked? }`.
 * - `rune.auth.status(provider?)` → `{ store, reason, entries = [{ provider, kind,
 *   signed_in, detail }] }`.
 * - `rune.auth.cancel(provider)` stops a sign-in that is waiting.
 * - `rune.copilot.install` / `rune.copilot.install_cancel` (src/nvim/copilot-install.ts).
 *
 * Adds the "auth" section to :checkhealth rune: the secret store in use and why, and
 * where the Copilot language server is (or how to install it).
 */
import { DisposableStore, toDisposable } from '../core/disposable.js';
import {
  AuthError,
  BadRequestError,
  ConfigError,
  StateError,
  toRuneError,
} from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { chooseSecretStore, type ChosenStore } from '../auth/choose.js';
import { parseAuthConfig, type AuthConfig } from '../auth/config.js';
import { FILE_STORE_PROTECTION } from '../auth/file-store.js';
import { COPILOT_INSTALL_HINT, SERVER_SOURCES, locateCopilotServer } from '../auth/copilot-ls.js';
import { copilotInstallCommands } from './copilot-install.js';
import { disposeSharedCopilotServers, sharedCopilotServer } from '../auth/copilot-service.js';
import { openBrowser } from '../auth/browser.js';
import {
  fetchGitHubUser,
  findGitHubToken,
  pollDeviceToken,
  requestDeviceCode,
} from '../auth/github.js';
import { OAuthSession } from '../auth/oauth.js';
import {
  COPILOT_GITHUB_ACCOUNT,
  apiKeyAccount,
  oauthAccount,
  type SecretStore,
} from '../auth/secret-store.js';
import type { HealthItem, ReadyHost } from './host.js';
import { defineModule, provide } from './module.js';

/** What the auth module provides: the secret store, OAuth tokens and Copilot's options. */
export interface AuthService {
  readonly config: AuthConfig;
  /**
   * The secret store as the provider registry's `keyring:` seam: `get(name)` waits for
   * the store to be chosen, and never lets a secret reach the log.
   */
  readonly secrets: { get(name: string): Promise<string | undefined> };
  /**
   * Access tokens of the `auth.oauth` sign-ins for providers with `api_key = 'oauth:name'`:
   * renewed before they expire, or when `force`d (the server refused one). When a sign-in
   * cannot be renewed the user is asked, once, with the reason, to sign in again.
   */
  oauthToken(name: string, opts: { force: boolean }): Promise<string>;
  /** The secret store itself (e.g. for the MCP hub's `McpOAuthProvider`), once chosen. */
  secretStore(): Promise<SecretStore>;
}

interface AuthState {
  config: AuthConfig;
  chosen: Promise<ChosenStore>;
  /** OAuth sessions in use by providers, by sign-in name (one refresh at a time each). */
  sessions: Map<string, OAuthSession>;
  /** Sign-ins whose end the user was told about (once, until a token works again). */
  told: Set<string>;
}

function authService(svc: AuthState, logger: Logger, warn: (message: string) => void): AuthService {
  return {
    config: svc.config,
    secrets: {
      async get(name) {
        const { store } = await svc.chosen;
        const v = await store.get(name);
        if (v) logger.addSecret(v);
        return v;
      },
    },
    async oauthToken(name, { force }) {
      const config = svc.config.oauth[name];
      if (!config) {
        throw new ConfigError(
          `auth.oauth.${name}`,
          `no OAuth sign-in named "${name}" is configured; describe it under auth.oauth`,
        );
      }
      let session = svc.sessions.get(name);
      if (!session) {
        session = new OAuthSession({
          config,
          store: (await svc.chosen).store,
          account: oauthAccount(name),
        });
        svc.sessions.set(name, session);
      }
      try {
        const token = await session.accessToken({ force });
        logger.addSecret(token);
        svc.told.delete(name);
        return token;
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        const message = `The sign-in to ${name} cannot be renewed (${err.message}); sign in again with :RuneAuth ${name}.`;
        if (!svc.told.has(name)) {
          svc.told.add(name);
          warn(message);
        }
        throw new AuthError(message, { cause: err });
      }
    },
    async secretStore() {
      return (await svc.chosen).store;
    },
  };
}

function providerNames(config: Readonly<Record<string, unknown>>): string[] {
  const p = config.providers;
  return p && typeof p === 'object' && !Array.isArray(p) ? Object.keys(p) : [];
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || !v.trim())
    throw new BadRequestError(`${what} must be a non-empty string.`);
  return v.trim();
}

function copilotServer(
  logger: Logger,
  cfg: AuthConfig['copilot'],
  editor: { name: string; version: string },
) {
  return sharedCopilotServer({
    ...(cfg.server ? { server: cfg.server } : {}),
    settings: cfg.settings,
    minIntervalMs: cfg.minIntervalMs,
    requestTimeoutMs: cfg.timeoutMs,
    editorInfo: editor,
    logger: logger.child({ component: 'copilot' }),
  });
}

/** The secret store of a running host (e.g. for the MCP hub's `McpOAuthProvider`). */
export async function hostSecretStore(host: ReadyHost): Promise<SecretStore> {
  const auth = host.service(authModule);
  if (!auth)
    throw new StateError('The secret store is off (the auth module did not start); see :RuneLog.');
  return auth.secretStore();
}

export const authModule = defineModule({
  name: 'auth',
  config: parseAuthConfig,
  activate(ctx) {
    const { host, config, logger } = ctx;
    const svc: AuthState = {
      config,
      chosen: chooseSecretStore({
        backend: config.store,
        ...(config.file ? { file: config.file } : {}),
        logger: host.logger,
      }),
      sessions: new Map(),
      told: new Set(),
    };
    const editor = { name: 'Neovim', version: ctx.facts.version };
    const flows = new Map<string, AbortController>();
    const d = new DisposableStore();
    const store = async (): Promise<SecretStore> => (await svc.chosen).store;

    const finished = (provider: string, ok: boolean, message: string) => {
      void host.nvim
        .lua('require("rune.auth")._finished(...)', [provider, ok, message])
        .catch((err: unknown) => logger.warn('could not report sign-in result', { err }));
    };

    /** Runs a background sign-in; one per provider at a time. */
    const background = (
      provider: string,
      run: (signal: AbortSignal) => Promise<string>,
      reported: () => boolean = () => true,
    ) => {
      flows.get(provider)?.abort();
      const ac = new AbortController();
      flows.set(provider, ac);
      run(ac.signal)
        .then(
          (message) => finished(provider, true, message),
          (err: unknown) => {
            const e = toRuneError(err);
            if (e.code === 'internal') logger.error('sign-in failed', { provider, err });
            else logger.info('sign-in failed', { provider, code: e.code });
            // Before the user was prompted, the request itself carries the error.
            if (reported()) finished(provider, false, e.message);
          },
        )
        .finally(() => {
          if (flows.get(provider) === ac) flows.delete(provider);
        });
    };

    const copilotLogin = async () => {
      const cfg = config.copilot;
      const code = await requestDeviceCode({ githubUrl: cfg.githubUrl });
      const opened = await openBrowser(code.verificationUri);
      background('copilot', async (signal) => {
        const token = await pollDeviceToken(code, { githubUrl: cfg.githubUrl, signal });
        logger.addSecret(token);
        const user = await fetchGitHubUser(token, { apiUrl: cfg.apiUrl, signal });
        await (await store()).set(COPILOT_GITHUB_ACCOUNT, token);
        if (!locateCopilotServer(cfg)) {
          return `Signed in to GitHub as ${user}: Copilot chat is ready. For completions, install the Copilot language server (${COPILOT_INSTALL_HINT})`;
        }
        try {
          const ls = await copilotServer(logger, cfg, editor).get();
          const st = await ls.signInWithGithubToken(token, user, { signal });
          if (st.status !== 'OK') {
            return `Signed in to GitHub as ${user}, but Copilot answered "${st.status}": check that this account has Copilot (https://github.com/settings/copilot).`;
          }
        } catch (err) {
          return `Signed in to GitHub as ${user} (Copilot chat is ready), but the Copilot language server did not take the sign-in: ${toRuneError(err).message}`;
        }
        return `Signed in to GitHub Copilot as ${user}.`;
      });
      return {
        kind: 'device',
        user_code: code.userCode,
        verification_uri: code.verificationUri,
        expires_in: code.expiresIn,
        opened,
      };
    };

    const oauthLogin = async (name: string) => {
      const oc = config.oauth[name]!;
      const session = new OAuthSession({
        config: oc,
        store: await store(),
        account: oauthAccount(name),
      });
      let prompted = false;
      let resolvePrompt!: (v: { url: string; opened: boolean }) => void;
      let rejectPrompt!: (err: unknown) => void;
      const prompt = new Promise<{ url: string; opened: boolean }>((res, rej) => {
        resolvePrompt = res;
        rejectPrompt = rej;
      });
      background(
        name,
        async (signal) => {
          try {
            await session.login({
              signal,
              ...(oc.timeoutMs ? { timeoutMs: oc.timeoutMs } : {}),
              onPrompt: (url, opened) => {
                prompted = true;
                resolvePrompt({ url, opened });
              },
            });
          } catch (err) {
            rejectPrompt(err);
            throw err;
          }
          return `Signed in to ${name}.`;
        },
        () => prompted,
      );
      const p = await prompt;
      return { kind: 'browser', url: p.url, opened: p.opened };
    };

    d.add(copilotInstallCommands(host, config.copilot.server));

    d.add(
      host.onRequest('rune.auth.login', async (args) => {
        const provider = str(args[0], 'The provider');
        if (provider === 'copilot') return copilotLogin();
        if (config.oauth[provider]) return oauthLogin(provider);
        const secret = args[1];
        if (secret === undefined || secret === null || secret === '') {
          return { kind: 'need_secret', prompt: `API key for ${provider}: ` };
        }
        const value = str(secret, 'The API key');
        host.logger.addSecret(value);
        await (await store()).set(apiKeyAccount(provider), value);
        return { kind: 'stored' };
      }),
    );

    d.add(
      host.onRequest('rune.auth.logout', async (args) => {
        const provider = str(args[0], 'The provider');
        flows.get(provider)?.abort();
        const s = await store();
        if (provider === 'copilot') {
          const removed = await s.delete(COPILOT_GITHUB_ACCOUNT);
          const ls = copilotServer(logger, config.copilot, editor).peek();
          if (ls)
            await ls.signOut().catch((err: unknown) => logger.warn('copilot sign-out', { err }));
          return { removed };
        }
        if (config.oauth[provider]) {
          const session = new OAuthSession({
            config: config.oauth[provider],
            store: s,
            account: oauthAccount(provider),
          });
          const had = (await session.tokens()) !== undefined;
          const { revoked } = await session.logout();
          return { removed: had, revoked };
        }
        return { removed: await s.delete(apiKeyAccount(provider)) };
      }),
    );

    d.add(
      host.onRequest('rune.auth.cancel', (args) => {
        const provider = str(args[0], 'The provider');
        const f = flows.get(provider);
        f?.abort();
        return { cancelled: f !== undefined };
      }),
    );

    d.add(
      host.onRequest('rune.auth.status', async (args) => {
        const only =
          args[0] === undefined || args[0] === null ? undefined : str(args[0], 'The provider');
        const chosen = await svc.chosen;
        const accounts = new Set(await chosen.store.list());
        const names = new Set([
          ...providerNames(host.config),
          'copilot',
          ...Object.keys(config.oauth),
        ]);
        for (const a of accounts) {
          if (a.startsWith('api-key/')) names.add(a.slice(8));
          else if (a.startsWith('oauth/') && !a.startsWith('oauth/mcp:')) names.add(a.slice(6));
        }
        const entries = [];
        for (const name of [...names].sort()) {
          if (only && name !== only) continue;
          if (name === 'copilot') {
            const found = await findGitHubToken({ store: chosen.store });
            entries.push({
              provider: name,
              kind: 'github',
              signed_in: found !== undefined,
              detail: found ? `GitHub token from ${found.source}` : 'not signed in',
            });
          } else if (config.oauth[name] || accounts.has(oauthAccount(name))) {
            const has = accounts.has(oauthAccount(name));
            entries.push({
              provider: name,
              kind: 'oauth',
              signed_in: has,
              detail: has ? 'OAuth tokens stored' : 'not signed in',
            });
          } else {
            const has = accounts.has(apiKeyAccount(name));
            entries.push({
              provider: name,
              kind: 'api-key',
              signed_in: has,
              detail: has ? 'API key stored' : 'no key stored (environment variables come first)',
            });
          }
        }
        return {
          store: chosen.store.kind,
          description: chosen.store.description,
          reason: chosen.reason,
          entries,
        };
      }),
    );

    d.add(
      host.addHealth('auth', async () => {
        const items: HealthItem[] = [];
        const chosen = await svc.chosen;
        items.push({
          level: chosen.store.kind === 'keyring' ? 'ok' : 'warn',
          message: `secrets are kept in the ${chosen.store.description}`,
          ...(chosen.store.kind === 'file'
            ? { advice: [`${FILE_STORE_PROTECTION}.`, chosen.reason] }
            : {}),
        });
        const located = locateCopilotServer(config.copilot);
        if (located) {
          items.push({
            level: 'ok',
            message: `Copilot language server found (${SERVER_SOURCES[located.source]}): ${located.path}`,
          });
        } else {
          items.push({
            level: 'info',
            // An info item shows no advice in :checkhealth: the hint is part of the message.
            message: `Copilot language server not found${config.copilot.server ? ` at ${config.copilot.server}` : ''} (only needed for Copilot completions). ${COPILOT_INSTALL_HINT}`,
          });
        }
        const gh = await findGitHubToken({ store: chosen.store });
        items.push({
          level: 'info',
          message: gh
            ? `Copilot: GitHub token from ${gh.source}`
            : 'Copilot: not signed in (:RuneAuth copilot)',
        });
        return items;
      }),
    );

    d.add(
      toDisposable(() => {
        for (const f of flows.values()) f.abort();
        flows.clear();
        void disposeSharedCopilotServers();
      }),
    );
    const warn = (message: string) => {
      void host.nvim
        .lua('require("rune.util").notify(..., vim.log.levels.WARN)', [message])
        .catch(() => undefined);
    };
    return provide(d, authService(svc, host.logger, warn));
  },
});
