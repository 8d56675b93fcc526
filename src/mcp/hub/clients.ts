/**
 * The MCP hub: Rune as an MCP *client* of other servers. It keeps one SDK
 * `Client` per configured server (stdio, Streamable HTTP, or the older
 * HTTP+SSE transport for old servers), reconnects with backoff, restarts
 * crashed stdio servers, keeps their stderr in the log, and exposes their
 * tools, resources and prompts under names qualified as `server__tool`.
 * Remote servers may need an OAuth sign-in (`authProvider`: the hub waits for
 * it, then carries on); stdio commands may be wrapped (`wrapStdio`: the sandbox).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type CallToolResult,
  type CreateMessageRequest,
  type CreateMessageResult,
  type ElicitRequest,
  type ElicitResult,
  type GetPromptResult,
  type Prompt,
  type ReadResourceResult,
  type Resource,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { Disposable } from '../../core/disposable.js';
import { lazy } from '../../core/lazy.js';
import { toDisposable } from '../../core/disposable.js';
import {
  AuthError,
  DeniedError,
  NotFoundError,
  ProviderUnavailableError,
  RuneError,
  isAbort,
} from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { VERSION } from '../../core/version.js';
import { connectionKey, type ServerConfig } from './config.js';
import type { StdioRun } from './launcher.js';
import type { HubStdioTransport } from './stdio.js';

/** Separates server and tool in qualified names: `github__create_issue`. */

/** The SDK's client side, loaded when the first server connects (not at host start). */
const clientSdk = lazy(async () => {
  const [index, stdio, ownStdio, http, sse, auth] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/stdio.js'),
    import('./stdio.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/client/sse.js'),
    import('@modelcontextprotocol/sdk/client/auth.js'),
  ]);
  return {
    Client: index.Client,
    HubStdioTransport: ownStdio.HubStdioTransport,
    getDefaultEnvironment: stdio.getDefaultEnvironment,
    StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
    SSEClientTransport: sse.SSEClientTransport,
    UnauthorizedError: auth.UnauthorizedError,
  };
});
type ClientSdk = Awaited<ReturnType<typeof clientSdk.get>>;

/** The SDK's "sign in first" error (only the SDK throws it, so none before it is loaded). */
function isUnauthorized(err: unknown): boolean {
  const sdk = clientSdk.loaded;
  return sdk !== undefined && err instanceof sdk.UnauthorizedError;
}

export const SEPARATOR = '__';

/** `cancelled`: the user cancelled its start; it stays down until enabled or restarted. */
export type ServerState =
  'disabled' | 'connecting' | 'authorizing' | 'connected' | 'failed' | 'stopped' | 'cancelled';

export interface ServerStatus {
  name: string;
  state: ServerState;
  /** The transport in use once connected (`auto` resolves to http or sse). */
  transport: string;
  tools: string[];
  resources: number;
  prompts: number;
  lastError?: string;
  /** How many times the connection was re-established after a loss. */
  reconnects: number;
  source: string;
  /** The last lines the server wrote to stderr (stdio servers). */
  stderr: string[];
  /** True when the running stdio server was started inside the sandbox. */
  sandboxed: boolean;
  /** The sign-in URL while the state is `authorizing`. */
  authUrl?: string;
}

/** A tool of a connected server, as the registry and chat see it. */
export interface HubTool {
  server: string;
  name: string;
  qualifiedName: string;
  description: string;
  inputSchema: Record<string, unknown>;
  annotations?: Tool['annotations'];
  autoApprove: boolean;
}

/** Answers the requests servers send to the client, by asking the user. */
export interface HubUi {
  sample?(
    server: string,
    params: CreateMessageRequest['params'],
    signal: AbortSignal,
  ): Promise<CreateMessageResult>;
  elicit?(
    server: string,
    params: ElicitRequest['params'],
    signal: AbortSignal,
  ): Promise<ElicitResult>;
}

