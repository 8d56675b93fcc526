/**
 * Pulling a model into Ollama with progress: POST /api/pull streams NDJSON
 * ProgressResponse lines `{status, digest?, total?, completed?}` (ollama api/types.go)
 * and ends with `{"status":"success"}`; a failure after the stream started is one
 * `{"error": "..."}` line with status 200 (server/routes.go PullHandler). Cancelling
 * aborts the request, which cancels the pull in the server (its context is the request's).
 */
import { AbortError, BadRequestError, RuneError, isAbort } from '../core/errors.js';
import { fromNetwork, fromStatus, malformed, type Who } from './errors.js';

export interface PullProgress {
  status: string;
  /** 0–100 over the layer being downloaded, when the server says how big it is. */
  percent?: number;
}

export interface PullOptions {
  who: Who;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
}

/** Pulls `model`; resolves once Ollama says success, rejects with what to do otherwise. */
export async function pullOllamaModel(url: string, model: string, o: PullOptions): Promise<void> {
  const f = o.fetch ?? fetch;
  let res: Response;
  try {
    res = await f(`${url.replace(/\/+$/, '')}/api/pull`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream: true }),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (err) {
    if (isAbort(err) || o.signal?.aborted) throw new AbortError('The pull was cancelled.');
    throw fromNetwork(o.who, err);
  }
  if (!res.ok) {
    const body = await res.text().catch(() => '');
    throw fromStatus(o.who, res.status, body);
  }
  if (!res.body) throw malformed(o.who, new Error('no body'));
  const decoder = new TextDecoder();
  let buf = '';
  let ok = false;
  const line = (l: string): void => {
    if (!l.trim()) return;
    let p: { status?: unknown; total?: unknown; completed?: unknown; error?: unknown };
    try {
      p = JSON.parse(l) as typeof p;
    } catch (err) {
      throw malformed(o.who, err);
    }
    if (typeof p.error === 'string') {
      throw new BadRequestError(`Ollama could not pull ${model}: ${p.error}`);
    }
    const status = typeof p.status === 'string' ? p.status : '';
    if (status === 'success') ok = true;
    const total = typeof p.total === 'number' ? p.total : 0;
    const done = typeof p.completed === 'number' ? p.completed : 0;
    o.onProgress?.({ status, ...(total > 0 ? { percent: Math.floor((done * 100) / total) } : {}) });
  };
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        line(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    line(buf);
  } catch (err) {
    if (isAbort(err) || o.signal?.aborted) throw new AbortError('The pull was cancelled.');
    throw err instanceof RuneError ? err : fromNetwork(o.who, err);
  }
  if (!ok) throw malformed(o.who, new Error('the pull ended without "success"'));
}
