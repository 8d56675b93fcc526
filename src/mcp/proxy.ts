/**
 * The stdio side of `rune mcp`: an MCP server on stdin/stdout that forwards
 * every JSON-RPC message to Rune's server in Neovim and every answer,
 * notification and server request back. It talks to the host over its Unix
 * socket (newline-delimited JSON-RPC, no HTTP framing) when the host has one,
 * and over HTTP otherwise. It forwards the client's own
 * `initialize` (so approval prompts and the audit log name the real client),
 * and tolerates clients that send `tools/call` without `initialize` (zeke's
 * does): then it initializes upstream on their behalf.
 *
 * A client that starts without `initialize` is not an MCP client but one like zeke's
 * (GhostKellz/zeke src/mcp/client.zig): it reads exactly one line per call, so nothing but
 * replies goes to it (no notification, no server request), and it understands a failure only
 * as a JSON-RPC `error` and uses the whole `result` as the content. Its tool results are
 * answered that way: the text as the result, an `isError` result as an error.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  LATEST_PROTOCOL_VERSION,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type InitializeResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { Readable, Writable } from 'node:stream';
import { VERSION } from '../core/version.js';
import type { ServerTarget } from './discover.js';
import { SocketClientTransport } from './socket.js';

type Upstream = StreamableHTTPClientTransport | SocketClientTransport;

export interface ProxyOptions {
  stdin?: Readable;
  stdout?: Writable;
  log?: (msg: string) => void;
}

const INIT_ID = '__rune_proxy_init__';

/** Runs until stdin closes (or the upstream server goes away for good). */
export async function runStdioProxy(target: ServerTarget, opts: ProxyOptions = {}): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const down = new StdioServerTransport(opts.stdin, opts.stdout);
  let up: Upstream | undefined;
  let initResult: InitializeResult | undefined;
  let initParams: JSONRPCRequest['params'] | undefined;
  let initializing: Promise<void> | undefined;
  const waiting: JSONRPCMessage[] = [];
  let closed = false;
  /** Set by the first message: true when the client did not start with `initialize`. */
  let bare: boolean | undefined;
  const bareCalls = new Set<string | number>();

  const write = (m: JSONRPCMessage) => {
    void down.send(m).catch((err: unknown) => log(`cannot write to stdout: ${String(err)}`));
  };
  const sendDown = (m: JSONRPCMessage) => {
    if (!bare) return write(m);
    if ('method' in m) {
      log(`not sent to a client without initialize: ${m.method}`);
      return;
    }
    if ('id' in m && bareCalls.delete(m.id as string | number)) return write(plainToolReply(m));
    write(m);
  };
  const failDown = (m: JSONRPCMessage, message: string) => {
    if (isJSONRPCRequest(m)) {
      sendDown({ jsonrpc: '2.0', id: m.id, error: { code: -32603, message } });
    }
  };

  /** Started: the socket when the host has one and it answers, else HTTP. */
  const connect = async (): Promise<Upstream> => {
    if (target.socket) {
      const t = new SocketClientTransport(target.socket, target.token);
      t.onerror = (err) => log(`upstream: ${err.message}`);
      try {
        await t.start();
        return t;
      } catch (err) {
        log(`cannot use the socket ${target.socket} (${(err as Error).message}); using HTTP`);
      }
    }
    const t = new StreamableHTTPClientTransport(new URL(target.url), {
      requestInit: { headers: { Authorization: `Bearer ${target.token}` } },
    });
    t.onerror = (err) => log(`upstream: ${err.message}`);
    await t.start();
    return t;
  };

  /** Initializes upstream with `params` and resolves once done. */
  const initialize = async (
    params: JSONRPCRequest['params'],
    replyTo?: JSONRPCRequest['id'],
  ): Promise<void> => {
    const t = await connect();
    const result = await new Promise<InitializeResult>((resolve, reject) => {
      t.onmessage = (m) => {
        if ('id' in m && m.id === INIT_ID) {
          if (isJSONRPCResultResponse(m)) resolve(m.result as InitializeResult);
          else
            reject(
              new Error(
                (m as { error?: { message?: string } }).error?.message ?? 'initialize failed',
              ),
            );
          return;
        }
        sendDown(m);
      };
      t.send({ jsonrpc: '2.0', id: INIT_ID, method: 'initialize', params }).catch(reject);
    });
    t.setProtocolVersion(result.protocolVersion);
    t.onmessage = (m) => sendDown(m);
    // An MCP client gets the host's lines as they are; one without initialize needs them
    // rewritten (sendDown), so only that one pays for parsing.
    if (t instanceof SocketClientTransport && !bare) t.passBytes(opts.stdout ?? process.stdout);
    up = t;
    initResult = result;
    initParams = params;
    if (replyTo !== undefined) sendDown({ jsonrpc: '2.0', id: replyTo, result });
    await t.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  };

  const forward = async (m: JSONRPCMessage, retried = false): Promise<void> => {
    try {
      await up!.send(m);
    } catch (err) {
      const msg = (err as Error).message;
      // The session expired (idle) or the host restarted: start a fresh one once.
      if (!retried && /\b404\b|session/i.test(msg) && initParams) {
        log('upstream session lost; reconnecting');
        await up?.close().catch(() => undefined);
        await initialize(initParams);
        return forward(m, true);
      }
      failDown(
        m,
        `Rune's MCP server in Neovim did not take the message: ${msg}. Is Neovim still running?`,
      );
    }
  };

  const handle = async (m: JSONRPCMessage): Promise<void> => {
    bare ??= !(isJSONRPCRequest(m) && m.method === 'initialize');
    if (bare && isJSONRPCRequest(m) && m.method === 'tools/call') bareCalls.add(m.id);
    if (isJSONRPCRequest(m) && m.method === 'initialize') {
      if (initResult) {
        sendDown({ jsonrpc: '2.0', id: m.id, result: initResult });
        return;
      }
      initializing ??= initialize(m.params, m.id);
      await initializing.catch((err: Error) =>
        failDown(m, `Cannot reach Rune in Neovim: ${err.message}`),
      );
      return;
    }
    if ('method' in m && m.method === 'notifications/initialized') return;
    if (!up) {
      initializing ??= initialize({
        protocolVersion: LATEST_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'rune mcp (client without initialize)', version: VERSION },
      });
      try {
        await initializing;
      } catch (err) {
        failDown(m, `Cannot reach Rune in Neovim: ${(err as Error).message}`);
        return;
      }
    }
    await forward(m);
  };

  // Messages are forwarded in arrival order; requests still run concurrently upstream.
  let chain = Promise.resolve();
  down.onmessage = (m) => {
    waiting.push(m);
    chain = chain.then(async () => {
      const next = waiting.shift();
      if (next) await handle(next);
    });
  };
  down.onerror = (err) => log(`stdin: ${err.message}`);

  await new Promise<void>((resolve) => {
    down.onclose = () => resolve();
    const stdin = opts.stdin ?? process.stdin;
    stdin.once('end', () => resolve());
    stdin.once('close', () => resolve());
    void down.start();
  });
  if (closed) return;
  closed = true;
  await chain.catch(() => undefined);
  if (up) {
    await up.terminateSession().catch(() => undefined);
    await up.close().catch(() => undefined);
  }
  await down.close().catch(() => undefined);
}

/**
 * A tools/call reply as zeke's client reads it (client.zig `callTool`): success is the
 * result itself, so the result is the tool's text; failure is only a JSON-RPC error.
 */
function plainToolReply(m: JSONRPCMessage): JSONRPCMessage {
  if (!isJSONRPCResultResponse(m)) return m;
  const r = m.result as { content?: { type?: string; text?: string }[]; isError?: boolean };
  const text = (r.content ?? [])
    .map((c) => (c.type === 'text' ? (c.text ?? '') : `[${String(c.type)}]`))
    .join('\n');
  if (r.isError) {
    return {
      jsonrpc: '2.0',
      id: m.id,
      error: { code: TOOL_FAILED, message: text || 'the tool failed' },
    };
  }
  return { jsonrpc: '2.0', id: m.id, result: text as unknown as Record<string, unknown> };
}

/** JSON-RPC's implementation-defined server error range; the message says what failed. */
const TOOL_FAILED = -32000;
