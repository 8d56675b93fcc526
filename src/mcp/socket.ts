/**
 * The direct stream of `rune mcp`: newline-delimited JSON-RPC over a Unix
 * socket next to the lock file (in the same 0700 folder), so a stdio client's
 * messages reach the host without being re-framed as HTTP. The first line a
 * client sends is `Bearer <token>` (the HTTP server's token); anything else
 * gets one JSON-RPC error line and the connection is closed.
 */
import * as net from 'node:net';
import type { Writable } from 'node:stream';
import {
  ReadBuffer,
  deserializeMessage,
  serializeMessage,
} from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { jsonChunks } from '../core/text-pieces.js';

/** Longest first line (the token line) a client may send. */
const MAX_AUTH_LINE = 1024;

/**
 * Reads the first line of `socket` and hands it to `check`; when it passes,
 * resolves with the bytes that followed it (the start of the JSON-RPC stream).
 * Resolves with null when the line is missing, too long, or refused; the
 * socket has then been answered and ended.
 */
export function readAuthLine(
  socket: net.Socket,
  check: (line: string) => boolean,
  timeoutMs = 5000,
): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const refuse = (message: string) => {
      cleanup();
      socket.end(
        JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message } }) + '\n',
      );
      resolve(null);
    };
    const timer = setTimeout(
      () => refuse('Unauthorized: send "Bearer <token>" as the first line.'),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > MAX_AUTH_LINE) refuse('Unauthorized: the first line is too long.');
        return;
      }
      const line = buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
      if (!check(line)) {
        refuse('Unauthorized: the first line must be "Bearer <token>" with the token of :RuneMcp.');
        return;
      }
      cleanup();
      // Paused until the transport starts: a socket left flowing with no 'data' listener
      // drops what arrives meanwhile (the client's first requests while the SDK loads).
      socket.pause();
      resolve(buf.subarray(nl + 1));
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
  });
}

/** The host's side of one authenticated connection: an MCP transport over its lines. */
export class SocketServerTransport implements Transport {
  onmessage?: (m: JSONRPCMessage) => void;
  onerror?: (e: Error) => void;
  onclose?: () => void;
  private readonly buffer: ReadBuffer;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly head: Buffer,
    /** Longest message in bytes; a longer one ends the connection. */
    maxBytes: number,
  ) {
    this.buffer = new ReadBuffer({ maxBufferSize: maxBytes });
  }

  start(): Promise<void> {
    this.socket.on('data', (c: Buffer) => this.feed(c));
    this.socket.on('error', (err) => this.onerror?.(err));
    this.socket.once('close', () => void this.close());
    if (this.head.length) this.feed(this.head);
    this.socket.resume();
    return Promise.resolve();
  }

  private feed(chunk: Buffer): void {
    try {
      this.buffer.append(chunk);
    } catch {
      this.write({
        jsonrpc: '2.0',
        id: null as unknown as string,
        error: { code: -32600, message: 'A message is over the size limit; connection closed.' },
      } as JSONRPCMessage);
      this.socket.end();
      return;
    }
    for (;;) {
      let m: JSONRPCMessage | null;
      try {
        m = this.buffer.readMessage();
      } catch (err) {
        // A line that is not JSON-RPC: say so, as JSON-RPC does for a parse error.
        this.write({
          jsonrpc: '2.0',
          id: null as unknown as string,
          error: { code: -32700, message: `Parse error: ${(err as Error).message}` },
        } as JSONRPCMessage);
        continue;
      }
      if (!m) return;
      if ('method' in m && 'id' in m) {
        this.open.add(m.id);
        this.onbusy?.(this.open.size);
      }
      this.onmessage?.(m);
    }
  }

  /** Requests read and not yet answered. */
  private readonly open = new Set<string | number>();
  /** Told the number of requests in flight whenever it changes. */
  onbusy?: (inFlight: number) => void;

  private write(m: JSONRPCMessage): void {
    if (this.closed || !this.socket.writable) return;
    // A long text comes as its pieces (src/core/text-pieces.ts): one writev, no long string.
    const chunks = jsonChunks(m);
    if (chunks.length === 1) {
      this.socket.write(chunks[0] + '\n');
      return;
    }
    this.socket.cork();
    for (const c of chunks) this.socket.write(c);
    this.socket.write('\n');
    this.socket.uncork();
  }

  send(m: JSONRPCMessage): Promise<void> {
    this.write(m);
    if (!('method' in m) && 'id' in m && this.open.delete(m.id as string | number)) {
      this.onbusy?.(this.open.size);
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.buffer.clear();
    this.socket.destroy();
    this.onclose?.();
    return Promise.resolve();
  }
}

/** `rune mcp`'s side: connects, authenticates and speaks JSON-RPC lines. */
export class SocketClientTransport {
  onmessage?: (m: JSONRPCMessage) => void;
  onerror?: (e: Error) => void;
  onclose?: () => void;
  private socket: net.Socket | undefined;
  /** The start of a line not yet ended. */
  private pending: Buffer[] = [];
  private out: Writable | undefined;

  constructor(
    private readonly file: string,
    private readonly token: string,
  ) {}

  /** Rejects when the socket cannot be reached (the caller may fall back to HTTP). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.file);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        s.on('error', (err) => this.onerror?.(err));
        s.once('close', () => this.onclose?.());
        s.on('data', (c: Buffer) => this.feed(c));
        s.setNoDelay(true);
        s.write(`Bearer ${this.token}\n`);
        this.socket = s;
        resolve();
      });
    });
  }

  /**
   * From now on, copies every byte from the host to `out` as it arrives, without
   * looking for lines or parsing them: a relay that only passes the host's lines on
   * need not split, decode and re-encode them (a 10,000-line read is one long line
   * that would otherwise be gathered chunk by chunk). A line already begun goes
   * first; the socket pauses while `out` is full.
   */
  passBytes(out: Writable): void {
    this.out = out;
    const rest = this.pending;
    this.pending = [];
    for (const part of rest) this.forward(part);
  }

  private forward(chunk: Buffer): void {
    if (this.out!.write(chunk) || !this.socket) return;
    const s = this.socket;
    s.pause();
    this.out!.once('drain', () => s.resume());
  }

  private feed(chunk: Buffer): void {
    if (this.out) {
      this.forward(chunk);
      return;
    }
    // Only the newly arrived bytes are searched; a line is joined once, when it ends.
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const tail = chunk.subarray(start, nl);
      const line = this.pending.length ? Buffer.concat([...this.pending, tail]) : tail;
      this.pending = [];
      start = nl + 1;
      let m: JSONRPCMessage;
      try {
        m = deserializeMessage(line.toString('utf8'));
      } catch (err) {
        this.onerror?.(err as Error);
        continue;
      }
      this.onmessage?.(m);
    }
    // passBytes is only ever called between chunks (after an awaited answer).
    if (start < chunk.length) this.pending.push(start ? chunk.subarray(start) : chunk);
  }

  send(m: JSONRPCMessage): Promise<void> {
    const s = this.socket;
    if (!s || !s.writable) {
      return Promise.reject(new Error("the socket to Rune's host is closed"));
    }
    return new Promise((resolve, reject) =>
      s.write(serializeMessage(m), (err) => (err ? reject(err) : resolve())),
    );
  }

  setProtocolVersion(): void {
    // Lines carry no protocol header.
  }

  terminateSession(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.socket?.end();
    return Promise.resolve();
  }
}
