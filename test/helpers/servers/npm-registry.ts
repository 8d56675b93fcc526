/**
 * A loopback npm registry serving one package, for the real `npm` to install from
 * (point it here with `npm_config_registry`). It follows what npm asks and checks:
 *
 * - Packuments at `/<escaped name>`, a scoped name's slash encoded as `%2f`
 *   (npm-package-arg's `escapedName`, used by npm-registry-fetch), answered as JSON with
 *   `name`, `dist-tags` and `versions[v].dist` = { tarball, integrity (sha512, checked
 *   by pacote with ssri), shasum }; the content type follows npm's Accept (pacote asks
 *   for the abbreviated `application/vnd.npm.install-v1+json` or full `application/json`,
 *   pacote/lib/registry.js).
 * - Tarballs at `/<name>/-/<basename>-<version>.tgz` as application/octet-stream with a
 *   content-length.
 * - Anything else (npm's own update check included): 404 `{"error":"Not found"}`, the
 *   registry's answer for unknown packages.
 *
 * Faults: `packumentStatus` (e.g. 404, 500) and `stallTarball` (send the headers and
 * the first bytes, then wait for the promise: the test cancels meanwhile).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import * as fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface NpmPackage {
  name: string;
  version: string;
  /** Files of the package, relative to its root (package.json is made from name/version). */
  files: Record<string, string | Buffer>;
}

export interface NpmRegistry {
  /** The registry URL (ends with /), for npm_config_registry. */
  url: string;
  /** Paths asked for, in order. */
  requests: string[];
  /** Tarball answers the client abandoned before their end. */
  closes: number;
  packumentStatus?: number;
  stallTarball?: Promise<unknown>;
  /** Resolves once a stalled tarball's first bytes went out. */
  stalled: Promise<void>;
  close(): Promise<void>;
}

/** Packs `pkg` as `npm pack` lays it out (everything under `package/`), with system tar. */
export function packTarball(pkg: NpmPackage): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-npm-pack-'));
  try {
    const root = path.join(dir, 'package');
    const files = {
      'package.json': JSON.stringify({ name: pkg.name, version: pkg.version }, null, 2),
      ...pkg.files,
    };
    for (const [rel, body] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), body);
    }
    const tgz = path.join(dir, 'p.tgz');
    execFileSync('tar', ['czf', tgz, '-C', dir, 'package']);
    return fs.readFileSync(tgz);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function startNpmRegistry(pkg: NpmPackage): Promise<NpmRegistry> {
  const tgz = packTarball(pkg);
  const base = pkg.name.split('/').pop()!;
  const tarPath = `/${pkg.name}/-/${base}-${pkg.version}.tgz`;
  const packPath = `/${pkg.name.replace('/', '%2f')}`;
  let onStalled!: () => void;
  const reg: NpmRegistry = {
    url: '',
    requests: [],
    closes: 0,
    stalled: new Promise<void>((r) => (onStalled = r)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const notFound = (res: http.ServerResponse) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'Not found' }));
  };
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    reg.requests.push(url);
    if (req.method !== 'GET') return notFound(res);
    if (url.toLowerCase() === packPath.toLowerCase()) {
      if (reg.packumentStatus) {
        res.writeHead(reg.packumentStatus, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: reg.packumentStatus === 404 ? 'Not found' : 'Internal Server Error',
          }),
        );
        return;
      }
      const dist = {
        tarball: `${reg.url.replace(/\/$/, '')}${tarPath}`,
        integrity: `sha512-${crypto.createHash('sha512').update(tgz).digest('base64')}`,
        shasum: crypto.createHash('sha1').update(tgz).digest('hex'),
      };
      const corgi = /application\/vnd\.npm\.install-v1\+json/.test(req.headers.accept ?? '');
      res.writeHead(200, {
        'content-type': corgi ? 'application/vnd.npm.install-v1+json' : 'application/json',
      });
      res.end(
        JSON.stringify({
          name: pkg.name,
          'dist-tags': { latest: pkg.version },
          versions: { [pkg.version]: { name: pkg.name, version: pkg.version, dist } },
          modified: new Date(0).toISOString(),
        }),
      );
      return;
    }
    if (url === tarPath) {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(tgz.length),
      });
      const gate = reg.stallTarball;
      if (!gate) return void res.end(tgz);
      res.on('close', () => {
        if (!res.writableFinished) reg.closes += 1;
      });
      res.write(tgz.subarray(0, 512), () => onStalled());
      void gate.then(() => {
        if (!res.destroyed) res.end(tgz.subarray(512));
      });
      return;
    }
    notFound(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  reg.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return reg;
}