export interface HubOptions {
  logger: Logger;
  ui?: HubUi;
  /** First reconnect delay; doubles per failure up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Give up a connection attempt after this long. */
  connectTimeoutMs?: number;
  /**
   * OAuth for remote servers that need it: called before each connection of a
   * remote server. When the server answers 401 and the provider can hand over
   * the code the browser brings back (`waitForAuthorizationCode()`, like
   * `McpOAuthProvider`), the hub waits in state `authorizing` for the user to
   * sign in, exchanges the code through the transport, and connects again.
   */
  authProvider?: (
    server: ServerConfig,
  ) => HubAuthProvider | undefined | Promise<HubAuthProvider | undefined>;
  /**
   * Rewrites a stdio server's command before it is spawned (the sandbox,
   * `stdioLauncher` of launcher.ts): returns the command to run, whether it is
   * sandboxed, and what to feed its fd 3. A `DeniedError` thrown here fails
   * the server without retrying (the sandbox is asked for but unusable).
   */
  wrapStdio?: (server: ServerConfig) => StdioRun;
}

/** An `OAuthClientProvider` that can also wait for the sign-in it started. */
export interface HubAuthProvider extends OAuthClientProvider {
  /** The authorization code the browser brings back after `redirectToAuthorization`. */
  waitForAuthorizationCode?(): Promise<string>;
  /** The URL the user was sent to, while a sign-in is waiting. */
  readonly pendingUrl?: string;
}

