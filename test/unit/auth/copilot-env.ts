/**
 * Keeps the real Copilot language server on loopback in tests: a private HOME, and every
 * HTTP(S) request it makes sent through a local proxy that refuses to tunnel (and records
 * where the server wanted to go). Nothing leaves 127.0.0.1.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../../helpers/nvim.js';

export const COPILOT_LS =
  process.env.RUNE_TEST_COPILOT_LS ??
  path.join(
    ROOT,
    '.cache/copilot-ls/node_modules/@github/copilot-language-server/dist/language-server.js',
  );

export interface Blackhole {
  url: string;
  /** `host:port` of every CONNECT and the URL of every plain request, in order. */
  attempts: string[];
  env: NodeJS.ProcessEnv;
  settings: Record<string, unknown>;
  close(): Promise<void>;
}

export async function startBlackhole(): Promise<Blackhole> {
  const attempts: string[] = [];
  const server = http.createServer((req, res) => {
    attempts.push(req.url ?? '');
    res.writeHead(403).end();
  });
  server.on('connect', (req: http.IncomingMessage, socket: import('node:net').Socket) => {
    attempts.push(req.url ?? '');
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
  });
  server.on('connection', (socket) => socket.on('error', () => undefined));
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-copilot-home-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_STATE_HOME: path.join(home, 'state'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    HTTPS_PROXY: url,
    HTTP_PROXY: url,
    https_proxy: url,
    http_proxy: url,
    NO_PROXY: '',
    no_proxy: '',
    DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/rune-test-bus',
  };
  for (const k of ['GH_COPILOT_TOKEN', 'GITHUB_COPILOT_TOKEN', 'GITHUB_TOKEN', 'DISPLAY']) {
    delete env[k];
  }
  return {
    url,
    attempts,
    env,
    settings: { http: { proxy: url, proxyStrictSSL: true }, telemetry: { telemetryLevel: 'off' } },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
