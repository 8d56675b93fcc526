/**
 * Where Rune keeps credentials: API keys, OAuth tokens, the GitHub token used
 * for Copilot chat. Two implementations: the OS keyring (keytar) and an
 * secrets file for machines without one. `chooseSecretStore()` picks.
 *
 * Accounts are plain strings namespaced by use, built with the helpers below
 * (`api-key/anthropic`, `oauth/<id>`, `copilot/github-token`). A store never
 * logs a secret and never puts one in an error message.
 */
export interface SecretStore {
  /** `keyring` (the OS keyring) or `file` (the secrets-file fallback). */
  readonly kind: 'keyring' | 'file';
  /** Where the secrets live, for `:checkhealth rune` and `rune auth status`. */
  readonly description: string;
  /** The secret stored for `account`, or undefined. */
  get(account: string): Promise<string | undefined>;
  /** Stores (or replaces) the secret for `account`. */
  set(account: string, secret: string): Promise<void>;
  /** Removes the secret; true when there was one. */
  delete(account: string): Promise<boolean>;
  /** The accounts that hold a secret (never the secrets). */
  list(): Promise<string[]>;
}

/** The keyring service name Rune's secrets are filed under. */
export const DEFAULT_SERVICE = 'rune.nvim';

/** Account of a provider's API key, e.g. `api-key/anthropic`. */
export function apiKeyAccount(provider: string): string {
  return `api-key/${provider}`;
}

/** Account of an OAuth token set (JSON), e.g. `oauth/mcp:linear`. */
export function oauthAccount(id: string): string {
  return `oauth/${id}`;
}

/** Account of the GitHub OAuth token Copilot chat exchanges for a Copilot token. */
export const COPILOT_GITHUB_ACCOUNT = 'copilot/github-token';
