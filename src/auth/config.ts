import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import type { OAuthServerConfig } from './oauth.js';
import { stripNil } from '../core/nil.js';

const url = z.string().url();

/** An empty Lua table arrives as an empty array; as a map it means "nothing". */
const map = <T extends z.ZodType>(value: T) =>
  z.preprocess((v) => (Array.isArray(v) && v.length === 0 ? {} : v), z.record(z.string(), value));

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

const Schema = z.strictObject({
  store: z.enum(['auto', 'keyring', 'file']).default('auto'),
  file: z.string().min(1).optional(),
  copilot: z
    .strictObject({
      server: z.string().min(1).optional(),
      min_interval_ms: z.number().int().min(0).default(500),
      github_url: url.default('https://github.com'),
      api_url: url.default('https://api.github.com'),
      settings: map(z.unknown()).default({}),
      timeout_ms: z.number().int().positive().default(30_000),
    })
    .prefault({}),
  oauth: map(OAuthEntry).default({}),
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
  const raw = (config.auth ?? {}) as unknown;
  const r = Schema.safeParse(stripNil(raw));
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(['auth', ...issue.path.map(String)].join('.'), issue.message);
  }
  const c = r.data;
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
