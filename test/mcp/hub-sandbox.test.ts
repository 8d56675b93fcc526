/**
 * Stdio MCP servers of the hub in the bubblewrap sandbox (`mcp.hub.sandbox`,
 * or a server's own `sandbox` key): the real server-everything still works,
 * and a server cannot write outside its workspace. With RUNE_TEST_BWRAP=1 a
 * missing or unusable bwrap fails these tests; without it they check the
 * unsandboxed fallback instead.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createMemoryLogger } from '../../src/core/log.js';
import { parseServer, type ServerConfig } from '../../src/mcp/hub/config.js';
import { McpHub } from '../../src/mcp/hub/clients.js';
import { stdioLauncher } from '../../src/nvim/hub/stdio.js';
import { detectBwrap } from '../../src/plugins/sandbox.js';

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

const dirs: string[] = [];
const hubs: McpHub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.dispose()));
});
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

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
    wrapStdio: stdioLauncher(sandboxAll, workspace),
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
});
