/**
 * Attack tests for approvals, against the BUILT host (dist/) spawned by the
 * Lua layer in a real headless Neovim: a prompt is withdrawn the moment its
 * caller is gone — a dropped HTTP connection, a killed `rune mcp` — and
 * nothing runs for nobody; the prompt names who asked.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, waitFor } from '../helpers/nvim.js';
import { startBuiltMcpEnv, type BuiltMcpEnv } from './mcp-helpers.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

let env: BuiltMcpEnv;

beforeAll(async () => {
  env = await startBuiltMcpEnv('{}', { 'notes.txt': 'alpha\n' });
});

afterAll(async () => {
  await env?.t.close();
});

function promptLines(): Promise<string[]> {
  return env.t.lua<string[]>(`
    for _, w in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_win_get_config(w).relative ~= '' then
        return vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(w), 0, -1, false)
      end
    end
    return {}`);
}

async function withdrawn(): Promise<void> {
  await waitFor(async () => (await env.pending()).length === 0, 10000, 'the prompt to go');
  expect(await promptLines()).toEqual([]);
}

describe('a prompt outlives no asker', () => {
  it('is withdrawn when the HTTP connection of the call drops, and nothing is written', async () => {
    const client = new Client({ name: 'dropping-agent', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(env.url), {
      requestInit: { headers: { Authorization: `Bearer ${env.token}` } },
    });
    await client.connect(transport);
    const session = transport.sessionId!;
    const req = http.request(env.url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${env.token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': session,
        'mcp-protocol-version': LATEST_PROTOCOL_VERSION,
      },
    });
    req.on('error', () => undefined);
    req.end(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'write_file', arguments: { path: 'dropped.txt', content: 'x\n' } },
      }),
    );
    await env.nextPrompt();
    expect((await promptLines())[0]).toContain('dropping-agent');
    req.destroy();
    await withdrawn();
    expect(fs.existsSync(path.join(env.ws, 'dropped.txt'))).toBe(false);
    await client.close();
  });

  it('is withdrawn when the client sends notifications/cancelled', async () => {
    const client = new Client({ name: 'cancelling-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(env.url), {
        requestInit: { headers: { Authorization: `Bearer ${env.token}` } },
      }),
    );
    const ac = new AbortController();
    const call = client
      .callTool(
        { name: 'write_file', arguments: { path: 'cancelled.txt', content: 'x\n' } },
        undefined,
        { signal: ac.signal },
      )
      .catch((err: unknown) => err);
    await env.nextPrompt();
    expect((await promptLines())[0]).toContain('cancelling-agent');
    ac.abort();
    await withdrawn();
    expect(await call).toBeInstanceOf(Error);
    expect(fs.existsSync(path.join(env.ws, 'cancelled.txt'))).toBe(false);
    await client.close();
  });

  it('is withdrawn when the `rune mcp` proxy carrying the call is killed', async () => {
    const socket = path.join(env.t.home, 'nvim.sock');
    await env.t.lua('vim.fn.serverstart(...)', [socket]);
    const e: Record<string, string> = { ...env.t.env, NVIM: socket };
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp'],
      env: e,
      cwd: env.ws,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'killed-agent', version: '2.0.0' });
    await client.connect(transport);
    const call = client
      .callTool({ name: 'save_buffer', arguments: { buffer: 'notes.txt' } })
      .catch((err: unknown) => err);
    await env.nextPrompt();
    expect((await promptLines())[0]).toContain('killed-agent 2.0.0');
    process.kill(transport.pid!, 'SIGKILL');
    await withdrawn();
    await call;
    await client.close().catch(() => undefined);
    // The audit log says the call was cancelled, not run.
    const info = await env.t.lua<{ recent: { tool: string; result: string }[] }>(
      'return require("rune.host").request("rune.mcp.info")',
    );
    expect(info.recent.filter((r) => r.tool === 'save_buffer').map((r) => r.result)).toEqual([
      'cancelled',
    ]);
  });
});
