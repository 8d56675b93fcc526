/**
 * Browser sign-ins (OAuth) of remote servers with `oauth`: one sign-in helper per server,
 * kept while its settings stay, tokens in the host's secret store.
 */
import type { Disposable } from '../../core/disposable.js';
import type { Logger } from '../../core/log.js';
import { openBrowser } from '../../auth/browser.js';
import { McpOAuthProvider } from '../../auth/mcp-oauth.js';
import type { HubAuthProvider } from '../../mcp/hub/clients.js';
import type { ServerConfig } from '../../mcp/hub/config.js';
import { hostSecretStore } from '../auth.js';
import type { ReadyHost } from '../host.js';
import type { Notify } from './sources.js';

/** McpOAuthProvider that also tells the hub the sign-in URL it sent the user to. */
class HubOAuthProvider extends McpOAuthProvider implements HubAuthProvider {
  pendingUrl: string | undefined;
}

export class HubSignIns implements Disposable {
  private readonly auths = new Map<string, { key: string; provider: HubOAuthProvider }>();

  constructor(
    private readonly host: ReadyHost,
    private readonly opts: {
      timeoutMs: number;
      /** The environment the browser opens in. */
      vars: NodeJS.ProcessEnv;
      logger: Logger;
      notify: Notify;
    },
  ) {}

  /** The hub's `authProvider`: the sign-in helper of a remote server with `oauth`. */
  readonly provider = async (s: ServerConfig): Promise<HubAuthProvider | undefined> => {
    if (!s.oauth || !s.url) return undefined;
    const { logger, notify, vars } = this.opts;
    const key = JSON.stringify([s.url, s.oauth]);
    const known = this.auths.get(s.name);
    if (known?.key === key) return known.provider;
    this.auths.delete(s.name);
    void known?.provider.dispose();
    const provider: HubOAuthProvider = new HubOAuthProvider({
      store: await hostSecretStore(this.host),
      server: s.name,
      renewUrl: s.url,
      ...(s.oauth.clientId
        ? {
            client: {
              clientId: s.oauth.clientId,
              ...(s.oauth.clientSecret ? { clientSecret: s.oauth.clientSecret } : {}),
            },
          }
        : {}),
      ...(s.oauth.scope ? { scope: s.oauth.scope } : {}),
      timeoutMs: this.opts.timeoutMs,
      openBrowser: (url) => openBrowser(url, vars),
      onPrompt: (url, opened) => {
        provider.pendingUrl = url;
        const refused = provider.renewalRefused;
        provider.renewalRefused = undefined;
        logger.info('mcp server sign-in started', { server: s.name, opened, refused });
        const needs = refused
          ? `MCP server "${s.name}" needs you to sign in again (its sign-in could not be renewed: ${refused})`
          : `MCP server "${s.name}" needs you to sign in`;
        void notify(
          opened
            ? `${needs}: finish it in the browser window that opened (:RuneMcp servers shows its state).`
            : `${needs}: open ${url} in a browser (the link is also in :RuneMcp servers).`,
          'WARN',
        );
      },
    });
    if (s.oauth.clientSecret) logger.addSecret(s.oauth.clientSecret);
    this.auths.set(s.name, { key, provider });
    return provider;
  };

  /** Forgets a server's tokens (the next connection signs in again). */
  async signOut(server: string): Promise<void> {
    const known = this.auths.get(server);
    this.auths.delete(server);
    await known?.provider.dispose();
    const forget = new McpOAuthProvider({ store: await hostSecretStore(this.host), server });
    await forget.forget();
    this.opts.logger.info('mcp server signed out', { server });
  }

  dispose(): void {
    for (const a of this.auths.values()) void a.provider.dispose();
    this.auths.clear();
  }
}
