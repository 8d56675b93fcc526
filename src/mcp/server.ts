/**
 * Rune's MCP server over Streamable HTTP, bound to 127.0.0.1, with its guard:
 *
 * - Host must be a loopback name, and Origin (when sent) a loopback http
 *   origin: anything else gets 403 (DNS rebinding).
 * - Every request carries `Authorization: Bearer <token>`: a 128-bit token
 *   from the OS random source, compared in constant time; otherwise 401.
 * - No CORS: no Access-Control-* header is ever sent and preflights get 403.
 * - Limits: sessions, concurrent requests per session, request body size;
 *   idle sessions expire.
 *
 * Each session gets its own `McpServer` (the SDK serves one transport per
 * server). Tools are served straight from the shared ToolRegistry rather than
 * copied into each session with `registerTool`: the tool list and its JSON
 * Schemas (2020-12, the MCP default dialect) are built once for all sessions,
 * which keeps a session small, and a registry change is one
 * `list_changed` notification per session.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isInitializeRequest,
  isJSONRPCRequest,
  type JSONRPCRequest,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import type { Disposable } from '../core/disposable.js';
import { AbortError } from '../core/errors.js';
import { BoundedEventStore } from './event-store.js';
import { JsonResponseTransport, type Taken } from './json-response.js';
import { ownStandaloneStream } from './standalone-stream.js';
import { bearerMatches, checkHostAndOrigin, digest } from './guard.js';
import { TlsListener, type TlsOptions } from './tls.js';
import {
  SessionTable,
  clientName,
  newSession,
  type Session,
  type SessionSummary,
} from './sessions.js';
export type { Session, SessionSummary } from './sessions.js';
export type { TlsOptions } from './tls.js';
import { SocketServerTransport, readAuthLine } from './socket.js';
import { nullLogger, type Logger } from '../core/log.js';
import { VERSION } from '../core/version.js';
import { anySignal } from '../core/signals.js';
import type {
  CallGate,
  EditProposal,
  RegisteredTool,
  ReviewAnswer,
  ToolContext,
  ToolRegistry,
} from '../tools/registry.js';

export interface McpHttpServerOptions {
  registry: ToolRegistry;
  /** Which of the registry's tools agents see and may call (default: all). */
  publish?: (tool: RegisteredTool) => boolean;
  /** Approval and audit; every tool call passes through it. */
  gate?: CallGate;
  /**
   * Whether a call of a tool that needs approval will wait for a person (default: always).
   * A call the rules or a remembered answer settle at once is answered as plain JSON.
   */
  asksPerson?: (tool: RegisteredTool, args: Record<string, unknown>) => boolean;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Given for tests and fixed setups; otherwise 16 random bytes, hex. */
  token?: string;
  /** Most live sessions (default 1024). */
  maxSessions?: number;
  /** Most requests in flight per session (default 16). */
  maxConcurrent?: number;
  /** Largest request body in bytes (default 4 MiB). */
  maxBodyBytes?: number;
  /** A session unused this long is closed (default 30 min). */
  idleTimeoutMs?: number;
  /** Adds resources and prompts to each session's server. */
  setup?: (server: McpServer, session: Session, sdk: SdkServer) => void;
  logger?: Logger;
  name?: string;
  /** Called when sessions open or close (for `:RuneMcp`). */
  onSessionsChanged?: () => void;
  /**
   * A second listener over TLS, for users who expose the server beyond
   * loopback. The token is still required on it; its Host must be one of
   * `allowedHosts` (or loopback). The certificate files are read again when
   * they change.
   */
  tls?: TlsOptions;
}

/** A connected client, as `:RuneMcp` lists it. */
type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * Checks the answers to elicitation requests (the only use a server makes of
 * it). The SDK builds an Ajv instance per server when none is given: about
 * 3 ms and 30 KB for every session, for a check most sessions never make.
 * One Ajv per check instead: elicitation waits for a person anyway, and a
 * shared Ajv would keep every schema it ever compiled.
 */
const ELICIT_VALIDATOR: jsonSchemaValidator = {
  getValidator: (schema) => new loaded!.AjvJsonSchemaValidator().getValidator(schema),
};

