/**
 * POSTs a JSON body and reads a streamed answer (NDJSON, or server-sent events' `data:`
 * lines) one JSON value at a time over node:http(s).
 *
 * Written by hand rather than through fetch: ghost text waits on an answer's last
 * line, and between the socket and the caller fetch puts undici's body stream, a
 * second web stream that checks the lines, and the SDK's own decoder and async
 * iterator. Through them, ghost text came 1.01–1.10 ms p50 after a zero-latency
 * Ollama's last byte; through this reader 0.73 ms (bench/completion.mjs), and a whole
 * fill-in-the-middle call takes 0.23 ms p50 through Rune's provider layer against
 * 0.33 ms for the bare `ollama` SDK call (bench/providers.mjs). Only completion
 * requests (Ollama's /api/generate, llama.cpp's /infill) take this path; chat, tool
 * calls and model lists stay with the SDKs and fetch.
 *
 * Node's global agent keeps connections alive (Node ≥ 19), as fetch did.
 */
import * as http from 'node:http';
import { lazy } from '../core/lazy.js';

const https = lazy(() => import('node:https'));

/** A status other than 200, shaped as the `ollama` package's ResponseError (message, status_code). */
export class ResponseError extends Error {
  override readonly name = 'ResponseError';
  constructor(
    message: string,
    readonly status_code: number,
  ) {
    super(message);
  }
}

export interface LinesPost<T> {
  url: string;
  /** NDJSON: every line is a value. SSE: the `data:` lines are (other fields are skipped). */
  framing: 'ndjson' | 'sse';
  body: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  /** The request is written: from here on, the wait is the server's. */
  sent?(): void;
  /** The status line and headers arrived. */
  gotHeaders?(): void;
  /** Each value; one other than undefined is the answer and ends the read; a throw fails it. */
  line(value: Record<string, unknown>): T | undefined;
  /** The error for a status other than 200 (default: a ResponseError as the `ollama` package's). */
  status?(res: http.IncomingMessage, body: string): Error;
}

/**
 * The answer `line` picked, or undefined when the body ended without one. A value that
 * is not JSON rejects with the SyntaxError, a throw of `line` with what it threw (both
 * close the connection), another status with `status()`'s error. An aborted signal
 * destroys the request and rejects with its reason.
 */
export async function postLines<T>(o: LinesPost<T>): Promise<T | undefined> {
  o.signal.throwIfAborted();
  const request = o.url.startsWith('https:') ? (await https.get()).request : http.request;
  return new Promise<T | undefined>((resolve, reject) => {
    let settled = false;
    const settle = (err: unknown, value?: T) => {
      if (settled) return;
      settled = true;
      o.signal.removeEventListener('abort', onAbort);
      if (err !== undefined) {
        req.destroy();
        reject(err);
      } else resolve(value);
    };
    const onAbort = () => settle(o.signal.reason ?? new Error('aborted'));
    const req = request(
      o.url,
      {
        method: 'POST',
        headers: { ...o.headers, 'Content-Length': Buffer.byteLength(o.body) },
      },
      (res) => {
        o.gotHeaders?.();
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (c: string) => (text += c));
          res.on('end', () => settle((o.status ?? statusError)(res, text)));
          res.on('error', (err) => settle(err));
          return;
        }
        let rest = '';
        /** The value of one line, if it carries one. */
        const valueOf = (l: string): Record<string, unknown> | undefined => {
          if (o.framing === 'sse') {
            if (!l.startsWith('data:')) return undefined;
            l = l.slice(5);
          }
          return l.trim() ? (JSON.parse(l) as Record<string, unknown>) : undefined;
        };
        const take = (l: string): boolean => {
          const v = valueOf(l.endsWith('\r') ? l.slice(0, -1) : l);
          const got = v === undefined ? undefined : o.line(v);
          if (got === undefined) return false;
          settle(undefined, got);
          return true;
        };
        res.on('data', (chunk: string) => {
          if (settled) return; // The answer came: the rest drains so the connection is reused.
          const lines = (rest + chunk).split('\n');
          rest = lines.pop() ?? '';
          try {
            for (const l of lines) if (take(l)) return;
          } catch (err) {
            settle(err);
          }
        });
        res.on('end', () => {
          if (settled) return;
          try {
            if (!take(rest)) settle(undefined, undefined);
          } catch (err) {
            settle(err);
          }
        });
        res.on('error', (err) => settle(err));
        // A body cut short without an 'error' (the server went away mid-answer).
        res.on('close', () => {
          if (!res.complete) settle(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
        });
      },
    );
    req.on('error', (err) => settle(err));
    req.on('finish', () => o.sent?.());
    o.signal.addEventListener('abort', onAbort, { once: true });
    req.end(o.body);
  });
}

/** The `ollama` package's checkOk: the JSON body's `error`, else the text, else the status. */
function statusError(res: http.IncomingMessage, text: string): ResponseError {
  let message = `Error ${res.statusCode}: ${res.statusMessage ?? ''}`;
  if ((res.headers['content-type'] ?? '').includes('application/json')) {
    try {
      const e = (JSON.parse(text) as { error?: unknown }).error;
      if (typeof e === 'string' && e) message = e;
    } catch {
      // Not JSON after all: the status says what there is to say.
    }
  } else if (text) {
    message = text;
  }
  return new ResponseError(message, res.statusCode ?? 0);
}