const STDERR_LINES = 50;
/** How long a stdio server gets to exit after its stdin closes, and again after SIGTERM. */
const STOP_GRACE_MS = 500;
/** The same when Neovim is gone and the host must leave within a second. */
const HURRIED_STOP_GRACE_MS = 150;

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for `pid` to exit: stdin was closed; then SIGTERM; then SIGKILL. */
async function stopProcess(pid: number, log: Logger, graceMs: number): Promise<void> {
  const exited = async (ms: number) => {
    const end = Date.now() + ms;
    while (running(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return !running(pid);
  };
  if (await exited(graceMs)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await exited(graceMs)) return;
  log.warn('mcp server ignored SIGTERM; killing it', { pid });
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
  await exited(graceMs);
}
/** Sign-ins in a row before giving up (a server that keeps refusing the new token). */
const MAX_SIGN_INS = 2;

class ServerConnection {
  state: ServerState = 'stopped';
  client: Client | undefined;
  transportName = '';
  lastError: string | undefined;
  tools: Tool[] = [];
  resources: Resource[] = [];
  prompts: Prompt[] = [];
  stderr: string[] = [];
  reconnects = 0;
  failures = 0;
  sandboxed = false;
  authUrl: string | undefined;
  auth: HubAuthProvider | undefined;
  /** The remote transport tried last: the one that learnt where the server's auth lives. */
  private remote: StreamableHTTPClientTransport | SSEClientTransport | undefined;
  private stdio: HubStdioTransport | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Bumped on every (re)start so late events of an old connection are ignored. */
  generation = 0;

  constructor(
    public config: ServerConfig,
    private readonly hub: McpHub,
    private readonly opts: Required<
      Pick<HubOptions, 'backoffMs' | 'maxBackoffMs' | 'connectTimeoutMs'>
    > &
      HubOptions,
  ) {}

  get log(): Logger {
    return this.opts.logger.child({ mcpServer: this.config.name });
  }

  async start(): Promise<void> {
    if (this.config.disabled) {
      this.state = 'disabled';
      this.hub.changed();
      return;
    }
    const gen = ++this.generation;
    clearTimeout(this.timer);
    this.state = 'connecting';
    this.hub.changed();
    try {
      this.auth = this.config.url ? await this.opts.authProvider?.(this.config) : undefined;
      // A server may ask for a sign-in while connecting or on its first requests (a
      // protected method, more scopes); each round signs in and carries on from there.
      for (let round = 0; ; round++) {
        try {
          if (!this.client) {
            const { client, transport } = await this.connect(gen);
            if (gen !== this.generation) {
              await client.close().catch(() => undefined);
              return;
            }
            this.client = client;
            this.transportName = transport;
          }
          await this.refresh();
          break;
        } catch (err) {
          if (round >= MAX_SIGN_INS || !(await this.signIn(err, gen))) throw err;
        }
      }
      this.state = 'connected';
      this.lastError = undefined;
      this.failures = 0;
      this.log.info('mcp server connected', {
        transport: this.transportName,
        tools: this.tools.length,
      });
      this.hub.changed();
    } catch (err) {
      if (gen !== this.generation) return;
      const client = this.client;
      this.client = undefined;
      void client?.close().catch(() => undefined);
      // A refused or abandoned sign-in is not retried by itself: every retry would open
      // the browser again. Nor is a server refused its sandbox: retrying changes nothing.
      // The user restarts the server (:RuneMcp) when ready.
      this.fail(
        err,
        !(isUnauthorized(err) || err instanceof AuthError || err instanceof DeniedError),
      );
    }
  }

  /** @internal The connection was found dead by a request: reconnect with backoff. */
  lost(err: unknown): void {
    this.log.warn('mcp server unreachable', { error: (err as Error).message });
    this.generation++;
    const client = this.client;
    this.fail(err);
    void client?.close().catch(() => undefined);
  }

  private fail(err: unknown, retry = true): void {
    this.lastError = err instanceof Error ? err.message : String(err);
    this.state = 'failed';
    this.client = undefined;
    this.stdio = undefined;
    this.tools = [];
    this.authUrl = undefined;
    this.failures++;
    if (!retry) {
      this.log.warn('mcp server failed; not retrying by itself', { error: this.lastError });
      this.hub.changed();
      return;
    }
    const delay = Math.min(this.opts.backoffMs * 2 ** (this.failures - 1), this.opts.maxBackoffMs);
    this.log.warn('mcp server failed; will retry', { error: this.lastError, retryInMs: delay });
    this.hub.changed();
    const gen = this.generation;
    this.timer = setTimeout(() => {
      if (gen === this.generation && this.state === 'failed') {
        this.reconnects++;
        void this.start();
      }
    }, delay);
    this.timer.unref();
  }

  private newClient(sdk: ClientSdk, gen: number): Client {
    const client = new sdk.Client(
      { name: 'rune', version: VERSION },
      {
        capabilities: {
          ...(this.opts.ui?.sample ? { sampling: {} } : {}),
          // applyDefaults: fields the user left empty get the schema's defaults (SEP-1034).
          ...(this.opts.ui?.elicit ? { elicitation: { form: { applyDefaults: true } } } : {}),
        },
      },
    );
    const ui = this.opts.ui;
    if (ui?.sample) {
      const sample = ui.sample.bind(ui);
      client.setRequestHandler(CreateMessageRequestSchema, (req, extra) =>
        sample(this.config.name, req.params, extra.signal),
      );
    }
    if (ui?.elicit) {
      const elicit = ui.elicit.bind(ui);
      client.setRequestHandler(ElicitRequestSchema, (req, extra) =>
        elicit(this.config.name, req.params, extra.signal),
      );
    }
    const refresh = () => {
      if (gen === this.generation && this.state === 'connected') {
        this.refresh().then(
          () => this.hub.changed(),
          (err: unknown) => this.log.warn('mcp list refresh failed', { err }),
        );
      }
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, refresh);
    client.setNotificationHandler(ResourceListChangedNotificationSchema, refresh);
    client.setNotificationHandler(PromptListChangedNotificationSchema, refresh);
    client.onclose = () => {
      if (gen !== this.generation || this.state === 'stopped' || this.state === 'disabled') return;
      if (this.state === 'connected') {
        this.log.warn('mcp server connection closed', { stderr: this.stderr.slice(-5) });
        this.fail(new Error(`connection closed${this.stderrHint()}`));
      }
    };
    client.onerror = (err) => this.log.debug('mcp client error', { err });
    return client;
  }

  private stderrHint(): string {
    const last = this.stderr.at(-1);
    return last ? ` (stderr: ${last})` : '';
  }

  private async connect(gen: number): Promise<{ client: Client; transport: string }> {
    const c = this.config;
    const timeout = this.opts.connectTimeoutMs;
    const sdk = await clientSdk.get();
    const attempt = async (transport: Transport, name: string) => {
      const client = this.newClient(sdk, gen);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          client.connect(transport, { timeout }),
          new Promise((_, reject) => {
            timer = setTimeout(
              () =>
                reject(new RuneError('timeout', `no answer to initialize within ${timeout} ms`)),
              timeout,
            );
          }),
        ]);
      } catch (err) {
        await client.close().catch(() => undefined);
        throw err;
      } finally {
        clearTimeout(timer);
      }
      return { client, transport: name };
    };

    if (c.transport === 'stdio') {
      const run = this.opts.wrapStdio?.(c) ?? {
        command: c.command!,
        args: c.args,
        sandboxed: false,
      };
      this.sandboxed = run.sandboxed;
      const transport = new sdk.HubStdioTransport({
        command: run.command,
        args: run.args,
        env: { ...sdk.getDefaultEnvironment(), ...c.env },
        ...(c.cwd ? { cwd: c.cwd } : {}),
        ...(run.fd3 ? { fd3: run.fd3 } : {}),
      });
      this.stdio = transport;
      this.stderr = [];
      let partial = '';
      transport.stderr.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          this.stderr.push(line);
          if (this.stderr.length > STDERR_LINES) this.stderr.shift();
          this.log.info('mcp server stderr', { line });
        }
      });
      try {
        return await attempt(transport, 'stdio');
      } catch (err) {
        throw new ProviderUnavailableError(
          `could not start "${[c.command, ...c.args].join(' ')}": ${(err as Error).message}${this.stderrHint()}`,
          undefined,
          { cause: err },
        );
      }
    }

    return this.connectRemote(attempt, this.auth);
  }

  /**
   * When `err` is the SDK's UnauthorizedError and the provider can wait for the
   * browser's answer: waits (state `authorizing`) for the user to sign in and exchanges
   * the code; true once tokens are stored. False when `err` is something else.
   */
  async signIn(err: unknown, gen: number): Promise<boolean> {
    const auth = this.auth;
    const remote = this.remote;
    if (!isUnauthorized(err) || !auth?.waitForAuthorizationCode || !remote) {
      return false;
    }
    if (gen !== this.generation) return false;
    const previous = this.state;
    this.state = 'authorizing';
    this.authUrl = auth.pendingUrl;
    this.lastError = undefined;
    this.log.info('mcp server needs a sign-in; waiting for it');
    this.hub.changed();
    try {
      // finishAuth exchanges the code with what the 401 taught the transport (the
      // resource metadata URL and scope), then stores the tokens through the provider.
      await remote.finishAuth(await auth.waitForAuthorizationCode());
    } catch (why) {
      if (gen === this.generation) {
        this.state = previous;
        this.hub.changed();
      }
      throw new AuthError(
        `the sign-in to "${this.config.name}" did not complete: ${(why as Error).message}. ` +
          'Restart the server (:RuneMcp servers, key r) to sign in again.',
        { cause: why },
      );
    } finally {
      this.authUrl = undefined;
    }
    if (gen !== this.generation) return false;
    this.state = previous;
    this.hub.changed();
    return true;
  }

  private async connectRemote(
    attempt: (t: Transport, name: string) => Promise<{ client: Client; transport: string }>,
    authProvider: OAuthClientProvider | undefined,
  ): Promise<{ client: Client; transport: string }> {
    const c = this.config;
    const url = new URL(c.url!);
    const requestInit = { headers: c.headers };
    const sdk = await clientSdk.get();
    const sse = () =>
      (this.remote = new sdk.SSEClientTransport(url, { requestInit, authProvider }));
    if (c.transport === 'sse') return attempt(sse(), 'sse');
    try {
      return await attempt(
        (this.remote = new sdk.StreamableHTTPClientTransport(url, { requestInit, authProvider })),
        'http',
      );
    } catch (err) {
      // A 401 is an answer of a Streamable HTTP server: no reason to try the old transport.
      if (isUnauthorized(err)) throw err;
      if (c.transport === 'http') throw this.unreachable(err);
      // Old servers speak only HTTP+SSE: the spec's backwards-compatibility path.
      this.log.info('streamable http failed; trying the older HTTP+SSE transport', {
        error: (err as Error).message,
      });
      try {
        return await attempt(sse(), 'sse');
      } catch (err2) {
        if (isUnauthorized(err2)) throw err2;
        throw this.unreachable(err2);
      }
    }
  }

  private unreachable(err: unknown): Error {
    return new ProviderUnavailableError(
      `cannot reach ${this.config.url}: ${(err as Error).message}`,
      this.config.url,
      { cause: err },
    );
  }

  async refresh(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const caps = client.getServerCapabilities() ?? {};
    const tools: Tool[] = [];
    if (caps.tools) {
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : undefined);
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor);
    }
    this.tools = tools;
    this.resources = caps.resources ? (await client.listResources()).resources : [];
    this.prompts = caps.prompts ? (await client.listPrompts()).prompts : [];
  }

  async stop(
    state: 'stopped' | 'disabled' | 'cancelled' = 'stopped',
    graceMs = STOP_GRACE_MS,
  ): Promise<void> {
    this.generation++;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.state = state;
    this.authUrl = undefined;
    this.tools = [];
    this.resources = [];
    this.prompts = [];
    const pid = this.stdio?.pid ?? null;
    this.stdio = undefined;
    const closing = client?.close().catch(() => undefined);
    // The SDK ends stdin and waits 2 s before each signal; a server that ignores
    // both would outlive the host. Insist sooner.
    if (pid !== null) await stopProcess(pid, this.log, graceMs);
    await closing;
  }

  status(): ServerStatus {
    const disabled = new Set(this.config.disabledTools);
    return {
      name: this.config.name,
      state: this.state,
      transport: this.transportName || this.config.transport,
      tools: this.tools.map((t) => t.name).filter((n) => !disabled.has(n)),
      resources: this.resources.length,
      prompts: this.prompts.length,
      lastError: this.lastError,
      reconnects: this.reconnects,
      source: this.config.source,
      stderr: [...this.stderr],
      sandboxed: this.sandboxed,
      ...(this.authUrl ? { authUrl: this.authUrl } : {}),
    };
  }
}

