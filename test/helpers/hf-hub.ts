/**
 * A loopback stand-in for huggingface.co as llama.cpp's `-hf` download uses it (llama.cpp
 * common/hf-cache.cpp and common/download.cpp, build b11669): one repo with one GGUF file.
 *
 *   GET  /api/models/{repo}/refs                     -> {branches: [{name, targetCommit}]}
 *   GET  /api/models/{repo}/tree/{commit}?recursive=true
 *                                                    -> [{type: "file", path, oid, size, lfs: {oid, size}}]
 *   HEAD|GET /{repo}/resolve/{commit}/{path}         -> the file (etag, accept-ranges)
 *
 * As strict as the client's checks: a commit is 40 hex digits, an LFS oid the file's
 * SHA-256; API calls must ask for JSON (`Accept: application/json`) from a
 * `llama-cpp/` user agent. Anything else is a 404 with the hub's `{"error": …}` body.
 * The server reads the endpoint from HF_ENDPOINT (with its trailing slash).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HfHub {
  /** e.g. `http://127.0.0.1:40123/` (what HF_ENDPOINT takes). */
  endpoint: string;
  /** `METHOD path` of every request, in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function startHfHub(repo: string, file: string, gguf: string): Promise<HfHub> {
  const data = fs.readFileSync(gguf);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const commit = createHash('sha1').update(`${repo}@main`).digest('hex');
  const blob = createHash('sha1').update(data).digest('hex');
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(`${req.method} ${url}`);
    const send = (status: number, body: Buffer | string, headers: Record<string, string> = {}) => {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      res.writeHead(status, { 'content-length': String(buf.length), ...headers });
      res.end(req.method === 'HEAD' ? undefined : buf);
    };
    const json = (body: unknown) =>
      send(200, JSON.stringify(body), { 'content-type': 'application/json' });
    const notFound = () =>
      send(404, JSON.stringify({ error: 'Repository not found' }), {
        'content-type': 'application/json',
      });
    if (!String(req.headers['user-agent']).startsWith('llama-cpp/')) return notFound();
    const api = req.method === 'GET' && req.headers.accept === 'application/json';
    if (api && url === `/api/models/${repo}/refs`) {
      return json({
        branches: [{ name: 'main', ref: 'refs/heads/main', targetCommit: commit }],
        converts: [],
        tags: [],
      });
    }
    if (api && url === `/api/models/${repo}/tree/${commit}?recursive=true`) {
      return json([
        { type: 'file', path: '.gitattributes', oid: 'f'.repeat(40), size: 0 },
        {
          type: 'file',
          path: file,
          oid: blob,
          size: data.length,
          lfs: { oid: sha256, size: data.length, pointerSize: 134 },
        },
      ]);
    }
    if (
      (req.method === 'GET' || req.method === 'HEAD') &&
      url === `/${repo}/resolve/${commit}/${file}`
    ) {
      return send(200, data, {
        'content-type': 'application/octet-stream',
        etag: `"${sha256}"`,
        'accept-ranges': 'bytes',
        'x-repo-commit': commit,
      });
    }
    return notFound();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
