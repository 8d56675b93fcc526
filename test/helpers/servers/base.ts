/**
 * The shared engine of the fake API servers: an HTTP server on 127.0.0.1 (port 0) that
 * records every request, counts connections the client closed before the answer ended,
 * and answers each route from a queue of scripted replies (then a per-route script
 * function, then the API's default answer). The per-API modules (ollama.ts, anthropic.ts,
 * openai.ts, zeke.ts) turn a high-level script (text deltas, tool calls, usage, faults)
 * into the exact bytes each API sends.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request the server received. `body` is the parsed JSON body (or the raw text, or undefined). */
export interface RecordedRequest {
  method: string;
  /** The path without the query string, e.g. `/api/chat`. */
  path: string;
  /** The query string's parameters. */
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  /** `performance.now()` when the request's body had arrived. */
  at: number;
}

/**
 * Faults any scripted reply can carry. They combine: e.g. `{ firstByteDelayMs: 50,
 * resetAfter: 2 }` waits, sends two chunks, then destroys the socket.
 */
export interface Fault {
  /** Answer with this HTTP status and the API's own error body (e.g. 429, 500, 503, 401, 400). */
  status?: number;
  /** Adds a `Retry-After` header (seconds, or an HTTP date string). */
  retryAfter?: number | string;
  /** More response headers (e.g. rate-limit headers). */
  headers?: Record<string, string>;
  /** The error message in the error body (status faults) or the in-stream error event. */
  errorMessage?: string;
  /** Waits this long before sending the status line and headers. */
  firstByteDelayMs?: number;
  /** Waits this long between stream chunks (a chosen streaming rate). */
  chunkDelayMs?: number;
  /** Destroys the socket (a connection reset) after sending this many chunks. */
  resetAfter?: number;
  /** Replaces chunk number N (0-based) with a malformed one (truncated JSON). */
  malformedAt?: number;
  /** Stalls before chunk number N (0-based) for `stallMs` (default: forever). */
  stallAt?: number;
  stallMs?: number;
  /** With `stallAt`: stalls until this promise settles (the test decides when the stream goes on). */
  stallUntil?: Promise<unknown>;
  /** Accepts the request and never answers (until the client gives up or the server closes). */
  hang?: boolean;
  /** Sends an in-stream error event after the text/tool chunks instead of the normal end. */
  streamError?: boolean;
}

/** A reply as bytes: what the per-API modules produce from a script. */
export interface RawReply {
  status: number;
  headers: Record<string, string>;
  /** Body pieces, each written (and flushed) separately. */
  chunks: string[];
  /** What to write for the `malformedAt` fault. */
  malformed?: string;
}

export type Responder<S> = (req: RecordedRequest) => S;

interface Route<S> {
  queue: S[];
  script?: Responder<S>;
  fallback: Responder<S>;
  render: (script: S, req: RecordedRequest) => RawReply;
  /** Extra silence before the reply starts (e.g. a model loading), decided per request. */
  delay?: (script: S, req: RecordedRequest) => number;
}

