/**
 * Stdio MCP servers of the hub in the bubblewrap sandbox (`mcp.hub.sandbox`,
 * or a server's own `sandbox` key): the real server-everything still works,
 * a server cannot write outside its workspace, and one that keeps the network
 * reaches no Unix socket. With RUNE_TEST_BWRAP=1 a missing or unusable bwrap
 * fails these tests; without it they check the fallback the user opts into
 * (`allowUnsandboxed`) instead.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createMemoryLogger } from '../../src/core/log.js';
import { parseServer, type ServerConfig } from '../../src/mcp/hub/config.js';
import { McpHub } from '../../src/mcp/hub/clients.js';
import { waitFor } from '../helpers/nvim.js';
import { sandboxReport, stdioLauncher } from '../../src/mcp/hub/launcher.js';
import { detectBwrap, unixSocketFilter } from '../../src/sandbox/sandbox.js';

const bwrap = detectBwrap(true);
if (process.env.RUNE_TEST_BWRAP === '1' && !bwrap.usable) {
  throw new Error(
    `RUNE_TEST_BWRAP=1 but bubblewrap is not usable here (${bwrap.reason ?? 'unknown'}); install it: apt-get install -y bubblewrap`,
  );
}

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const EVERYTHING = path.join(
  ROOT,
  'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);
const WRITER = path.join(ROOT, 'test/mcp/hub-write-server.mjs');
const PROBER = path.join(ROOT, 'test/mcp/hub-probe-server.mjs');

const dirs: string[] = [];
const hubs: McpHub[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.dispose()));
  for (const s of servers.splice(0)) s.close();
});
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A listening socket (a path, `\0name` for an abstract one, or a port) counting its connections. */
async function listener(at: string | number): Promise<{ accepted: () => number; port: number }> {
  let accepted = 0;
  const server = net.createServer((c) => {
    accepted++;
    c.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof at === 'number') server.listen(at, '127.0.0.1', resolve);
    else server.listen(at, resolve);
  });
  servers.push(server);
  const addr = server.address();
  return { accepted: () => accepted, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

function tmp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function connect(servers: ServerConfig[], sandboxAll: boolean, workspace: string) {
  const hub = new McpHub({
    logger: createMemoryLogger(),
    backoffMs: 60_000,
    connectTimeoutMs: 20_000,
    // Without a usable bwrap, the fallback the user can opt into.
    wrapStdio: stdioLauncher({ sandbox: sandboxAll, workspace, allowUnsandboxed: !bwrap.usable }),
  });
  hubs.push(hub);
  await hub.setServers(servers);
  for (const s of hub.status()) {
    expect(s.state, `${s.name}: ${s.lastError ?? ''} ${s.stderr.join('\n')}`).toBe('connected');
  }
  return hub;
}

const text = (r: { content: unknown }) =>
  (r.content as { text?: string }[]).map((c) => c.text ?? '').join('\n');

const server = (name: string, raw: Record<string, unknown>) =>
  parseServer(name, raw, 'test', `test.${name}`);

describe('MCP hub stdio sandbox', () => {
  it('runs the real server-everything inside the sandbox', async () => {
    const ws = tmp('rune-sbx-ws-');
    const hub = await connect(
      [server('everything', { command: process.execPath, args: [EVERYTHING, 'stdio'] })],
      true,
      ws,
    );
    expect(hub.status()[0]!.sandboxed).toBe(bwrap.usable);
    const r = await hub.callTool('everything__echo', { message: 'inside' });
    expect(text(r)).toContain('Echo: inside');
    const sum = await hub.callTool('everything__get-sum', { a: 40, b: 2 });
    expect(text(sum)).toContain('42');
  });

  it('lets a sandboxed server write its workspace but nothing outside it', async () => {
    const ws = tmp('rune-sbx-ws-');
    const outside = tmp('rune-sbx-out-');
    const entry = { command: process.execPath, args: [WRITER] };
    const hub = await connect(
      [server('boxed', entry), server('free', { ...entry, sandbox: false })],
      true,
      ws,
    );
    const boxed = hub.status().find((s) => s.name === 'boxed')!;
    expect(boxed.sandboxed).toBe(bwrap.usable);
    expect(hub.status().find((s) => s.name === 'free')!.sandboxed).toBe(false);

    const inside = path.join(ws, 'inside.txt');
    expect(text(await hub.callTool('boxed__write', { path: inside, text: 'ok' }))).toBe(
      `wrote ${inside}`,
    );
    expect(fs.readFileSync(inside, 'utf8')).toBe('ok');

    const escape = path.join(outside, 'escape.txt');
    const probe = path.join(ROOT, `.rune-sandbox-probe-${process.pid}.txt`);
    try {
      const tmpWrite = await hub.callTool('boxed__write', { path: escape, text: 'x' });
      const rootWrite = await hub.callTool('boxed__write', { path: probe, text: 'x' });
      if (bwrap.usable) {
        // /tmp is private in the sandbox (the folder does not exist there); the rest is read-only.
        expect(tmpWrite.isError).toBe(true);
        expect(text(tmpWrite)).toMatch(/ENOENT|EROFS|EACCES/);
        expect(rootWrite.isError).toBe(true);
        expect(text(rootWrite)).toMatch(/EROFS|EACCES/);
        expect(fs.existsSync(escape)).toBe(false);
        expect(fs.existsSync(probe)).toBe(false);
      } else {
        expect(tmpWrite.isError).toBeFalsy();
        expect(fs.existsSync(escape)).toBe(true);
      }
    } finally {
      fs.rmSync(probe, { force: true });
    }
    // The same write from the unsandboxed server lands: the refusal above is the sandbox's.
    const free = await hub.callTool('free__write', { path: escape, text: 'free' });
    expect(free.isError).toBeFalsy();
    expect(fs.readFileSync(escape, 'utf8')).toBe('free');
  });

  it('opens extra writable folders and follows the per-server switch over the global one', async () => {
    const ws = tmp('rune-sbx-ws-');
    const extra = tmp('rune-sbx-extra-');
    const entry = { command: process.execPath, args: [WRITER] };
    const hub = await connect(
      [server('opened', { ...entry, sandbox: { writable: [extra] } })],
      false,
      ws,
    );
    expect(hub.status()[0]!.sandboxed).toBe(bwrap.usable);
    const target = path.join(extra, 'cache.txt');
    expect((await hub.callTool('opened__write', { path: target, text: 'c' })).isError).toBeFalsy();
    expect(fs.readFileSync(target, 'utf8')).toBe('c');
  });

  it('keeps a server that has the network from Unix sockets, abstract or by path, while TCP works', async () => {
    const ws = tmp('rune-sbx-ws-');
    // A socket outside every folder the sandbox empties (in real use: anything a path
    // reaches, e.g. a socket in the project); .rune-test/ is the git-ignored scratch folder.
    fs.mkdirSync(path.join(ROOT, '.rune-test'), { recursive: true });
    const scratch = fs.mkdtempSync(path.join(ROOT, '.rune-test', 'hub-sock-'));
    dirs.push(scratch);
    const sock = path.join(scratch, 'agent.sock');
    const abstract = `rune-hub-test-${randomBytes(6).toString('hex')}`;
    const byPath = await listener(sock);
    const hidden = await listener(`\0${abstract}`);
    const tcp = await listener(0);
    const hub = await connect(
      [server('prober', { command: process.execPath, args: [PROBER] })],
      true,
      ws,
    );
    const targets = `unix:${sock} abstract:${abstract} tcp:${tcp.port}`;
    const r = await hub.getPrompt('prober', 'probe', { targets });
    const got = Object.fromEntries(
      r.messages
        .map((m) => (m.content as { text: string }).text)
        .join('\n')
        .split('\n')
        .map((l) => [l.slice(0, l.lastIndexOf('=')), l.slice(l.lastIndexOf('=') + 1)]),
    );
    expect(got[`tcp:${tcp.port}`]).toBe('connected');
    // The server's connect resolved; the listener counts the accept on its next turn.
    await waitFor(() => tcp.accepted() === 1, 5000, 'the TCP accept');
    if (bwrap.usable && unixSocketFilter()) {
      expect(hub.status()[0]!.sandboxed).toBe(true);
      expect(got[`unix:${sock}`]).toBe('refused:EACCES');
      expect(got[`abstract:${abstract}`]).toBe('refused:EACCES');
      expect(byPath.accepted()).toBe(0);
      expect(hidden.accepted()).toBe(0);
    } else {
      expect(got[`unix:${sock}`]).toBe('connected');
    }
  });

  it('does not start a server that asks for the sandbox where there is none, unless allowed', async () => {
    const ws = tmp('rune-sbx-ws-');
    const marker = path.join(ws, 'RAN');
    const entry = {
      command: process.execPath,
      args: ['-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`],
    };
    const none = { path: null, usable: false, reason: 'bwrap is not installed' };
    const logger = createMemoryLogger();
    const wanted = new Map<string, boolean>();
    const hub = new McpHub({
      logger,
      backoffMs: 60_000,
      connectTimeoutMs: 20_000,
      wrapStdio: stdioLauncher({ sandbox: true, workspace: ws, bwrap: none, wanted }),
    });
    hubs.push(hub);
    await hub.setServers([server('boxed', entry)]);
    const boxed = hub.status().find((s) => s.name === 'boxed')!;
    expect(boxed.state).toBe('failed');
    expect(boxed.lastError).toContain(
      'not started: it asks for the sandbox, but there is none here (bwrap is not installed)',
    );
    expect(boxed.lastError).toContain('mcp.hub.allow_unsandboxed = true');
    expect(logger.lines.join('\n')).toMatch(/mcp server failed; not retrying by itself/);
    expect(fs.existsSync(marker)).toBe(false);
    const report = sandboxReport(hub.status(), { wanted, bwrap: none });
    expect(report?.level).toBe('error');
    expect(report?.message).toBe(
      'no bubblewrap sandbox (bwrap is not installed): these stdio servers ask for it and are not started, because without it a server runs with your rights: boxed',
    );

    // Opted in: it runs (and exits, being no MCP server), with the user's rights.
    const allowed = new McpHub({
      logger: createMemoryLogger(),
      backoffMs: 60_000,
      connectTimeoutMs: 20_000,
      wrapStdio: stdioLauncher({
        sandbox: true,
        workspace: ws,
        bwrap: none,
        allowUnsandboxed: true,
      }),
    });
    hubs.push(allowed);
    await allowed.setServers([server('boxed', entry)]);
    expect(allowed.status()[0]!.sandboxed).toBe(false);
    expect(fs.readFileSync(marker, 'utf8')).toBe('ran');
    expect(
      sandboxReport(allowed.status(), { wanted, bwrap: none, allowUnsandboxed: true }),
    ).toEqual({
      level: 'warn',
      message:
        'no bubblewrap sandbox (bwrap is not installed): these stdio servers ask for it and run with your rights (your files, network and processes), as you allowed with mcp.hub.allow_unsandboxed: boxed',
    });
  });
});
