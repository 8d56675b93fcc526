/**
 * Shutting the real host down through Neovim: the host from dist/, spawned by
 * the Lua layer, with the MCP server, an agent's call in flight and a hub
 * server that ignores SIGTERM. Nothing may be left behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { alive, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { textOf } from './mcp-helpers.js';

const STUBBORN = path.join(import.meta.dirname, 'stubborn-server.mjs');

interface Started {
  t: TestNvim;
  hostPid: number;
  logFile: string;
  lock: string;
  url: string;
  token: string;
  serverPid: number;
  exited: Promise<void>;
}

async function start(graceMs = 300): Promise<Started> {
  const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-ws-')));
  const pidFile = path.join(ws, 'server.pid');
  const t = await startNvim({
    setup: `vim.fn.chdir(${JSON.stringify(ws)})
      require('rune').setup({
        host = { shutdown_grace_ms = ${graceMs} },
        mcp = { servers = { stubborn = { command = ${JSON.stringify(process.execPath)}, args = { ${JSON.stringify(STUBBORN)} }, env = { PID_FILE = ${JSON.stringify(pidFile)} } } } },
      })`,
  });
  const exited = new Promise<void>((resolve) => t.proc.once('exit', () => resolve()));
  const status = await t.lua<{ pid: number; log_file: string }>(
    'return require("rune.host").request("rune.status")',
  );
  const info = await t.lua<{ url: string; token: string; lock: string }>(
    'return require("rune.host").request("rune.mcp.info")',
  );
  await waitFor(
    async () =>
      (
        await t.lua<{ name: string; state: string }[]>(
          'return require("rune.host").request("rune.hub.status").servers',
        )
      ).some((s) => s.name === 'stubborn' && s.state === 'connected'),
    30000,
    'the hub server to connect',
  );
  const serverPid = Number(fs.readFileSync(pidFile, 'utf8'));
  return {
    t,
    hostPid: status.pid,
    logFile: status.log_file,
    lock: info.lock,
    url: info.url,
    token: info.token,
    serverPid,
    exited,
  };
}

/** Connects an agent and starts a write that waits for the user's approval: a call in flight. */
async function callInFlight(s: Started): Promise<{
  client: Client;
  result: Promise<{ isError: boolean; text: string }>;
}> {
  const client = new Client({ name: 'agent', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(s.url), {
      requestInit: { headers: { Authorization: `Bearer ${s.token}` } },
    }),
  );
  const result = client
    .callTool({ name: 'write_file', arguments: { path: 'new.txt', content: 'x' } })
    .then(
      (r) => ({ isError: r.isError === true, text: textOf(r) }),
      (e: Error) => ({ isError: true, text: `no result: ${e.message}` }),
    );
  await waitFor(
    async () => (await s.t.lua<string[]>('return require("rune.approval").pending()')).length > 0,
    10000,
    'the approval prompt',
  );
  return { client, result };
}

/**
 * Alive and not a zombie: a host whose Neovim was killed is reparented, and its exit is
 * reaped whenever the new parent gets to it; the process itself is gone before that.
 */
function running(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return alive(pid);
  }
}

function logOf(file: string): { msg: string; code?: number }[] {
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string; code?: number });
}

