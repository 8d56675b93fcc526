import { z } from 'zod';
import { luaMap, parseSection } from '../core/config.js';
import type { OAuthServerConfig } from './oauth.js';

const url = z.string().url();

const map = luaMap;

const OAuthEntry = z.strictObject({
  authorization_url: url,
  token_url: url,
  revocation_url: url.optional(),
  client_id: z.string().min(1),
  client_secret: z.string().min(1).optional(),
  scopes: z.array(z.string()).optional(),
  extra_params: map(z.string()).optional(),
  timeout_ms: z.number().int().positive().optional(),
});

/** The `auth` section of setup() (`:help rune-auth`). */
export const authConfigSchema = z.strictObject({
  store: z
    .enum(['auto', 'keyring', 'file'])
    .default('auto')
    .describe('Where secrets live: the OS keyring when it answers, else a 0600 secrets file'),
  file: z
    .string()
    .min(1)
    .optional()
    .describe('The secrets file (default: `$XDG_DATA_HOME/rune/secrets.enc`)'),
  copilot: z
    .strictObject({
      server: z
        .string()
        .min(1)
        .optional()
        .describe('The Copilot language server to run (default: the one found)'),
      min_interval_ms: z
        .number()
        .int()
        .min(0)
        .default(500)
        .describe('Least time between two automatic completion requests, ms'),
      github_url: url.default('https://github.com').describe('GitHub (Enterprise) address'),
      api_url: url.default('https://api.github.com').describe("GitHub's API address"),
      settings: map(z.unknown()).default({}).describe('Settings sent to the language server'),
      timeout_ms: z
        .number()
        .int()
        .positive()
        .default(30_000)
        .describe('Deadline of a request to the language server, ms'),
    })
    .prefault({})
    .describe('The Copilot language server and the GitHub endpoints'),
  oauth: map(OAuthEntry)
    .default({})
    .describe('OAuth 2 sign-ins by name (`:RuneAuth <name> login`)'),
});

/** Options for the Copilot language server and the GitHub endpoints. */
export interface CopilotConfig {
  server?: string;
  minIntervalMs: number;
  githubUrl: string;
  apiUrl: string;
  settings: Record<string, unknown>;
  timeoutMs: number;
}

/** The `auth` section of `setup()`, parsed. */
export interface AuthConfig {
  store: 'auto' | 'keyring' | 'file';
  file?: string;
  copilot: CopilotConfig;
  /** OAuth 2 sign-ins by name (`:RuneAuth <name> login`). */
  oauth: Record<string, OAuthServerConfig & { timeoutMs?: number }>;
}

/** Parses `config.auth`; throws ConfigError naming the key, e.g. `auth.copilot.api_url`. */
export function parseAuthConfig(config: Readonly<Record<string, unknown>>): AuthConfig {
  const c = parseSection('auth', authConfigSchema, config.auth);
  return {
    store: c.store,
    ...(c.file ? { file: c.file } : {}),
    copilot: {
      ...(c.copilot.server ? { server: c.copilot.server } : {}),
      minIntervalMs: c.copilot.min_interval_ms,
      githubUrl: c.copilot.github_url,
      apiUrl: c.copilot.api_url,
      settings: c.copilot.settings,
      timeoutMs: c.copilot.timeout_ms,
    },
    oauth: Object.fromEntries(
      Object.entries(c.oauth).map(([name, o]) => [
        name,
        {
          authorizationEndpoint: o.authorization_url,
          tokenEndpoint: o.token_url,
          ...(o.revocation_url ? { revocationEndpoint: o.revocation_url } : {}),
          clientId: o.client_id,
          ...(o.client_secret ? { clientSecret: o.client_secret } : {}),
          ...(o.scopes ? { scopes: o.scopes } : {}),
          ...(o.extra_params ? { extraParams: o.extra_params } : {}),
          ...(o.timeout_ms ? { timeoutMs: o.timeout_ms } : {}),
        },
      ]),
    ),
  };
}