export interface ServerOptions {
  /**
   * Writes the status line and headers together with the first body chunk instead of at
   * once (a server that computes before it writes anything, like Ollama's streamResponse).
   */
  holdHeaders?: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The public face shared by every fake server. */
export interface FakeServerBase<R extends string, S> {
  /** Base URL, e.g. `http://127.0.0.1:43123` (no trailing slash). */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Responses the client abandoned (connection closed before the response ended). */
  readonly closes: number;
  /** TCP connections accepted so far (keep-alive reuses them). */
  readonly connections: number;
  /** The requests received on one route. */
  requestsTo(route: R): RecordedRequest[];
  /** Queues scripted replies for the next requests on `route` (first in, first out). */
  enqueue(route: R, ...scripts: S[]): void;
  /** Decides every reply on `route` once its queue is empty (replaces the default answer). */
  script(route: R, fn: Responder<S> | undefined): void;
  /** Resolves once `closes` has reached `n` (default: one more than now). */
  waitForClose(n?: number): Promise<void>;
  /** Resolves once `requests.length` has reached `n`. */
  waitForRequests(n: number): Promise<void>;
  /** Stops the server, destroying open connections (hanging replies included). */
  close(): Promise<void>;
}

export async function startFakeServer<R extends string, S extends Fault>(
  routeOf: (method: string, path: string) => R | undefined,
  routes: Record<R, Omit<Route<S>, 'queue'>>,
  errorReply: (fault: S, route: R) => RawReply,
  options: ServerOptions = {},
): Promise<FakeServerBase<R, S>> {
  const table = new Map<R, Route<S>>();
  for (const [name, r] of Object.entries(routes) as [R, Omit<Route<S>, 'queue'>][]) {
    table.set(name, { ...r, queue: [] });
  }
  const requests: RecordedRequest[] = [];
  const byRoute = new Map<RecordedRequest, R>();
  const sockets = new Set<Socket>();
  let closes = 0;
  let connections = 0;
  const waiters: (() => void)[] = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  const waitUntil = (cond: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => (cond() ? resolve() : waiters.push(check));
      check();
    });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path: u.pathname,
        query: Object.fromEntries(u.searchParams),
        headers: req.headers,
        body,
        at: performance.now(),
      };
      requests.push(rec);
      let ended = false;
      let serverReset = false;
      res.on('finish', () => (ended = true));
      res.on('close', () => {
        if (!ended && !serverReset) closes++;
        notify();
      });
      notify();
      const name = routeOf(rec.method, rec.path);
      const route = name === undefined ? undefined : table.get(name);
      if (name === undefined || !route) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `no route for ${rec.method} ${rec.path}` }));
        return;
      }
      byRoute.set(rec, name);
      const s = route.queue.shift() ?? (route.script ?? route.fallback)(rec);
      void play(s, name, route, rec, res, () => (serverReset = true));
    });
  });

  async function play(
    s: S,
    name: R,
    route: Route<S>,
    rec: RecordedRequest,
    res: http.ServerResponse,
    markReset: () => void,
  ): Promise<void> {
    if (s.hang) return;
    const extra = route.delay?.(s, rec) ?? 0;
    if (s.firstByteDelayMs || extra) await sleep((s.firstByteDelayMs ?? 0) + extra);
    if (res.destroyed) return;
    const reply = s.status && s.status >= 400 ? errorReply(s, name) : route.render(s, rec);
    const headers = { ...reply.headers, ...s.headers };
    if (s.retryAfter !== undefined) headers['retry-after'] = String(s.retryAfter);
    res.writeHead(reply.status, headers);
    if (!options.holdHeaders) res.flushHeaders();
    for (let i = 0; i < reply.chunks.length; i++) {
      if (s.resetAfter !== undefined && i >= s.resetAfter) {
        markReset();
        res.socket?.destroy();
        return;
      }
      if (i > 0 && s.chunkDelayMs) await sleep(s.chunkDelayMs);
      if (s.stallAt === i) {
        if (s.stallUntil) await s.stallUntil.catch(() => undefined);
        else if (s.stallMs === undefined) return;
        else await sleep(s.stallMs);
      }
      if (res.destroyed) return;
      const chunk = s.malformedAt === i ? (reply.malformed ?? '{"broken":') : reply.chunks[i]!;
      // Waiting for each write to flush makes a later reset land after the bytes.
      await new Promise<void>((resolve) => res.write(chunk, () => resolve()));
    }
    if (s.resetAfter !== undefined && s.resetAfter >= reply.chunks.length) {
      markReset();
      res.socket?.destroy();
      return;
    }
    res.end();
  }

  server.on('connection', (sock) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get closes() {
      return closes;
    },
    get connections() {
      return connections;
    },
    requestsTo: (route) => requests.filter((r) => byRoute.get(r) === route),
    enqueue(route, ...scripts) {
      table.get(route)!.queue.push(...scripts);
    },
    script(route, fn) {
      table.get(route)!.script = fn;
    },
    waitForClose(n) {
      const target = n ?? closes + 1;
      return waitUntil(() => closes >= target);
    },
    waitForRequests(n) {
      return waitUntil(() => requests.length >= n);
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Server-Sent Events framing: one event per chunk. */
export function sse(data: unknown, event?: string): string {
  const payload = typeof data === 'string' ? data : JSON.stringify(data);
  return `${event ? `event: ${event}\n` : ''}data: ${payload}\n\n`;
}

/** Splits text into deltas of about `size` characters (for scripts that pass one string). */
export function splitText(text: string | string[] | undefined, size = 4): string[] {
  if (text === undefined) return [];
  if (Array.isArray(text)) return text;
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}