/** The SDK's server module (`McpServer`, `ResourceTemplate`, …). */
export type SdkServer = typeof import('@modelcontextprotocol/sdk/server/mcp.js');

interface Sdk {
  server: SdkServer;
  StreamableHTTPServerTransport: typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js').StreamableHTTPServerTransport;
  /** The same, serving a session's standalone GET stream itself (standalone-stream.ts). */
  SessionTransport: typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js').StreamableHTTPServerTransport;
  AjvJsonSchemaValidator: typeof import('@modelcontextprotocol/sdk/validation/ajv-provider.js').AjvJsonSchemaValidator;
}

let loaded: Sdk | undefined;
let loading: Promise<Sdk> | undefined;

/**
 * The SDK's server side (with its HTTP adapter and Ajv), imported when the
 * first client connects rather than when the host starts: a host most often
 * serves no agent at all.
 */
function loadSdk(): Promise<Sdk> {
  loading ??= Promise.all([
    import('@modelcontextprotocol/sdk/server/mcp.js'),
    import('@modelcontextprotocol/sdk/server/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/validation/ajv-provider.js'),
  ]).then(([server, http, ajv]) => {
    loaded = {
      server,
      StreamableHTTPServerTransport: http.StreamableHTTPServerTransport,
      SessionTransport: ownStandaloneStream(http.StreamableHTTPServerTransport),
      AjvJsonSchemaValidator: ajv.AjvJsonSchemaValidator,
    };
    return loaded;
  });
  loading.catch(() => (loading = undefined));
  return loading;
}

/** After a drain's grace, how long cancelled calls get to send their result. */
const CANCEL_GRACE_MS = 1000;

export class McpHttpServer implements Disposable {
  readonly token: string;
  private readonly http: http.Server;
  private readonly sessions = new SessionTable();
  private readonly logger: Logger;
  private readonly maxSessions: number;
  private readonly maxConcurrent: number;
  private readonly maxBody: number;
  private readonly idleMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private registryWatch: Disposable | undefined;
  private boundPort = 0;
  private readonly tokenDigest: Buffer;
  private toolList: Tool[] | undefined;
  private oneShots = 0;
  private readonly startedAt = Date.now();
  private tlsListener: TlsListener | undefined;
  private draining = false;
  /** Aborted when a drain runs out of grace: tool calls still running are cancelled. */
  private readonly stopping = new AbortController();
  private socketServer: net.Server | undefined;

  constructor(private readonly opts: McpHttpServerOptions) {
    this.token = opts.token ?? randomBytes(16).toString('hex');
    this.tokenDigest = digest(this.token);
    this.logger = (opts.logger ?? nullLogger).child({ part: 'mcp' });
    this.logger.addSecret(this.token);
    this.maxSessions = opts.maxSessions ?? 1024;
    this.maxConcurrent = opts.maxConcurrent ?? 16;
    this.maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
    this.idleMs = opts.idleTimeoutMs ?? 30 * 60 * 1000;
    this.http = http.createServer(this.listener);
    this.http.keepAliveTimeout = 65_000;
    this.http.maxHeadersCount = 100;
  }

