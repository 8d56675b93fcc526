/**
 * `rune mcp` (dist/cli/main.js, rebuilt with `npx tsc -p tsconfig.build.json`)
 * driven by the official SDK client over stdio, against a real headless Neovim.
 */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ROOT, bigBuffer, startNvim, waitFor, xdgEnv } from '../helpers/nvim.js';
import { startMcpEnv, textOf, type McpEnv } from './mcp-helpers.js';
import { EXIT } from '../../src/cli/output.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

let env: McpEnv;
let socket: string;

beforeAll(async () => {
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing: build with \`npx tsc -p tsconfig.build.json\` first`);
  }
  env = await startMcpEnv('{}', { 'notes.txt': 'alpha\nbeta\n' });
  socket = path.join(env.t.home, 'nvim.sock');
  await env.t.lua('vim.fn.serverstart(...)', [socket]);
});

afterAll(async () => {
  await env?.t.close();
});

function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  const e: Record<string, string> = { ...(env.t.env as Record<string, string>) };
  delete e.NVIM;
  return { ...e, ...extra };
}

async function stdioClient(
  e: Record<string, string>,
  cwd: string,
  args: string[] = [],
): Promise<Client> {
  const client = new Client({ name: 'stdio-test', version: '2.0.0' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', ...args],
    env: e,
    cwd,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await client.connect(transport);
  } catch (err) {
    throw new Error(`rune mcp failed: ${(err as Error).message}\n${stderr}`);
  }
  return client;
}

describe('rune mcp (stdio proxy)', () => {
  it('finds Neovim through $NVIM and serves its tools', async () => {
    const client = await stdioClient(cliEnv({ NVIM: socket }), os.tmpdir());
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(
        expect.arrayContaining(['read_buffer', 'edit_buffer', 'fs.read']),
      );
      const r = await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } });
      expect(textOf(r)).toBe('alpha\nbeta');
      // An edit through stdio is reviewed in Neovim like any other; the prompt names the stdio client.
      await client.callTool({ name: 'open_file', arguments: { path: 'notes.txt' } });
      const call = client.callTool({
        name: 'edit_buffer',
        arguments: { replacements: [{ search: 'beta', replace: 'gamma' }] },
      });
      await env.nextPrompt();
      const float = await env.t.lua<string>(
        'require("rune.approval").focus() return vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]',
      );
      expect(float).toMatch(/^stdio-test 2\.0\.0 wants to edit/);
      await env.t.nvim.input('<CR>');
      expect((await call).isError).toBeFalsy();
      expect(await env.t.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).toEqual([
        'alpha',
        'gamma',
      ]);
    } finally {
      await client.close();
    }
  });

  it('talks to the host over its Unix socket: a 0700 folder, the token required', async () => {
    const info = await env.t.lua<{ lock: string; token: string }>(
      'return require("rune.host").request("rune.mcp.info")',
    );
    const lock = JSON.parse(fs.readFileSync(info.lock, 'utf8')) as { socket?: string };
    const sock = lock.socket ?? '';
    expect(path.dirname(sock)).toBe(path.dirname(info.lock));
    expect(fs.statSync(sock).isSocket()).toBe(true);
    expect(fs.statSync(path.dirname(sock)).mode & 0o777).toBe(0o700);

    /** Sends `lines` on a fresh connection; resolves with what came back once it ends. */
    const exchange = (lines: string[]) =>
      new Promise<string>((resolve, reject) => {
        const c = net.createConnection(sock);
        let got = '';
        c.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.includes('"id":7')) c.end();
        });
        c.once('error', reject);
        c.once('close', () => resolve(got));
        c.write(lines.map((l) => l + '\n').join(''));
      });
    const call = JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'read_file', arguments: { path: 'notes.txt' } },
    });
    for (const first of [call, 'Bearer 0123456789abcdef0123456789abcdef']) {
      const refused = JSON.parse((await exchange([first, call])).trim()) as {
        error: { code: number; message: string };
      };
      expect(refused.error.code).toBe(-32001);
      expect(refused.error.message).toMatch(/Unauthorized.*Bearer <token>/);
    }
    const ok = await exchange([`Bearer ${info.token}`, call]);
    // Notifications (a buffer list change) may come before the reply.
    const reply = ok.split('\n').find((l) => l.includes('"id":7')) ?? '';
    expect(JSON.parse(reply)).toMatchObject({
      id: 7,
      result: { content: [{ type: 'text', text: expect.stringContaining('alpha') }] },
    });

    await env.t.nvim.command('checkhealth rune');
    const health = await env.t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
    expect(health.join('\n')).toContain(`OK rune mcp socket ${sock}`);
    await env.t.nvim.command('bwipeout!');

    // `rune mcp` (found through this lock file) is one of the socket's sessions.
    const client = await stdioClient(cliEnv(), env.ws);
    try {
      expect((await client.callTool({ name: 'list_buffers', arguments: {} })).isError).toBeFalsy();
      const clients = await env.t.lua<{ client: string; transport: string }[]>(
        'return require("rune.host").request("rune.mcp.info").clients',
      );
      expect(clients).toContainEqual(
        expect.objectContaining({ client: 'stdio-test 2.0.0', transport: 'socket' }),
      );
    } finally {
      await client.close();
    }
  });

  it('finds Neovim through the lock file whose folder matches', async () => {
    const sub = path.join(env.ws, 'deeper');
    fs.mkdirSync(sub, { recursive: true });
    const client = await stdioClient(cliEnv(), sub);
    try {
      const r = await client.callTool({ name: 'list_buffers', arguments: {} });
      expect(r.isError).toBeFalsy();
    } finally {
      await client.close();
    }
  });

  it('finds Neovim through its own server socket when no lock file matches', async () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-nolocks-'));
    try {
      // Another state folder: no lock files; the same runtime folder, where Neovim's socket is.
      const client = await stdioClient(cliEnv({ XDG_STATE_HOME: state }), env.ws);
      const r = await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } });
      expect(r.isError).toBeFalsy();
      await client.close();
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
  });

  it('finds the server named by --instance (its port), from any folder', async () => {
    const client = await stdioClient(cliEnv(), os.tmpdir(), ['--instance', String(env.port)]);
    const r = await client.callTool({ name: 'list_buffers', arguments: {} });
    expect(r.isError).toBeFalsy();
    await client.close();
    const child = spawn(process.execPath, [CLI, 'mcp', '--instance', '1', '--print'], {
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise((r) => child.once('exit', r))).toBe(EXIT.unavailable);
    expect(err).toMatch(/No running Rune MCP server has port or pid 1/);
  });

  it('passes a 10,000-line read through unchanged, byte for byte', async () => {
    // One JSON-RPC line of about 600 KB: the host's socket and `rune mcp` carry it in many chunks.
    const { buf, text: want } = await bigBuffer(env.t);
    const client = await stdioClient(cliEnv({ NVIM: socket }), os.tmpdir());
    try {
      for (let i = 0; i < 3; i++) {
        const r = await client.callTool({
          name: 'read_buffer',
          arguments: { buffer: buf, start_line: 1, end_line: 10000 },
        });
        expect(textOf(r)).toBe(want);
      }
      // Neovim sends the text in slices of 512 lines: ranges that start and end inside
      // slices, on their edges, and past the end come out whole.
      const lines = want.split('\n');
      for (const [start_line, end_line] of [
        [511, 1537],
        [513, 1024],
        [1, 512],
        [9990, 20000],
      ] as const) {
        const r = await client.callTool({
          name: 'read_buffer',
          arguments: { buffer: buf, start_line, end_line },
        });
        expect(textOf(r).split('\n[lines')[0]).toBe(
          lines.slice(start_line - 1, Math.min(end_line, 10000)).join('\n'),
        );
      }
      // Small calls after the big ones still line up with their answers.
      const r = await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } });
      expect(textOf(r)).toBe('alpha\nbeta');
    } finally {
      await client.close();
      await env.t.lua('vim.api.nvim_buf_delete(..., { force = true })', [buf]);
    }
  });

  it('answers tools/call sent without initialize', async () => {
    const child = spawn(process.execPath, [CLI, 'mcp'], {
      env: cliEnv({ NVIM: socket }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin.write(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'read_file', arguments: { path: 'notes.txt' } },
      }) + '\n',
    );
    const line = await waitFor(
      () => out.split('\n').find((l) => l.includes('"id":1')) ?? '',
      15000,
      'the answer',
    );
    // Answered the way zeke's client reads it: the text is the result.
    const msg = JSON.parse(line) as { result: string };
    expect(msg.result).toBe('alpha\nbeta');
    child.stdin.end();
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(0);
  });

  it('says clearly on stderr, and exits 3, when no Neovim runs', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-empty-'));
    const e = { ...cliEnv(), ...xdgEnv(home), HOME: home, TMPDIR: home };
    const child = spawn(process.execPath, [CLI, 'mcp'], {
      env: e,
      cwd: home,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let err = '';
    let out = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    fs.rmSync(home, { recursive: true, force: true });
    expect(code).toBe(EXIT.unavailable);
    expect(err).toMatch(/No running Neovim with Rune was found/);
    expect(out).toBe('');
  });
});

