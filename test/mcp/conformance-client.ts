/**
 * The client entry the MCP conformance suite runs (`conformance client
 * --command "node test/mcp/conformance-client.ts"`): it connects Rune's MCP
 * hub (the built one in dist/, the code paths the host uses) to the
 * scenario's server, calls each of its tools, and exits. The suite appends
 * the server URL as the last argument and names the scenario in
 * MCP_CONFORMANCE_SCENARIO. Node 22 runs this file directly (type stripping);
 * build dist/ first with `npx tsc -p tsconfig.build.json`.
 *
 * For the `auth/*` scenarios the server entry gets `oauth` (with the client id
 * and secret of MCP_CONFORMANCE_CONTEXT when the scenario pre-registers one),
 * and the hub signs in with Rune's `McpOAuthProvider`; the "browser" follows
 * the authorization server's redirect back to the loopback callback, as a
 * user who agrees would. Tokens are kept in memory.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

type HubModule = typeof import('../../src/mcp/hub/clients.js');
type ConfigModule = typeof import('../../src/mcp/hub/config.js');
type LogModule = typeof import('../../src/core/log.js');
type OAuthModule = typeof import('../../src/auth/mcp-oauth.js');
type SecretStore = import('../../src/auth/secret-store.js').SecretStore;

const dist = path.resolve(import.meta.dirname, '..', '..', 'dist');
const load = <T>(file: string): Promise<T> =>
  import(pathToFileURL(path.join(dist, file)).href) as Promise<T>;

/** A secret store in memory: the suite's tokens live as long as the run. */
function memoryStore(): SecretStore {
  const m = new Map<string, string>();
  return {
    kind: 'file',
    description: 'memory',
    get: async (a) => m.get(a),
    set: async (a, v) => void m.set(a, v),
    delete: async (a) => m.delete(a),
    list: async () => [...m.keys()],
  };
}

/** The user agent: follows the authorization redirect to the loopback callback. */
async function browse(url: string): Promise<boolean> {
  const first = await fetch(url, { redirect: 'manual' });
  const location = first.headers.get('location');
  if (!location) throw new Error(`no redirect from the authorization endpoint: ${first.status}`);
  await (await fetch(location)).text();
  return true;
}

/** Arguments for the scenarios' tools; any other tool is called without arguments. */
const ARGS: Record<string, Record<string, unknown>> = { add_numbers: { a: 2, b: 40 } };

async function main(): Promise<number> {
  const url = process.argv.at(-1);
  if (!url || !/^https?:\/\//.test(url)) {
    process.stderr.write('usage: conformance-client.ts <server url>\n');
    return 2;
  }
  const { McpHub } = await load<HubModule>('mcp/hub/clients.js');
  const { parseServer } = await load<ConfigModule>('mcp/hub/config.js');
  const { nullLogger } = await load<LogModule>('core/log.js');
  const { McpOAuthProvider } = await load<OAuthModule>('auth/mcp-oauth.js');
  const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
  const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}') as {
    client_id?: string;
    client_secret?: string;
  };
  const oauth = scenario.startsWith('auth/')
    ? context.client_id
      ? { client_id: context.client_id, client_secret: context.client_secret }
      : true
    : undefined;
  const store = memoryStore();
  const providers: InstanceType<OAuthModule['McpOAuthProvider']>[] = [];
  const hub = new McpHub({
    logger: nullLogger,
    backoffMs: 60_000,
    authProvider: (s) => {
      if (!s.oauth) return undefined;
      const p = new McpOAuthProvider({
        store,
        server: s.name,
        timeoutMs: 20_000,
        openBrowser: (u) => {
          setImmediate(() => void browse(u).catch(() => undefined));
          return Promise.resolve(true);
        },
        ...(s.oauth.clientId
          ? {
              client: {
                clientId: s.oauth.clientId,
                ...(s.oauth.clientSecret ? { clientSecret: s.oauth.clientSecret } : {}),
              },
            }
          : {}),
        ...(s.oauth.scope ? { scope: s.oauth.scope } : {}),
      });
      providers.push(p);
      return p;
    },
    ui: {
      // No one to ask here: accept with every field left to its default (SEP-1034).
      elicit: async () => ({ action: 'accept', content: {} }),
    },
  });
  try {
    await hub.setServers([
      parseServer(
        'conformance',
        { url, type: 'http', ...(oauth ? { oauth: stripUndefined(oauth) } : {}) },
        'suite',
        'suite',
      ),
    ]);
    // setServers resolves once the server is connected or failed, a sign-in included.
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
    await Promise.all(providers.map((p) => p.dispose()));
  }
}

function stripUndefined(o: true | Record<string, string | undefined>): unknown {
  return o === true ? o : Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
