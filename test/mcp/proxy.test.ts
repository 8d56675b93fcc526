/**
 * The stdio proxy of `rune mcp` and its discovery, in-process: JSON-RPC lines
 * in and out of stream pairs, against Rune's real HTTP server on 127.0.0.1.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { McpHttpServer } from '../../src/mcp/server.js';
import { runStdioProxy } from '../../src/mcp/proxy.js';
import { discover } from '../../src/mcp/discover.js';
import { defaultLockDir, writeLock } from '../../src/mcp/lockfile.js';
import { ToolRegistry } from '../../src/tools/registry.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function server() {
  const registry = new ToolRegistry();
  registry.register({
    name: 'echo',
    description: 'echo',
    inputSchema: { text: z.string() },
    annotations: { readOnlyHint: true },
    handler: (a, ctx) => `${a.text} from ${ctx.caller.client}`,
  });
  registry.register({
    name: 'chatty',
    description: 'logs, then fails',
    inputSchema: {},
    annotations: { readOnlyHint: true },
    handler: (_a, ctx) => {
      ctx.log?.('warning', 'about to fail');
      throw new Error('it broke');
    },
  });
  const s = new McpHttpServer({ registry });
  await s.listen();
  cleanup.push(() => s.close());
  return Object.assign(s, { registry });
}

function proxy(s: McpHttpServer) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
    }
  });
  const done = runStdioProxy({ url: s.url, token: s.token, via: 'test' }, { stdin, stdout });
  cleanup.push(async () => {
    stdin.end();
    await done;
  });
  const send = (m: object) => stdin.write(JSON.stringify({ jsonrpc: '2.0', ...m }) + '\n');
  const reply = async (id: number) => {
    await expect.poll(() => lines.find((l) => l.id === id), { timeout: 10000 }).toBeDefined();
    return lines.find((l) => l.id === id) as {
      result?: unknown;
      error?: { message: string };
    };
  };
  return { send, reply, stdin, done, lines };
}

const init = (name: string) => ({
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name, version: '3' } },
});

describe('rune mcp proxy', () => {
  it("forwards the client's own initialize, then its calls, and ends when stdin closes", async () => {
    const s = await server();
    const p = proxy(s);
    p.send({ id: 1, ...init('agent') });
    expect((await p.reply(1)).result).toMatchObject({ serverInfo: { name: 'rune' } });
    p.send({ method: 'notifications/initialized' });
    p.send({ id: 2, method: 'tools/list' });
    expect(JSON.stringify((await p.reply(2)).result)).toContain('echo');
    p.send({ id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } });
    expect((await p.reply(3)).result).toMatchObject({ content: [{ text: 'hi from agent 3' }] });
    expect(s.sessionList().map((x) => x.client)).toEqual(['agent 3']);
    p.stdin.end();
    await p.done;
    await expect.poll(() => s.sessionList().length).toBe(0);
  });

  it('initializes on behalf of a client that calls a tool first, and answers it the way zeke reads', async () => {
    const s = await server();
    const p = proxy(s);
    p.send({ id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'yo' } } });
    // zeke's client.zig uses the whole result as the content: the text itself.
    expect((await p.reply(7)).result).toMatch(/^yo from rune mcp \(client without initialize\)/);
    // A failure is a JSON-RPC error (zeke takes result.isError as success); no log
    // notification comes first (zeke reads one line per call).
    p.send({ id: 8, method: 'tools/call', params: { name: 'chatty', arguments: {} } });
    const failed = await p.reply(8);
    expect(failed.error).toMatchObject({
      code: -32000,
      message: expect.stringContaining('it broke'),
    });
    expect(p.lines.every((l) => 'id' in l)).toBe(true);
    // A late initialize is answered from the session already open.
    p.send({ id: 9, ...init('late') });
    expect((await p.reply(9)).result).toMatchObject({ serverInfo: { name: 'rune' } });
  });

  it('sends a client without initialize only replies, while others get notifications', async () => {
    const s = await server();
    const agent = proxy(s);
    agent.send({ id: 1, ...init('agent') });
    await agent.reply(1);
    agent.send({ method: 'notifications/initialized' });
    const bare = proxy(s);
    bare.send({ id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'a' } } });
    await bare.reply(1);
    await expect.poll(() => s.sessionList().length).toBe(2);
    s.registry.register({
      name: 'late',
      description: 'late',
      inputSchema: {},
      annotations: { readOnlyHint: true },
      handler: () => 'late',
    });
    // The initialized client hears that the tools changed…
    await expect
      .poll(() => agent.lines.some((l) => l.method === 'notifications/tools/list_changed'), {
        timeout: 10000,
      })
      .toBe(true);
    // …the one without initialize reads one line per call: its next line is its reply.
    bare.send({ id: 2, method: 'tools/call', params: { name: 'late', arguments: {} } });
    expect((await bare.reply(2)).result).toBe('late');
    expect(bare.lines.map((l) => l.id)).toEqual([1, 2]);
  });

  it('opens a new session when the old one ended', async () => {
    const s = await server();
    const p = proxy(s);
    p.send({ id: 1, ...init('agent') });
    await p.reply(1);
    p.send({ method: 'notifications/initialized' });
    await expect.poll(() => s.sessionList().length).toBe(1);
    const first = s.sessionList()[0]!.id;
    expect(s.closeSession(first)).toBe(true);
    expect(s.sessionList()).toEqual([]);
    p.send({ id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'again' } } });
    expect((await p.reply(2)).result).toMatchObject({ content: [{ text: 'again from agent 3' }] });
    expect(s.sessionList().map((x) => x.id)).not.toContain(first);
    expect(s.sessionList()).toHaveLength(1);
  });

  it('answers with an error when the server is gone', async () => {
    const s = await server();
    const p = proxy({ url: `http://127.0.0.1:9/mcp`, token: s.token } as McpHttpServer);
    p.send({ id: 4, method: 'tools/list' });
    expect((await p.reply(4)).error?.message).toMatch(/Cannot reach Rune in Neovim/);
  });
});

describe('discover', () => {
  function tmp() {
    const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-disc-')));
    cleanup.push(() => fs.rmSync(d, { recursive: true, force: true }));
    return d;
  }

  it('picks the lock file whose folder holds the current one, deepest first, or by --instance', async () => {
    const state = tmp();
    const ws = tmp();
    fs.mkdirSync(path.join(ws, 'a', 'b'), { recursive: true });
    const env = { XDG_STATE_HOME: state, XDG_RUNTIME_DIR: state, TMPDIR: state };
    const dir = defaultLockDir(env);
    const lock = (port: number, cwd: string) =>
      writeLock(dir, `${port}.lock`, {
        pid: process.pid,
        port,
        token: `t${port}`,
        url: `http://127.0.0.1:${port}/mcp`,
        cwd,
        workspaceFolders: [],
        createdAt: new Date().toISOString(),
      });
    lock(1001, ws);
    lock(1002, path.join(ws, 'a'));
    expect(await discover({ env, cwd: path.join(ws, 'a', 'b') })).toMatchObject({ token: 't1002' });
    expect(await discover({ env, cwd: ws })).toMatchObject({ token: 't1001' });
    expect(await discover({ env, cwd: os.tmpdir(), instance: '1001' })).toMatchObject({
      token: 't1001',
    });
    await expect(discover({ env, cwd: os.tmpdir() })).rejects.toThrow(
      /No running Neovim with Rune was found .* Running servers: /s,
    );
    await expect(discover({ env, cwd: ws, instance: '999' })).rejects.toThrow(/port or pid 999/);
  });

  it('says when Neovim at $NVIM cannot be reached', async () => {
    const state = tmp();
    await expect(
      discover({ env: { XDG_STATE_HOME: state, NVIM: path.join(state, 'no.sock') }, cwd: state }),
    ).rejects.toThrow(/did not answer/);
  });
});