export class McpHub {
  private readonly servers = new Map<string, ServerConnection>();
  private readonly listeners = new Set<() => void>();
  private readonly opts: ConstructorParameters<typeof ServerConnection>[2];

  constructor(opts: HubOptions) {
    this.opts = { backoffMs: 500, maxBackoffMs: 30_000, connectTimeoutMs: 30_000, ...opts };
  }

  /**
   * Applies a new set of servers: starts new ones, restarts changed ones,
   * stops removed ones, and leaves unchanged ones connected.
   */
  async setServers(configs: ServerConfig[]): Promise<void> {
    const next = new Map(configs.map((c) => [c.name, c]));
    const work: Promise<void>[] = [];
    for (const [name, conn] of this.servers) {
      if (!next.has(name)) {
        this.servers.delete(name);
        work.push(conn.stop());
      }
    }
    for (const config of configs) {
      const conn = this.servers.get(config.name);
      if (!conn) {
        const created = new ServerConnection(config, this, this.opts);
        this.servers.set(config.name, created);
        work.push(created.start());
        continue;
      }
      const changed =
        connectionKey(conn.config) !== connectionKey(config) ||
        conn.config.disabled !== config.disabled;
      conn.config = config;
      if (changed) work.push(conn.stop().then(() => conn.start()));
    }
    await Promise.all(work);
    this.changed();
  }