describe('host shutdown (real Neovim, host from dist/)', () => {
  it('answers a call in flight, stops a hub server that ignores SIGTERM and removes its lock when Neovim quits', async () => {
    const s = await start();
    expect(fs.existsSync(s.lock)).toBe(true);
    const client = new Client({ name: 'agent', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(s.url), {
        requestInit: { headers: { Authorization: `Bearer ${s.token}` } },
      }),
    );
    // A write waits for the user's approval in Neovim: a call in flight.
    const call = client
      .callTool({ name: 'write_file', arguments: { path: 'new.txt', content: 'x' } })
      .then(
        (r) => ({ isError: r.isError === true, text: textOf(r) }),
        (e: Error) => ({ isError: true, text: `no result: ${e.message}` }),
      );
    await waitFor(
      async () => (await s.t.lua<string[]>('return require("rune.approval").pending()')).length > 0,
      10000,
      'the approval prompt',
    );
    void s.t.nvim.command('qa!').catch(() => undefined);
    await s.exited;

    const result = await call;
    expect(result.isError).toBe(true);
    expect(result.text).toContain('cancel');
    expect(result.text).not.toContain('no result');
    await waitFor(() => !alive(s.hostPid), 10000, 'the host to exit');
    await waitFor(() => !alive(s.serverPid), 10000, 'the hub server to be stopped');
    expect(fs.existsSync(s.lock)).toBe(false);
    const log = logOf(s.logFile);
    expect(log.filter((l) => l.msg === 'uncaught exception')).toEqual([]);
    expect(log.find((l) => l.msg === 'host stopped')?.code).toBe(0);
    await client.close().catch(() => undefined);
    await s.t.close();
  }, 60000);

  it('exits cleanly, leaving nothing behind, when Neovim is killed', async () => {
    const s = await start();
    // This test's own client may still write to the dead Neovim.
    s.t.proc.stdin?.on('error', () => undefined);
    s.t.proc.kill('SIGKILL');
    await s.exited;
    await waitFor(() => !alive(s.hostPid), 10000, 'the host to exit');
    await waitFor(() => !alive(s.serverPid), 10000, 'the hub server to be stopped');
    expect(fs.existsSync(s.lock)).toBe(false);
    const log = logOf(s.logFile);
    expect(log.filter((l) => l.msg === 'uncaught exception')).toEqual([]);
    expect(log.find((l) => l.msg === 'host stopped')?.code).toBe(0);
    await s.t.close();
  }, 60000);

  // The grace period is for a stop while Neovim runs (:RuneStop); once Neovim is gone nothing
  // can finish against it. A grace far longer than the deadline below proves it is skipped.
  for (const how of ['quits', 'is killed'] as const) {
    it(`skips the grace period when Neovim ${how} with a call in flight: the agent is answered, nothing is left behind`, async () => {
      const s = await start(60000);
      const socket = (JSON.parse(fs.readFileSync(s.lock, 'utf8')) as { socket?: string }).socket;
      expect(socket && fs.existsSync(socket)).toBe(true);
      const { client, result } = await callInFlight(s);
      const t0 = Date.now();
      if (how === 'quits') {
        void s.t.nvim.command('qa!').catch(() => undefined);
      } else {
        s.t.proc.stdin?.on('error', () => undefined);
        s.t.proc.kill('SIGKILL');
      }
      await s.exited;
      await waitFor(() => !running(s.hostPid), 15000, 'the host to exit');
      const hostMs = Date.now() - t0;
      const answer = await result;
      // An answer saying the call was cancelled, or a closed connection: never a hang.
      expect(answer.isError).toBe(true);
      expect(answer.text).toMatch(/cancel|no result/);
      await waitFor(() => !alive(s.serverPid), 5000, 'the hub server to be stopped');
      expect(fs.existsSync(s.lock)).toBe(false);
      expect(fs.existsSync(socket!)).toBe(false);
      const log = logOf(s.logFile);
      expect(log.filter((l) => l.msg === 'uncaught exception')).toEqual([]);
      expect(log.find((l) => l.msg === 'host stopped')?.code).toBe(0);
      // A figure for the reader, not an assertion: the machine may be busy.
      console.log(`host gone ${hostMs} ms after Neovim ${how} (answer: ${answer.text})`);
      await client.close().catch(() => undefined);
      await s.t.close();
    }, 60000);
  }

  it('withdraws an approval prompt when the host is killed while it waits', async () => {
    const s = await start();
    const client = new Client({ name: 'agent', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(s.url), {
        requestInit: { headers: { Authorization: `Bearer ${s.token}` } },
      }),
    );
    const call = client
      .callTool({ name: 'write_file', arguments: { path: 'new.txt', content: 'x' } })
      .catch((e: Error) => e);
    await waitFor(
      async () => (await s.t.lua<string[]>('return require("rune.approval").pending()')).length > 0,
      10000,
      'the approval prompt',
    );
    const floats = () =>
      s.t.lua<number>(
        'return #vim.tbl_filter(function(w) return vim.api.nvim_win_get_config(w).relative ~= "" end, vim.api.nvim_list_wins())',
      );
    expect(await floats()).toBeGreaterThan(0);
    process.kill(s.hostPid, 'SIGKILL');
    await waitFor(
      async () =>
        (await s.t.lua<string[]>('return require("rune.approval").pending()')).length === 0,
      10000,
      'the prompt to be withdrawn',
    );
    expect(await floats()).toBe(0);
    void call;
    // A killed host cannot stop its hub servers: this one is the test's to end.
    process.kill(s.serverPid, 'SIGKILL');
    await client.close().catch(() => undefined);
    await s.t.close();
  }, 60000);
});