  /** Listens on 127.0.0.1; resolves with the port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.opts.port ?? 0, '127.0.0.1', () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const addr = this.http.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : 0;
    if (this.opts.tls) {
      this.tlsListener = new TlsListener(this.opts.tls, this.listener, this.logger);
      await this.tlsListener.listen();
    }
    this.registryWatch = this.opts.registry.onDidChange(() => {
      this.toolList = undefined;
      for (const s of this.sessions.all()) {
        void s.server.server.sendToolListChanged().catch(() => undefined);
      }
    });
    const every = Math.max(250, Math.min(this.idleMs / 4, 60_000));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}/mcp`;
  }

  /**
   * Also serves newline-delimited JSON-RPC on the Unix socket `file` (for `rune mcp`).
   * Its folder must be the user's own (0700): the token is still required.
   */
  async listenSocket(file: string): Promise<void> {
    fs.rmSync(file, { force: true });
    const srv = net.createServer((sock) => {
      this.acceptSocket(sock).catch((err: unknown) => {
        this.logger.error('socket connection failed', { err });
        sock.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(file, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(file, 0o600);
    this.socketServer = srv;
    this.socketFile = file;
  }

  /** The Unix socket's path, when there is one. */
  socketFile: string | undefined;

  private async acceptSocket(sock: net.Socket): Promise<void> {
    sock.setNoDelay(true);
    // Before the first read: once the auth line is read, nothing may wait until
    // the transport listens, or data would be lost. A client gone meanwhile is dropped.
    const dropped = () => sock.destroy();
    sock.once('error', dropped);
    const sdk = await loadSdk();
    sock.off('error', dropped);
    const head = await readAuthLine(sock, (line) => bearerMatches(line, this.tokenDigest));
    if (head === null) {
      this.logger.warn('refused socket connection', { reason: 'no or wrong token' });
      return;
    }
    if (this.draining || this.sessions.size >= this.maxSessions) {
      sock.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: -32000, message: 'The server is busy or shutting down; retry shortly.' },
        }) + '\n',
      );
      return;
    }
    const server = this.newServer(sdk);
    const gone = new AbortController();
    const s = newSession(server, undefined, { id: randomUUID(), streams: 1, gone });
    const transport = new SocketServerTransport(sock, head, this.maxBody);
    transport.onbusy = (n) => {
      s.inFlight = n;
      s.lastSeen = Date.now();
    };
    this.populate(s);
    this.sessions.add(s);
    transport.onclose = () => {
      gone.abort(new AbortError('The client closed the connection of this request.'));
      if (this.sessions.delete(s)) {
        void server.close().catch(() => undefined);
        this.logger.info('session closed', { session: s.id });
        this.opts.onSessionsChanged?.();
      }
    };
    await server.connect(transport);
    server.server.oninitialized = () => {
      this.logger.info('session opened', {
        session: s.id,
        client: clientName(server),
        via: 'socket',
      });
      this.opts.onSessionsChanged?.();
    };
  }

  /** The TLS listener's port (0 when there is none). */
  get securePort(): number {
    return this.tlsListener?.port ?? 0;
  }

  private readonly listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    this.handle(req, res).catch((err: unknown) => {
      this.logger.error('request failed', { err });
      if (!res.headersSent) sendJsonError(res, 500, -32603, 'Internal error.');
      else res.end();
    });
  };

