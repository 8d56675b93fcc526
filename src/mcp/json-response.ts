/**
 * Plain requests of an initialized Streamable HTTP session answered as one
 * `application/json` response, written straight to Node's response.
 *
 * The spec lets a server answer a POST that carries a request either with an
 * SSE stream or with one JSON object (MCP 2025-11-25, "Transports: Streamable
 * HTTP", "Sending Messages to the Server", item 5; clients must accept both).
 * The SDK's `StreamableHTTPServerTransport` can do JSON only for a whole
 * session (`enableJsonResponse`), and it converts every Node request to a
 * web `Request`/`Response` pair (through @hono/node-server) before its own
 * checks: most of a small call's time. So this wrapper sits between the
 * session's `McpServer` and the SDK transport: a request that `takes()`
 * accepts is handed to the server directly and its answer written here;
 * everything else (initialize, batches, GET streams, DELETE, responses
 * from the client, calls that stream) goes through the SDK transport
 * unchanged.
 *
 * `takes()` copies the SDK transport's POST rules (server/webStandardStreamableHttp.ts,
 * `handlePostRequest`, `validateSession`, `validateProtocolVersion`): a request
 * that would fail one of them is left to the SDK, which answers with its own
 * error, so both paths refuse the same requests the same way.
 *
 * If a call on this path sends anything before its answer (progress, a log
 * message, a sampling or elicitation request), the response turns into an
 * SSE stream at that moment and the answer ends it, as the SDK's stream would.
 */
import type * as http from 'node:http';
import { jsonChunks } from '../core/text-pieces.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type {
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  SUPPORTED_PROTOCOL_VERSIONS,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type JSONRPCResponse,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/** A message `takes()` accepted, and whether it is a request (checked once, with the SDK's schema). */
export interface Taken {
  message: JSONRPCMessage;
  request: boolean;
}

interface Pending {
  res: http.ServerResponse;
  /** Set once something other than the answer was sent: the response is an SSE stream. */
  streaming: boolean;
}

export class JsonResponseTransport implements Transport {
  private readonly pending = new Map<RequestId, Pending>();

  constructor(private readonly inner: StreamableHTTPServerTransport) {}

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  set onmessage(h: Transport['onmessage']) {
    this.inner.onmessage = h;
  }
  get onmessage(): Transport['onmessage'] {
    return this.inner.onmessage;
  }
  set onclose(h: Transport['onclose']) {
    this.inner.onclose = h;
  }
  get onclose(): Transport['onclose'] {
    return this.inner.onclose;
  }
  set onerror(h: Transport['onerror']) {
    this.inner.onerror = h;
  }
  get onerror(): Transport['onerror'] {
    return this.inner.onerror;
  }

  /** The SDK transport's own handling, for every request `takes()` leaves. */
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<void> {
    return this.inner.handleRequest(req, res, body);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * The message in `body` when this path may take it: one JSON-RPC request
   * (not `initialize`), notification or response, not a batch, on this
   * initialized session, with the headers the SDK transport demands.
   * Otherwise undefined.
   */
  takes(req: http.IncomingMessage, body: unknown): Taken | undefined {
    const sid = this.inner.sessionId;
    if (!sid || req.headers['mcp-session-id'] !== sid || Array.isArray(body)) return undefined;
    const request = isJSONRPCRequest(body);
    if (request ? body.method === 'initialize' : !isOther(body)) return undefined;
    const accept = req.headers.accept;
    if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) {
      return undefined;
    }
    // A client that lists text/event-stream first asks for a stream: it gets one.
    if (accept.indexOf('text/event-stream') < accept.indexOf('application/json')) return undefined;
    if (!isJsonContentType(req.headers['content-type'])) return undefined;
    const version = req.headers['mcp-protocol-version'];
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(String(version))) {
      return undefined;
    }
    if (request && this.pending.has(body.id)) return undefined;
    return { message: body as JSONRPCMessage, request };
  }

  /**
   * Hands `message` (taken by `takes`) to the server. A request's answer goes
   * to `res`; anything else is acknowledged at once with 202, as the SDK does.
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse, { message, request }: Taken): void {
    const extra: MessageExtraInfo = {
      requestInfo: { headers: req.headers, url: new URL(req.url ?? '/mcp', 'http://127.0.0.1') },
    };
    if (!request) {
      this.inner.onmessage?.(message, extra);
      res.writeHead(202).end();
      return;
    }
    const id = (message as JSONRPCRequest).id;
    const entry: Pending = { res, streaming: false };
    this.pending.set(id, entry);
    res.once('close', () => {
      if (this.pending.get(id) === entry) this.pending.delete(id);
    });
    this.inner.onmessage?.(message, extra);
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    // The server's own messages, built by the SDK: a response is the one without a method.
    const answer = !('method' in message);
    const id = answer ? (message as JSONRPCResponse).id : options?.relatedRequestId;
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (!entry) return this.inner.send(message, options);
    const { res } = entry;
    if (answer) {
      this.pending.delete(id!);
      if (entry.streaming) {
        res.end(sseEvent(message));
      } else {
        // A long text (a large read) comes as the pieces it was joined from
        // (src/core/text-pieces.ts): written in one writev, never as one string.
        const chunks = jsonChunks(message);
        const body = chunks.length === 1 ? Buffer.from(chunks[0]!) : undefined;
        let length = body?.length ?? 0;
        if (!body) for (const c of chunks) length += Buffer.byteLength(c);
        res.writeHead(200, {
          'Content-Type': 'application/json',
          'Content-Length': length,
          'mcp-session-id': this.inner.sessionId ?? '',
        });
        if (body) {
          res.end(body);
        } else {
          // Corked: the pieces leave in one writev (end() uncorks).
          res.cork();
          for (const c of chunks) res.write(c);
          res.end();
        }
      }
      return Promise.resolve();
    }
    if (!entry.streaming) {
      entry.streaming = true;
      // The headers of the SDK's SSE responses.
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
        'mcp-session-id': this.inner.sessionId ?? '',
      });
    }
    res.write(sseEvent(message));
    return Promise.resolve();
  }
}

/** A notification or a response (to a request the server sent). */
function isOther(m: unknown): boolean {
  return isJSONRPCNotification(m) || isJSONRPCResultResponse(m) || isJSONRPCErrorResponse(m);
}

function sseEvent(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}
