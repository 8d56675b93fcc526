/**
 * The client entry the MCP conformance suite runs (`conformance client
 * --command "node test/mcp/conformance-client.ts"`): it connects Rune's MCP
 * hub (the built one in dist/, the code paths the host uses) to the
 * scenario's server, calls each of its tools, and exits. The suite appends
 * the server URL as the last argument and names the scenario in
 * MCP_CONFORMANCE_SCENARIO. Node 22 runs this file directly (type stripping);
 * build dist/ first with `npx tsc -p tsconfig.build.json`.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

type HubModule = typeof import('../../src/mcp/hub/hub.js');
type ConfigModule = typeof import('../../src/mcp/hub/config.js');
type LogModule = typeof import('../../src/core/log.js');

const dist = path.resolve(import.meta.dirname, '..', '..', 'dist');
const load = <T>(file: string): Promise<T> =>
  import(pathToFileURL(path.join(dist, file)).href) as Promise<T>;

/** Arguments for the scenarios' tools; any other tool is called without arguments. */
const ARGS: Record<string, Record<string, unknown>> = { add_numbers: { a: 2, b: 40 } };

async function main(): Promise<number> {
  const url = process.argv.at(-1);
  if (!url || !/^https?:\/\//.test(url)) {
    process.stderr.write('usage: conformance-client.ts <server url>\n');
    return 2;
  }
  const { McpHub } = await load<HubModule>('mcp/hub/hub.js');
  const { parseServer } = await load<ConfigModule>('mcp/hub/config.js');
  const { nullLogger } = await load<LogModule>('core/log.js');
  const hub = new McpHub({
    logger: nullLogger,
    backoffMs: 60_000,
    ui: {
      // No one to ask here: accept with every field left to its default (SEP-1034).
      elicit: async () => ({ action: 'accept', content: {} }),
    },
  });
  try {
    await hub.setServers([parseServer('conformance', { url, type: 'http' }, 'suite', 'suite')]);
    const [status] = hub.status();
    if (status?.state !== 'connected') {
      process.stderr.write(`not connected: ${status?.lastError ?? status?.state}\n`);
      return 1;
    }
    for (const tool of hub.tools()) {
      const res = await hub.callTool(tool.qualifiedName, ARGS[tool.name] ?? {});
      process.stdout.write(`${tool.name}: ${JSON.stringify(res.content)}\n`);
    }
    return 0;
  } finally {
    await hub.dispose();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