  /**
   * Stops taking requests and waits (at most `graceMs`) for those in flight
   * to finish, or until `hurry` aborts (Neovim is gone); `close()` then ends whatever is left.
   */
  async drain(graceMs: number, hurry?: AbortSignal): Promise<void> {
    this.draining = true;
    const busy = () => this.sessions.all().some((s) => s.inFlight > 0) || this.oneShots > 0;
    const until = async (end: number, signal?: AbortSignal) => {
      while (busy() && Date.now() < end && !signal?.aborted) {
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(Date.now() + graceMs, hurry);
    if (!busy()) return;
    // Out of grace: cancel what still runs, so each caller gets a result saying so.
    this.stopping.abort(
      new AbortError('Neovim is closing; the call was cancelled. Retry it once Neovim runs again.'),
    );
    await until(Date.now() + CANCEL_GRACE_MS);
  }

  /** What GET /health answers (after the token check). */
  health(): Record<string, unknown> {
    return {
      status: this.draining ? 'draining' : 'ok',
      version: VERSION,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      sessions: this.sessions.size,
      in_flight: this.sessions.all().reduce((n, s) => n + s.inFlight, 0) + this.oneShots,
      tools: this.tools().length,
      tls: (this.tlsListener?.port ?? 0) || null,
    };
  }

  sessionList(): SessionSummary[] {
    return this.sessions.summaries();
  }

  /** Ends a session (its client must initialize again). False when there is none. */
  closeSession(id: string): boolean {
    const s = this.sessions.find(id);
    if (!s) return false;
    if (!s.transport) void s.server.close().catch(() => undefined);
    else this.drop(s);
    return true;
  }

  /** Tells the sessions subscribed to `uri` that it changed. */
  resourceUpdated(uri: string): void {
    for (const s of this.sessions.all()) {
      if (s.subscriptions.has(uri)) {
        void s.server.server.sendResourceUpdated({ uri }).catch(() => undefined);
      }
    }
  }

  /** Tells every session the list of resources changed. */
  resourceListChanged(): void {
    for (const s of this.sessions.all()) s.server.sendResourceListChanged();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.registryWatch?.dispose();
    const all = this.sessions.clear();
    if (this.socketServer) {
      this.socketServer.close();
      if (this.socketFile) fs.rmSync(this.socketFile, { force: true });
    }
    await Promise.all(all.map((s) => s.server.close().catch(() => undefined)));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    await this.tlsListener?.close();
  }

  dispose(): void {
    void this.close();
  }

  private sweep(): void {
    for (const s of this.sessions.idle(Date.now(), this.idleMs)) {
      this.logger.info('session expired', { session: s.id });
      this.drop(s);
    }
  }

  private drop(s: Session): void {
    if (!this.sessions.delete(s)) return;
    void s.server.close().catch(() => undefined);
    this.opts.onSessionsChanged?.();
  }

  /**
   * The Authorization header each connection last proved the token with. A
   * keep-alive client sends the same header with every request: comparing it to
   * what this very connection already proved skips hashing it again. A connection
   * that never proved the token has no entry, so guessing still meets the
   * constant-time check.
   */
  private readonly proven = new WeakMap<object, string>();

  private authorized(req: http.IncomingMessage): boolean {
    const value = req.headers.authorization;
    if (value !== undefined && this.proven.get(req.socket) === value) return true;
    if (!bearerMatches(value, this.tokenDigest)) return false;
    this.proven.set(req.socket, value!);
    return true;
  }

  /** The guard, then routing to a session. */
  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const forbidden = checkHostAndOrigin(
      req.headers,
      (req.socket as { encrypted?: boolean }).encrypted === true,
      this.opts.tls?.allowedHosts,
    );
    if (forbidden) {
      this.logger.warn('refused request', { reason: forbidden });
      sendJsonError(res, 403, -32000, forbidden);
      return;
    }
    if (req.method === 'OPTIONS') {
      sendJsonError(res, 403, -32000, 'Cross-origin requests are not allowed.');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/health') {
      if (!this.authorized(req)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="rune"');
        sendJsonError(res, 401, -32001, 'Unauthorized: /health needs the bearer token too.');
        return;
      }
      res.writeHead(this.draining ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(this.health()));
      return;
    }
    if (this.draining) {
      res.setHeader('Retry-After', '1');
      sendJsonError(res, 503, -32000, 'The server is shutting down.');
      return;
    }
    if (url.pathname !== '/mcp') {
      sendJsonError(res, 404, -32000, 'Not found: the MCP endpoint is /mcp.');
      return;
    }
    if (!this.authorized(req)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="rune"');
      sendJsonError(
        res,
        401,
        -32001,
        'Unauthorized: send "Authorization: Bearer <token>" (see :RuneMcp for the token).',
      );
      return;
    }
    const sid = headerOf(req, 'mcp-session-id');
    let body: unknown;
    if (req.method === 'POST') {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > this.maxBody) {
        sendJsonError(res, 413, -32600, `Request body over ${this.maxBody} bytes.`);
        req.resume();
        return;
      }
      const raw = await readBody(req, this.maxBody);
      if (raw === null) {
        sendJsonError(res, 413, -32600, `Request body over ${this.maxBody} bytes.`);
        return;
      }
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        sendJsonError(res, 400, -32700, 'Parse error: the body is not JSON.');
        return;
      }
    }
    if (!sid) {
      if (req.method === 'POST' && isInitialize(body)) {
        await this.openSession(req, res, body);
      } else if (req.method === 'POST') {
        // Clients that call without `initialize` (zeke's does) get a one-shot stateless exchange.
        await this.oneShot(req, res, body);
      } else {
        sendJsonError(
          res,
          400,
          -32000,
          'Bad Request: no Mcp-Session-Id header; send initialize first.',
        );
      }
      return;
    }
    const s = this.sessions.get(sid);
    if (!s) {
      sendJsonError(
        res,
        404,
        -32001,
        'Session not found: it expired or was closed; initialize again.',
      );
      return;
    }
    if (s.inFlight >= this.maxConcurrent) {
      res.setHeader('Retry-After', '1');
      sendJsonError(
        res,
        429,
        -32000,
        `Too many concurrent requests in this session (limit ${this.maxConcurrent}); retry shortly.`,
      );
      return;
    }
    s.lastSeen = Date.now();
    s.inFlight++;
    const isStream = req.method === 'GET';
    if (isStream) {
      s.streams++;
      s.inFlight--;
    }
    res.once('close', () => {
      if (isStream) s.streams--;
      else s.inFlight--;
      s.lastSeen = Date.now();
    });
    const plain = req.method === 'POST' ? s.transport!.takes(req, body) : undefined;
    if (req.method === 'POST') this.trackConnection(s, res, body, plain);
    if (plain && !(plain.request && this.streams(plain.message as JSONRPCRequest))) {
      s.transport!.handle(req, res, plain);
    } else await s.transport!.handleRequest(req, res, body);
  }

  private newServer(sdk: Sdk): McpServer {
    const server = new sdk.server.McpServer(
      { name: this.opts.name ?? 'rune', version: VERSION },
      {
        capabilities: {
          tools: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          prompts: { listChanged: true },
          logging: {},
        },
        jsonSchemaValidator: ELICIT_VALIDATOR,
      },
    );
    return server;
  }

  private async openSession(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: unknown,
  ): Promise<void> {
    if (this.sessions.httpCount >= this.maxSessions) {
      res.setHeader('Retry-After', '5');
      sendJsonError(
        res,
        503,
        -32000,
        `Too many sessions (limit ${this.maxSessions}); close unused clients and retry.`,
      );
      return;
    }
    const sdk = await loadSdk();
    const server = this.newServer(sdk);
    const ref: { session?: Session } = {};
    const inner = new sdk.SessionTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: new BoundedEventStore(),
      retryInterval: 1000,
      onsessioninitialized: (id) => {
        const session = ref.session;
        if (!session) return;
        session.id = id;
        this.sessions.add(session);
        this.logger.info('session opened', { session: id, client: clientName(server) });
        this.opts.onSessionsChanged?.();
      },
    });
    const transport = new JsonResponseTransport(inner);
    const s = newSession(server, transport);
    ref.session = s;
    transport.onclose = () => {
      if (s.id) this.drop(s);
    };
    this.populate(s);
    await server.connect(transport);
    s.inFlight++;
    res.once('close', () => s.inFlight--);
    await transport.handleRequest(req, res, body);
  }

  private async oneShot(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: unknown,
  ): Promise<void> {
    if (this.oneShots >= this.maxConcurrent) {
      res.setHeader('Retry-After', '1');
      sendJsonError(
        res,
        429,
        -32000,
        `Too many requests without a session (limit ${this.maxConcurrent}); retry shortly.`,
      );
      return;
    }
    this.oneShots++;
    res.once('close', () => this.oneShots--);
    const sdk = await loadSdk();
    const server = this.newServer(sdk);
    const transport = new JsonResponseTransport(
      new sdk.StreamableHTTPServerTransport({ sessionIdGenerator: undefined }),
    );
    const s = newSession(server, transport, { inFlight: 1 });
    this.populate(s);
    await server.connect(transport);
    res.once('close', () => void server.close().catch(() => undefined));
    await transport.handleRequest(req, res, body);
  }

  private trackConnection(
    s: Session,
    res: http.ServerResponse,
    body: unknown,
    taken: Taken | undefined,
  ): void {
    const ids = taken
      ? taken.request
        ? [(taken.message as JSONRPCRequest).id]
        : []
      : (Array.isArray(body) ? body : [body]).filter(isJSONRPCRequest).map((m) => m.id);
    if (!ids.length) return;
    const mine = ids.map((id) => {
      const entry = { ctrl: new AbortController(), detached: false };
      s.open.set(id, entry);
      return [id, entry] as const;
    });
    res.once('close', () => {
      for (const [id, entry] of mine) {
        if (s.open.get(id) === entry) s.open.delete(id);
        if (!res.writableFinished && !entry.detached) {
          entry.ctrl.abort(new AbortError('The client closed the connection of this request.'));
        }
      }
    });
  }

  /**
   * True when a request should be answered on an SSE stream even though it
   * could be answered as JSON: the client asked for progress, or the call may
   * wait for a person (approval) or run someone else's code (hub and plugin
   * tools), which may close its stream for polling (`ctx.closeStream`).
   */
  private streams(m: JSONRPCRequest): boolean {
    if (m.params?._meta?.progressToken !== undefined) return true;
    if (m.method !== 'tools/call') return false;
    const tool = this.opts.registry.get(String(m.params?.name));
    if (!tool) return false;
    if (tool.def.origin !== undefined) return true;
    if (tool.approval === 'auto') return false;
    const args = m.params?.arguments;
    const asks = this.opts.asksPerson;
    return (
      !asks ||
      typeof args !== 'object' ||
      args === null ||
      Array.isArray(args) ||
      asks(tool, args as Record<string, unknown>)
    );
  }

  private tools(): Tool[] {
    const publish = this.opts.publish ?? (() => true);
    this.toolList ??= this.opts.registry
      .list()
      .filter(publish)
      .map((t) => ({
        name: t.def.name,
        title: t.def.title,
        description: t.def.description,
        inputSchema: t.jsonSchema as Tool['inputSchema'],
        annotations: t.def.annotations,
      }));
    return this.toolList;
  }

  private populate(s: Session): void {
    const registry = this.opts.registry;
    s.server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: this.tools() }));
    s.server.server.setRequestHandler(CallToolRequestSchema, (r, extra) => {
      const tool = registry.get(r.params.name);
      if (!tool || !(this.opts.publish?.(tool) ?? true)) {
        throw new McpError(ErrorCode.InvalidParams, `Tool ${r.params.name} not found`);
      }
      // The connection that carries this request (HTTP), else the session's (socket).
      const conn = s.open.get(extra.requestId)?.ctrl.signal ?? s.gone?.signal;
      const linked = anySignal([extra.signal, this.stopping.signal, ...(conn ? [conn] : [])]);
      return registry
        .call(
          r.params.name,
          r.params.arguments ?? {},
          this.context(s, extra, linked.signal),
          this.opts.gate,
        )
        .finally(() => linked.dispose());
    });
    s.server.server.setRequestHandler(SubscribeRequestSchema, (r) => {
      s.subscriptions.add(r.params.uri);
      return {};
    });
    s.server.server.setRequestHandler(UnsubscribeRequestSchema, (r) => {
      s.subscriptions.delete(r.params.uri);
      return {};
    });
    this.opts.setup?.(s.server, s, loaded!.server);
  }

  /** `signal` fires when the client cancels, its connection closes, or the server stops. */
  private context(s: Session, extra: Extra, signal: AbortSignal): ToolContext {
    const token = extra._meta?.progressToken;
    const open = s.open.get(extra.requestId);
    const closeStream = extra.closeSSEStream;
    return {
      signal,
      caller: { client: clientName(s.server), session: s.id || undefined },
      progress: (p) => {
        if (token === undefined) return;
        void extra
          .sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, ...p },
          })
          .catch(() => undefined);
      },
      // Without a gate (tests, fixtures) there is nobody to ask: edits apply in full.
      review: (proposal: EditProposal): Promise<ReviewAnswer> =>
        Promise.resolve({ accepted: proposal.hunks.map((_, i) => i) }),
      log: (level, data) => {
        void extra
          .sendNotification({ method: 'notifications/message', params: { level, data } })
          .catch(() => undefined);
      },
      // Closed on purpose: the client reconnects for the answer; the call goes on.
      ...(closeStream
        ? {
            closeStream: () => {
              if (open) open.detached = true;
              closeStream();
            },
          }
        : {}),
      sample: (params) =>
        extra.sendRequest({ method: 'sampling/createMessage', params }, CreateMessageResultSchema),
      elicit: (params) =>
        extra.sendRequest({ method: 'elicitation/create', params }, ElicitResultSchema),
    };
  }
}

function headerOf(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isInitialize(body: unknown): boolean {
  if (Array.isArray(body)) return body.some((m) => isInitializeRequest(m));
  return isInitializeRequest(body);
}

function sendJsonError(res: http.ServerResponse, status: number, code: number, message: string) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

/** The body, or null when it grows past `max` bytes. */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        return;
      }
      if (!over) chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
