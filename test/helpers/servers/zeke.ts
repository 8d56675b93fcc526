/**
 * A `zeke serve` double as strict as the real one. Every rule below is copied from zeke's
 * source (GhostKellz/zeke) and zhttp 0.1.x; the file named at each rule is the one to read.
 *
 * - One connection at a time (zhttp src/server.zig `listen`: accept, then `handleConnection`
 *   loops over keep-alive requests on that socket until the client closes it or sends
 *   `Connection: close`; only then is the next connection accepted). A client that keeps an
 *   idle connection open blocks every other client.
 * - A body is read only through `Content-Length` (zhttp `parseRequest`); a chunked body
 *   arrives empty.
 * - Bodies are parsed with Zig's default `std.json` options (src/rpc/zhttp_server.zig
 *   `handleChat`/`handleComplete`): a field the request struct does not declare, a missing
 *   required field or a wrong type is `400 {"error":"Invalid JSON request"}`.
 * - Routing (src/routing/router.zig `estimateComplexity`/`makeRoutingDecision`): an
 *   explicit `complexity` decides; else intent `completion` is simple and `architecture`/
 *   `reason` complex; else a prompt over 2000 bytes or `max_tokens` over 2048 is complex.
 *   Complex goes to the removed cloud path: `500 {"error":"Completion request failed",
 *   "code":"NoCloudProvider"}`.
 * - The local path calls Ollama's /api/generate with `model` or `deepseek-coder:33b`, and
 *   never passes `max_tokens` on. A model Ollama does not have answers 500 with code
 *   `OllamaGenerateError` (src/providers/ollama.zig `generate`). `pulled` lists the models
 *   this double's Ollama has.
 * - GET /api/status carries no model list (zhttp_server.zig `handleStatus`).
 *
 *   const s = await startZekeServer();
 *   s.enqueue('chat', { text: 'Hi', usage: { input: 5, output: 1 } });
 *   s.enqueue('chat', { status: 500, code: 'NoCloudProvider' });
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export type ZekeRoute = 'health' | 'chat' | 'complete' | 'status';

export interface ZekeScript {
  /** The model's answer. */
  text?: string;
  usage?: { input: number; output: number };
  /** Answer with this status and `{"error": error, "code": code}` instead. */
  status?: number;
  code?: string;
  error?: string;
  /** Never answer (zeke blocks on Ollama; every other client waits). */
  hang?: boolean;
  /** Answer after this long (a model generating; zeke sends nothing meanwhile). */
  delayMs?: number;
}

export interface ZekeRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
  raw: string;
  /** The status zeke answered. */
  status: number;
  /** Which accepted connection (1-based) carried it. */
  connection: number;
}

export interface ZekeServer {
  readonly url: string;
  readonly requests: ZekeRequest[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections waiting behind the one being served. */
  readonly waiting: number;
  /** Models the Ollama behind this zeke has pulled. */
  readonly pulled: Set<string>;
  requestsTo(route: ZekeRoute): ZekeRequest[];
  enqueue(route: ZekeRoute, ...scripts: ZekeScript[]): void;
  waitForRequests(n: number): Promise<void>;
  close(): Promise<void>;
}

/** zeke's ChatRequest (zhttp_server.zig): every field it declares, and its Zig type. */
const CHAT_FIELDS: Record<string, Kind> = {
  message: 'string!',
  model: 'string?',
  temperature: 'number?',
  max_tokens: 'u32?',
  intent: 'string?',
  language: 'string?',
  complexity: 'string?',
  project: 'string?',
};
/** zeke's CompleteRequest. */
const COMPLETE_FIELDS: Record<string, Kind> = {
  prompt: 'string!',
  model: 'string?',
  max_tokens: 'u32?',
  language: 'string?',
};
type Kind = 'string!' | 'string?' | 'number?' | 'u32?';

/** std.json.parseFromSlice(T, …, .{}) : the value, or undefined where Zig returns an error. */
function parseStrict(
  raw: string,
  fields: Record<string, Kind>,
): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const obj = v as Record<string, unknown>;
  for (const [k, x] of Object.entries(obj)) {
    const kind = fields[k];
    if (!kind) return undefined; // error.UnknownField
    if (x === null) {
      if (kind.endsWith('!')) return undefined;
      continue;
    }
    if (kind.startsWith('string') && typeof x !== 'string') return undefined;
    if (kind === 'number?' && typeof x !== 'number') return undefined;
    if (kind === 'u32?' && !(Number.isInteger(x) && (x as number) >= 0 && (x as number) < 2 ** 32))
      return undefined;
  }
  for (const [k, kind] of Object.entries(fields)) {
    if (kind.endsWith('!') && obj[k] === undefined) return undefined; // error.MissingField
  }
  return obj;
}

