/**
 * A session's standalone SSE stream (the GET stream a client keeps open for
 * server-sent notifications) written straight to Node's response.
 *
 * The SDK's `StreamableHTTPServerTransport` serves it by turning the Node
 * request into a web `Request`, answering with a `ReadableStream`, and piping
 * that back through @hono/node-server: for the life of the stream every idle
 * session holds a request, a response, two streams, a reader, an encoder,
 * pending promises and a keep-alive timer of its own. That is most of what an
 * idle session costs. This subclass keeps only the Node response.
 *
 * It copies the SDK's rules (server/webStandardStreamableHttp.ts,
 * `handleGetRequest`, `replayEvents`, `send` for messages with no related
 * request, `closeStandaloneSSEStream`, `close`): the same checks in the same
 * order, one stream per session (409 for a second), events filed in the event
 * store under the SDK's stream id so `Last-Event-ID` replays them (409 while
 * the stream is still open), and keep-alive comments every 15 s. A GET this
 * path does not take (one the SDK would refuse, or a `Last-Event-ID` of a
 * request's stream) goes to the SDK unchanged.
 */
import type * as http from 'node:http';
import type {
  EventStore,
  StreamableHTTPServerTransport,
  StreamableHTTPServerTransportOptions,
} from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type {
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  SUPPORTED_PROTOCOL_VERSIONS,
  isJSONRPCErrorResponse,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';

/** The SDK's id of the standalone stream, under which its events are stored. */
const STANDALONE = '_GET_stream';
/** The SDK's `DEFAULT_SSE_KEEP_ALIVE_MS`. */
const KEEP_ALIVE_MS = 15_000;

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};

interface Stream {
  res: http.ServerResponse;
  /** Events this stream got from a replay (not to be written twice). */
  replayed?: Set<string>;
}

/**
 * Open standalone streams of every session, kept alive by one timer
 * (rather than one per stream, as the SDK does).
 */
const live = new Set<http.ServerResponse>();
let ticker: NodeJS.Timeout | undefined;

function keepAlive(res: http.ServerResponse): void {
  live.add(res);
  if (ticker) return;
  ticker = setInterval(() => {
    for (const r of live) if (writable(r)) r.write(': keepalive\n\n');
  }, KEEP_ALIVE_MS);
  ticker.unref();
}

function forget(res: http.ServerResponse): void {
  live.delete(res);
  if (live.size === 0 && ticker) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

function writable(res: http.ServerResponse): boolean {
  return !res.writableEnded && !res.destroyed;
}

function finish(res: http.ServerResponse): void {
  forget(res);
  if (writable(res)) res.end();
}

/** The SDK's `writeSSEEvent` framing. */
function sseEvent(message: JSONRPCMessage, id: string | undefined): string {
  return `event: message\n${id ? `id: ${id}\n` : ''}data: ${JSON.stringify(message)}\n\n`;
}

/** The SDK's `createJsonErrorResponse`. */
function jsonError(res: http.ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** `Base` (the SDK's Node transport) serving its standalone stream itself. */
export function ownStandaloneStream(
  Base: typeof StreamableHTTPServerTransport,
): typeof StreamableHTTPServerTransport {
  return class extends Base {
    readonly #events: EventStore | undefined;
    #stream: Stream | undefined;
    #closed = false;
    #onclose: Transport['onclose'];

    constructor(options: StreamableHTTPServerTransportOptions = {}) {
      super(options);
      this.#events = options.eventStore;
      // The SDK closes itself on DELETE: its stream ends then too.
      super.onclose = () => {
        this.#closed = true;
        this.closeStandaloneSSEStream();
        this.#onclose?.();
      };
    }

    override set onclose(h: Transport['onclose']) {
      this.#onclose = h;
    }
    override get onclose(): Transport['onclose'] {
      return this.#onclose;
    }

    override async handleRequest(
      req: http.IncomingMessage,
      res: http.ServerResponse,
      parsedBody?: unknown,
    ): Promise<void> {
      if (req.method !== 'GET' || this.#closed || !this.#takes(req)) {
        return super.handleRequest(req, res, parsedBody);
      }
      const last = header(req, 'last-event-id');
      if (last) {
        const stream = this.#events && (await this.#events.getStreamIdForEventId?.(last));
        if (stream !== STANDALONE) return super.handleRequest(req, res, parsedBody);
        if (this.#stream) {
          this.onerror?.(new Error('Conflict: Stream already has an active connection'));
          jsonError(res, 409, -32000, 'Conflict: Stream already has an active connection');
          return;
        }
        return this.#resume(res, last);
      }
      if (this.#stream) {
        this.onerror?.(new Error('Conflict: Only one SSE stream is allowed per session'));
        jsonError(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
        return;
      }
      this.#open(res, []);
    }

    override async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
      const answer = isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message);
      if (answer || options?.relatedRequestId !== undefined) return super.send(message, options);
      // Stored even with no stream open, so a reconnect replays it.
      const id = await this.#events?.storeEvent(STANDALONE, message);
      const s = this.#stream;
      if (!s || !writable(s.res) || (id !== undefined && s.replayed?.has(id))) return;
      s.res.write(sseEvent(message, id));
    }

    override closeStandaloneSSEStream(): void {
      const s = this.#stream;
      this.#stream = undefined;
      if (s) finish(s.res);
    }

    /** The checks the SDK makes before serving a GET: a request failing one is left to it. */
    #takes(req: http.IncomingMessage): boolean {
      if (!header(req, 'accept')?.includes('text/event-stream')) return false;
      const sid = this.sessionId;
      if (sid === undefined || header(req, 'mcp-session-id') !== sid) return false;
      const version = header(req, 'mcp-protocol-version');
      return version === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(version);
    }

    async #resume(res: http.ServerResponse, last: string): Promise<void> {
      const chunks: string[] = [];
      const replayed = new Set<string>();
      await this.#events!.replayEventsAfter(last, {
        send: (id, message) => {
          chunks.push(sseEvent(message, id));
          replayed.add(id);
          return Promise.resolve();
        },
      });
      if (!writable(res)) return;
      if (this.#closed) {
        jsonError(res, 404, -32001, 'Session not found');
        return;
      }
      // One opened while this replayed loses the stream to it.
      this.closeStandaloneSSEStream();
      this.#open(res, chunks, replayed);
    }

    #open(res: http.ServerResponse, chunks: string[], replayed?: Set<string>): void {
      res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': this.sessionId ?? '' });
      res.flushHeaders();
      for (const c of chunks) res.write(c);
      const stream: Stream = replayed ? { res, replayed } : { res };
      this.#stream = stream;
      keepAlive(res);
      res.once('close', () => {
        forget(res);
        if (this.#stream === stream) this.#stream = undefined;
      });
    }
  };
}