  status(): ServerStatus[] {
    return [...this.servers.values()].map((s) => s.status());
  }

  /** Tools of connected servers, minus each server's `disabled_tools`. */
  tools(): HubTool[] {
    const out: HubTool[] = [];
    for (const conn of this.servers.values()) {
      if (conn.state !== 'connected') continue;
      const disabled = new Set(conn.config.disabledTools);
      const auto = conn.config.autoApprove;
      for (const t of conn.tools) {
        if (disabled.has(t.name)) continue;
        out.push({
          server: conn.config.name,
          name: t.name,
          qualifiedName: `${conn.config.name}${SEPARATOR}${t.name}`,
          description: t.description ?? t.title ?? t.name,
          inputSchema: t.inputSchema as Record<string, unknown>,
          annotations: t.annotations,
          autoApprove: auto === true || (Array.isArray(auto) && auto.includes(t.name)),
        });
      }
    }
    return out;
  }

  private connected(server: string): { conn: ServerConnection; client: Client } {
    const conn = this.servers.get(server);
    if (!conn) throw new NotFoundError(`No MCP server named "${server}" is configured.`);
    if (conn.state !== 'connected' || !conn.client) {
      const why = conn.lastError ? `: ${conn.lastError}` : '';
      throw new ProviderUnavailableError(
        `MCP server "${server}" is ${conn.state}${why}. Check :RuneMcp, or restart it there.`,
        conn.config.url,
      );
    }
    return { conn, client: conn.client };
  }

  /** Splits `server__tool` into its parts. */
  static split(qualified: string): { server: string; tool: string } {
    const i = qualified.indexOf(SEPARATOR);
    if (i <= 0)
      throw new NotFoundError(`"${qualified}" is not a hub tool name (server${SEPARATOR}tool).`);
    return { server: qualified.slice(0, i), tool: qualified.slice(i + SEPARATOR.length) };
  }

