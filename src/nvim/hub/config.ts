/** The hub's options, `mcp.servers` and `mcp.hub` of setup(), parsed once for the module. */
import { z } from 'zod';
import { luaMap, parseSection } from '../../core/config.js';

/** The hub's options: `mcp.servers` and `mcp.hub` of setup(). */
export const hubConfigSchema = z.object({
  servers: luaMap(z.unknown())
    .default({})
    .describe('MCP servers for the hub, in the `mcpServers` entry format'),
  hub: z
    .object({
      enabled: z.boolean().default(true).describe('Connect to the configured MCP servers'),
      files: z
        .array(z.string())
        .optional()
        .describe('Config files to read instead of the default ones'),
      connect_timeout_ms: z
        .number()
        .int()
        .min(100)
        .default(30_000)
        .describe('Deadline of connecting to a server, ms'),
      tool_timeout_ms: z
        .number()
        .int()
        .min(100)
        .default(120_000)
        .describe('Deadline of a tool call, ms; progress notifications restart it'),
      sandbox: z
        .boolean()
        .default(false)
        .describe(
          "Run stdio servers in the bubblewrap sandbox (a server's own `sandbox` key wins)",
        ),
      allow_unsandboxed: z
        .boolean()
        .default(false)
        .describe(
          'Where bubblewrap is unusable, run servers that ask for the sandbox with your rights',
        ),
      auth_timeout_ms: z
        .number()
        .int()
        .min(1000)
        .default(300_000)
        .describe('How long a browser sign-in (`oauth`) may take, ms'),
    })
    .prefault({})
    .describe("The hub's own options"),
});
export type HubConfig = z.infer<typeof hubConfigSchema>;

export function parseHubConfig(raw: unknown): HubConfig {
  return parseSection('mcp', hubConfigSchema, raw);
}