/** router.zig: estimateComplexity + makeRoutingDecision with the default RoutingConfig. */
function routesToCloud(prompt: string, r: Record<string, unknown>): boolean {
  const hint = r.complexity as string | undefined | null;
  const intent = (r.intent as string | undefined | null) ?? undefined;
  let complexity: 'simple' | 'medium' | 'complex';
  if (hint != null)
    complexity = hint === 'simple' ? 'simple' : hint === 'complex' ? 'complex' : 'medium';
  else if (intent === 'completion') complexity = 'simple';
  else if (intent === 'architecture' || intent === 'reason') complexity = 'complex';
  else {
    const len = Buffer.byteLength(prompt, 'utf8');
    const maxTokens = (r.max_tokens as number | undefined | null) ?? 512;
    if (len < 200 && maxTokens <= 512) complexity = 'simple';
    else if (len > 2000 || maxTokens > 2048) complexity = 'complex';
    else complexity = 'medium';
  }
  return complexity === 'complex';
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  204: 'No Content',
  400: 'Bad Request',
  404: 'Not Found',
  500: 'Internal Server Error',
};

export async function startZekeServer(): Promise<ZekeServer> {
  const requests: ZekeRequest[] = [];
  const routeOf = new Map<ZekeRequest, ZekeRoute>();
  const queues: Record<ZekeRoute, ZekeScript[]> = {
    health: [],
    chat: [],
    complete: [],
    status: [],
  };
  const pulled = new Set(['qwen2.5-coder:7b']);
  const sockets = new Set<net.Socket>();
  const backlog: net.Socket[] = [];
  let serving: net.Socket | undefined;
  let connections = 0;
  const waiters: (() => void)[] = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };

  const reply = (sock: net.Socket, status: number, body: string) => {
    // zhttp_server.zig sets the CORS headers on every answer; sendJson adds the type and length.
    const head =
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}\r\n` +
      'Access-Control-Allow-Origin: *\r\n' +
      'Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n' +
      'Access-Control-Allow-Headers: Content-Type\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    sock.write(head + body);
  };

  const answer = (
    route: ZekeRoute | undefined,
    raw: string,
  ): { status: number; body: string; delayMs?: number } | 'hang' => {
    const err = (status: number, error: string, code?: string) => ({
      status,
      body: JSON.stringify(code === undefined ? { error } : { error, code }),
    });
    if (route === undefined) return err(404, 'Not Found');
    if (route === 'health') {
      return { status: 200, body: '{"status":"ok","server":"zeke-rpc","version":"0.2.8"}' };
    }
    if (route === 'status') {
      return {
        status: 200,
        body: JSON.stringify({
          status: 'ok',
          providers: { ollama: 'unknown', omen: 'unknown' },
          routing: { local_available: false, cloud_available: false },
        }),
      };
    }
    const req = parseStrict(raw, route === 'chat' ? CHAT_FIELDS : COMPLETE_FIELDS);
    if (!req) return err(400, 'Invalid JSON request');
    const prompt = (route === 'chat' ? req.message : req.prompt) as string;
    // handleComplete sets intent "completion" itself (simple, local).
    if (route === 'chat' && routesToCloud(prompt, req)) {
      return err(500, 'Completion request failed', 'NoCloudProvider');
    }
    const s = queues[route].shift() ?? {};
    if (s.hang) return 'hang';
    if (s.status) return err(s.status, s.error ?? 'Completion request failed', s.code);
    const model = (req.model as string | undefined) ?? 'deepseek-coder:33b';
    if (!pulled.has(model)) return err(500, 'Completion request failed', 'OllamaGenerateError');
    const text = s.text ?? (route === 'chat' ? 'Hello from Zeke' : 'x + 1');
    return {
      status: 200,
      ...(s.delayMs ? { delayMs: s.delayMs } : {}),
      body: JSON.stringify(
        route === 'chat'
          ? {
              response: text,
              model,
              provider: 'ollama',
              tokens_in: s.usage?.input ?? 10,
              tokens_out: s.usage?.output ?? 3,
              latency_ms: 12,
            }
          : { completion: text, model, provider: 'ollama' },
      ),
    };
  };

  const next = () => {
    serving = undefined;
    while (backlog.length > 0) {
      const s = backlog.shift()!;
      if (!s.destroyed) return serve(s);
    }
  };

  /** zhttp's handleConnection: requests on one socket, one after the other. */
  const serve = (sock: net.Socket) => {
    serving = sock;
    const id = ++connections;
    let buf = Buffer.alloc(0);
    let busy = false;
    sock.on('close', () => {
      sockets.delete(sock);
      if (serving === sock) next();
    });
    const pump = () => {
      if (busy) return;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const [method, target, version] = (lines[0] ?? '').split(' ');
      if (!method || !target || !version?.startsWith('HTTP/')) {
        sock.end('HTTP/1.1 400 Bad Request\r\n\r\n');
        return;
      }
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (buf.length < end + 4 + len) return;
      const raw = buf.subarray(end + 4, end + 4 + len).toString('utf8');
      buf = buf.subarray(end + 4 + len);
      const pathOnly = target.split('?')[0]!;
      // handleRequest matches /health exactly and the API routes by prefix.
      const route: ZekeRoute | undefined =
        pathOnly === '/health'
          ? 'health'
          : pathOnly.startsWith('/api/chat')
            ? 'chat'
            : pathOnly.startsWith('/api/complete')
              ? 'complete'
              : pathOnly.startsWith('/api/status')
                ? 'status'
                : undefined;
      let body: unknown = raw;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        // keep the raw text
      }
      const a = answer(route, raw);
      const rec: ZekeRequest = {
        method,
        path: pathOnly,
        headers,
        body,
        raw,
        status: a === 'hang' ? 0 : a.status,
        connection: id,
      };
      requests.push(rec);
      if (route) routeOf.set(rec, route);
      notify();
      if (a === 'hang') {
        busy = true;
        return;
      }
      // Http1.shouldKeepAlive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with keep-alive.
      const conn = (headers.connection ?? '').toLowerCase();
      const keep = version === 'HTTP/1.0' ? conn === 'keep-alive' : conn !== 'close';
      if (a.delayMs) {
        busy = true;
        setTimeout(() => {
          busy = false;
          if (!sock.destroyed) finish(a, keep);
        }, a.delayMs);
        return;
      }
      finish(a, keep);
    };
    const finish = (a: { status: number; body: string }, keep: boolean) => {
      reply(sock, a.status, a.body);
      if (!keep) {
        sock.end();
        return;
      }
      pump();
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      pump();
    });
    sock.on('error', () => undefined);
    sock.resume();
  };

  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    if (serving) {
      // Accepted by the kernel, but zeke reads it only when the current one is done.
      sock.pause();
      backlog.push(sock);
      sock.on('close', () => sockets.delete(sock));
      return;
    }
    serve(sock);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    pulled,
    get connections() {
      return connections;
    },
    get waiting() {
      return backlog.filter((s) => !s.destroyed).length;
    },
    requestsTo: (route) => requests.filter((r) => routeOf.get(r) === route),
    enqueue(route, ...scripts) {
      queues[route].push(...scripts);
    },
    waitForRequests(n) {
      return new Promise<void>((resolve) => {
        const check = () => (requests.length >= n ? resolve() : waiters.push(check));
        check();
      });
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