  async callTool(
    qualified: string,
    args: Record<string, unknown>,
    opts: {
      signal?: AbortSignal;
      onprogress?: (p: { progress: number; total?: number; message?: string }) => void;
      timeoutMs?: number;
    } = {},
  ): Promise<CallToolResult> {
    const { server, tool } = McpHub.split(qualified);
    const { conn, client } = this.connected(server);
    if (conn.config.disabledTools.includes(tool)) {
      throw new NotFoundError(
        `Tool "${tool}" of "${server}" is disabled in ${conn.config.source}.`,
      );
    }
    const call = () =>
      client.callTool({ name: tool, arguments: args }, undefined, {
        signal: opts.signal,
        onprogress: opts.onprogress,
        timeout: opts.timeoutMs,
        resetTimeoutOnProgress: true,
      }) as Promise<CallToolResult>;
    try {
      try {
        return await call();
      } catch (err) {
        // A tool that needs more than the token allows (step-up): sign in again, retry once.
        if (!(await conn.signIn(err, conn.generation))) throw err;
        return await call();
      }
    } catch (err) {
      // A JSON-RPC error is the server's answer; anything else (refused connection, an
      // unknown session after the server restarted) means the connection is gone.
      if (err instanceof McpError || isAbort(err) || opts.signal?.aborted) throw err;
      // Refused credentials are an answer too: the connection itself is fine.
      if (isUnauthorized(err) || err instanceof AuthError) throw err;
      if (conn.client !== client || conn.state !== 'connected') throw err;
      conn.lost(err);
      throw new ProviderUnavailableError(
        `MCP server "${server}" cannot be reached (${(err as Error).message}); reconnecting. Check :RuneMcp.`,
        conn.config.url,
        { cause: err },
      );
    }
  }

  resources(server: string): Resource[] {
    return this.connected(server).conn.resources;
  }

  async readResource(
    server: string,
    uri: string,
    signal?: AbortSignal,
  ): Promise<ReadResourceResult> {
    return this.connected(server).client.readResource({ uri }, { signal });
  }

  prompts(server: string): Prompt[] {
    return this.connected(server).conn.prompts;
  }

  async getPrompt(
    server: string,
    name: string,
    args: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<GetPromptResult> {
    return this.connected(server).client.getPrompt({ name, arguments: args }, { signal });
  }

  private conn(name: string): ServerConnection {
    const conn = this.servers.get(name);
    if (!conn) throw new NotFoundError(`No MCP server named "${name}" is configured.`);
    return conn;
  }

  async enable(name: string): Promise<void> {
    const conn = this.conn(name);
    conn.config = { ...conn.config, disabled: false };
    await conn.stop();
    await conn.start();
  }

  async disable(name: string): Promise<void> {
    const conn = this.conn(name);
    conn.config = { ...conn.config, disabled: true };
    await conn.stop('disabled');
    this.changed();
  }

  async restart(name: string): Promise<void> {
    const conn = this.conn(name);
    await conn.stop();
    conn.failures = 0;
    await conn.start();
  }

  /**
   * Stops the servers still starting (connecting, or waiting for a sign-in): they are in
   * state `cancelled` when this returns its promise, and stay down until enabled or
   * restarted. Resolves with their names once their processes are gone.
   */
  async cancelStarting(): Promise<string[]> {
    const starting = [...this.servers.values()].filter(
      (c) => c.state === 'connecting' || c.state === 'authorizing',
    );
    // Each stop sets the state at once; the processes may take a moment to exit.
    const stopping = Promise.all(starting.map((c) => c.stop('cancelled')));
    if (starting.length) this.changed();
    await stopping;
    return starting.map((c) => c.config.name);
  }

  /** Calls `fn` whenever a server's state, tools, resources or prompts change. */
  onDidChange(fn: () => void): Disposable {
    this.listeners.add(fn);
    return toDisposable(() => this.listeners.delete(fn));
  }

  /** @internal */
  changed(): void {
    for (const fn of [...this.listeners]) {
      try {
        fn();
      } catch (err) {
        this.opts.logger.warn('hub listener failed', { err });
      }
    }
  }

  /** Stops every server; `hurry` (Neovim is gone) gives stubborn ones less time before SIGKILL. */
  async dispose(opts: { hurry?: boolean } = {}): Promise<void> {
    const all = [...this.servers.values()];
    this.servers.clear();
    this.listeners.clear();
    const grace = opts.hurry ? HURRIED_STOP_GRACE_MS : STOP_GRACE_MS;
    await Promise.all(all.map((s) => s.stop('stopped', grace)));
  }
}