describe('rune mcp wakes a Neovim whose host has not started', () => {
  it('starts the host through the RPC socket and serves', async () => {
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-wake-')));
    fs.writeFileSync(path.join(ws, 'a.txt'), 'woken\n');
    const t = await startNvim({
      setup: `vim.fn.chdir(${JSON.stringify(ws)}); require('rune').setup({})`,
    });
    const sock = path.join(t.home, 'nvim.sock');
    await t.lua('vim.fn.serverstart(...)', [sock]);
    expect(await t.lua('return require("rune.host").info().state')).toBe('stopped');
    const e = { ...(t.env as Record<string, string>) };
    delete e.NVIM;
    const client = await stdioClient({ ...e, NVIM: sock }, ws);
    try {
      const r = await client.callTool({ name: 'read_file', arguments: { path: 'a.txt' } });
      expect(textOf(r)).toBe('woken');
      expect(await t.lua('return require("rune.host").info().state')).toBe('ready');
      const info = await t.lua<{ lock: string }>(
        'return require("rune.host").request("rune.mcp.info")',
      );
      expect(fs.statSync(info.lock).mode & 0o777).toBe(0o600);
      await client.close();
      // The spawned host removes its lock file when Neovim quits.
      await t.close();
      await waitFor(() => !fs.existsSync(info.lock), 10000, 'the lock file to vanish');
    } finally {
      await client.close().catch(() => undefined);
      await t.close();
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });
});
