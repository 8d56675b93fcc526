/** The hub's options, `mcp.servers` and `mcp.hub` of setup(), parsed once for the module. */
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import { stripNil } from '../../core/nil.js';

/** The hub's options: `mcp.servers` and `mcp.hub` of setup(). */
export const hubConfigSchema = z.object({
  servers: z.record(z.string(), z.unknown()).default({}),
  hub: z
    .object({
      enabled: z.boolean().default(true),
      /** Config files to read instead of the default ones. */
      files: z.array(z.string()).optional(),
      connect_timeout_ms: z.number().int().min(100).default(30_000),
      /** Per tool call, ms; progress notifications restart it. */
      tool_timeout_ms: z.number().int().min(100).default(120_000),
      /** Run stdio servers in the bubblewrap sandbox (a server's own `sandbox` key wins). */
      sandbox: z.boolean().default(false),
      /** Where bubblewrap is unusable, run servers that ask for the sandbox with your rights. */
      allow_unsandboxed: z.boolean().default(false),
      /** How long a browser sign-in (`oauth`) may take, ms. */
      auth_timeout_ms: z.number().int().min(1000).default(300_000),
    })
    .prefault({}),
});
export type HubConfig = z.infer<typeof hubConfigSchema>;

export function parseHubConfig(raw: unknown): HubConfig {
  const mcp = (stripNil(raw ?? {}) ?? {}) as Record<string, unknown>;
  // An empty Lua table arrives as an empty array.
  const servers = Array.isArray(mcp.servers) && mcp.servers.length === 0 ? {} : mcp.servers;
  const r = hubConfigSchema.safeParse({ servers, hub: mcp.hub });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(['mcp', ...issue.path.map(String)].join('.'), issue.message);
  }
  return r.data;
}
