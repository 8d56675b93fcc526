import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ProgressNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startMcpEnv, textOf, type McpEnv } from './mcp-helpers.js';
import { ROOT, bigBuffer, waitFor } from '../helpers/nvim.js';
import { getMcpServer } from '../../src/nvim/mcp.js';

let env: McpEnv;
let client: Client;
const zekeDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-zeke-')), 'ide');

const MAIN = ['local a = 1', 'local b = 2', 'local c = 3', 'print(a + b + c)', ''].join('\n');

beforeAll(async () => {
  env = await startMcpEnv(
    `{ tools = { unsafe = false }, zeke = { enabled = true, lock_dir = '${zekeDir}' } }`,
    {
      'main.txt': MAIN,
      'src/util.txt': 'return { answer = 42 }\n',
      'log.txt': 'one\ntwo\n',
    },
  );
  client = await env.connect();
});

afterAll(async () => {
  await client?.close().catch(() => undefined);
  fs.rmSync(path.dirname(zekeDir), { recursive: true, force: true });
});

function rawRequest(
  headers: Record<string, string>,
  body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: env.port,
        path: '/mcp',
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: data, headers: res.headers }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('MCP server guard', () => {
  it('refuses a request without the bearer token with 401', async () => {
    const res = await rawRequest({ host: `127.0.0.1:${env.port}` });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/Bearer/);
    const wrong = await rawRequest({
      host: `127.0.0.1:${env.port}`,
      authorization: `Bearer ${'0'.repeat(32)}`,
    });
    expect(wrong.status).toBe(401);
  });

  it('checks the token on every request of a kept-alive connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const post = (authorization: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: env.port,
            path: '/mcp',
            method: 'POST',
            agent,
            headers: {
              authorization,
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('socket', (s) => sockets.add(s));
        req.on('error', reject);
        req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }));
      });
    try {
      const good = `Bearer ${env.token}`;
      const wrong = `Bearer ${'0'.repeat(32)}`;
      expect(await post(good)).toBe(200);
      expect(await post(wrong)).toBe(401);
      expect(await post(good)).toBe(200);
      expect(await post(`${good}x`)).toBe(401);
      expect(await post('')).toBe(401);
      expect(await post(good)).toBe(200);
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('refuses a foreign Host or Origin with 403, even with the token', async () => {
    const auth = { authorization: `Bearer ${env.token}` };
    const badHost = await rawRequest({ ...auth, host: `evil.example:${env.port}` });
    expect(badHost.status).toBe(403);
    const lookalike = await rawRequest({ ...auth, host: `127.0.0.1.evil.example:${env.port}` });
    expect(lookalike.status).toBe(403);
    const https = await rawRequest({
      ...auth,
      host: `localhost:${env.port}`,
      origin: 'https://localhost.evil.example',
    });
    expect(https.status).toBe(403);
    const badOrigin = await rawRequest({
      ...auth,
      host: `localhost:${env.port}`,
      origin: 'http://evil.example',
    });
    expect(badOrigin.status).toBe(403);
    expect(badOrigin.headers['access-control-allow-origin']).toBeUndefined();
    const ok = await rawRequest({
      ...auth,
      host: `localhost:${env.port}`,
      origin: `http://localhost:${env.port}`,
    });
    expect(ok.status).toBe(200);
  });

  it('refuses a body over the limit with 413', async () => {
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'ping',
      params: { x: 'y'.repeat(5 * 1024 * 1024) },
    });
    const res = await rawRequest(
      { host: `127.0.0.1:${env.port}`, authorization: `Bearer ${env.token}` },
      big,
    );
    expect(res.status).toBe(413);
  });

  it('answers tools/call sent without initialize (one-shot)', async () => {
    const res = await rawRequest(
      { host: `127.0.0.1:${env.port}`, authorization: `Bearer ${env.token}` },
      JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'list_buffers', arguments: {} },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toContain('"id":7');
    expect(res.body).toContain('buffers');
  });

  it('writes a 0600 lock file in a 0700 directory', async () => {
    const info = await env.t.lua<{ lock: string; token: string; port: number }>(
      'return require("rune.host").request("rune.mcp.info")',
    );
    const st = fs.statSync(info.lock);
    expect(st.mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(info.lock)).mode & 0o777).toBe(0o700);
    const data = JSON.parse(fs.readFileSync(info.lock, 'utf8')) as Record<string, unknown>;
    expect(data).toMatchObject({ pid: process.pid, port: env.port, token: env.token, cwd: env.ws });
  });

  it("writes nothing in zeke's lock folder even with mcp.zeke.enabled (nothing in zeke reads it)", () => {
    expect(fs.existsSync(zekeDir)).toBe(false);
    expect(env.host.logLines.some((l) => l.includes('mcp.zeke.enabled does nothing'))).toBe(true);
  });

  it('reports the server in :checkhealth rune', async () => {
    await env.t.nvim.command('checkhealth rune');
    const text = (
      await env.t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
    ).join('\n');
    expect(text).toContain(`MCP server listening on ${env.url}`);
    expect(text).toContain('mcp.zeke.enabled has no effect');
    await env.t.nvim.command('bwipeout!');
  });
});

describe('MCP editor tools', () => {
  it('lists every tool with annotations, and no raw-command tool unless enabled', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    for (const n of [
      'list_buffers',
      'read_buffer',
      'read_file',
      'get_cursor',
      'get_selection',
      'get_diagnostics',
      'open_file',
      'edit_buffer',
      'write_file',
      'apply_diff',
      'save_buffer',
      'list_directory',
      'search',
      'lsp_symbols',
      'lsp_definition',
      'tail_file',
      'fs.read',
      'fs.write',
      'fs.list',
      'diff.apply',
      'diff.generate',
      'ping',
      'ai_ollama_generate',
      'ai_claude_chat',
      'ai_openai_chat',
      'list_models',
    ]) {
      expect(names).toContain(n);
    }
    expect(names).not.toContain('nvim_command');
    expect(names).not.toContain('nvim_lua');
    expect(tools.find((t) => t.name === 'read_buffer')?.annotations?.readOnlyHint).toBe(true);
    expect(tools.find((t) => t.name === 'edit_buffer')?.annotations?.destructiveHint).toBe(true);
  });

  it('calls the read-only tools without asking', async () => {
    const opened = await client.callTool({
      name: 'open_file',
      arguments: { path: 'main.txt', line: 2 },
    });
    expect(opened.isError).toBeFalsy();
    const cur = JSON.parse(textOf(await client.callTool({ name: 'get_cursor', arguments: {} })));
    expect(cur.path).toBe(path.join(env.ws, 'main.txt'));
    expect(cur.position.line).toBe(1);

    const bufs = JSON.parse(textOf(await client.callTool({ name: 'list_buffers', arguments: {} })));
    expect(bufs.buffers.map((b: { path: string }) => b.path)).toContain(
      path.join(env.ws, 'main.txt'),
    );

    const read = await client.callTool({
      name: 'read_buffer',
      arguments: { start_line: 2, end_line: 3 },
    });
    expect(textOf(read)).toBe(
      'local b = 2\nlocal c = 3\n[lines 2-3 of 4; call again with start_line=4 for more]',
    );
    // By id: the range is clamped to the buffer, and past its end there is nothing.
    const byId = (start_line: number, end_line?: number) =>
      client.callTool({
        name: 'read_buffer',
        arguments: { buffer: cur.bufferId, start_line, end_line },
      });
    expect(textOf(await byId(3, 99))).toBe('local c = 3\nprint(a + b + c)');
    expect(textOf(await byId(4))).toBe('print(a + b + c)');
    expect(textOf(await byId(9, 12))).toBe('');

    expect(
      textOf(await client.callTool({ name: 'read_file', arguments: { path: 'src/util.txt' } })),
    ).toBe('return { answer = 42 }');
    expect(
      textOf(await client.callTool({ name: 'fs.read', arguments: { path: 'src/util.txt' } })),
    ).toBe('return { answer = 42 }\n');
    const dir = JSON.parse(textOf(await client.callTool({ name: 'fs.list', arguments: {} })));
    expect(dir.entries.map((e: { name: string }) => e.name).sort()).toEqual([
      'log.txt',
      'main.txt',
      'src',
    ]);
    expect(
      JSON.parse(
        textOf(await client.callTool({ name: 'list_directory', arguments: { path: 'src' } })),
      ).entries,
    ).toEqual([{ name: 'util.txt', type: 'file' }]);

    const found = JSON.parse(
      textOf(await client.callTool({ name: 'search', arguments: { query: 'answer' } })),
    );
    expect(found.matches).toEqual([
      { path: path.join(env.ws, 'src/util.txt'), line: 1, text: 'return { answer = 42 }' },
    ]);
    const inBufs = JSON.parse(
      textOf(
        await client.callTool({
          name: 'search',
          arguments: { query: 'b \\+ c', regex: true, scope: 'buffers' },
        }),
      ),
    );
    expect(inBufs.matches[0]).toMatchObject({ line: 4, text: 'print(a + b + c)' });

    await env.t.lua(`
      local ns = vim.api.nvim_create_namespace('test')
      vim.diagnostic.set(ns, 0, { { lnum = 0, col = 6, message = 'unused a', severity = vim.diagnostic.severity.WARN } })
    `);
    const diags = JSON.parse(
      textOf(await client.callTool({ name: 'get_diagnostics', arguments: {} })),
    );
    expect(diags.diagnostics).toEqual([
      expect.objectContaining({
        message: 'unused a',
        severity: 'warning',
        path: path.join(env.ws, 'main.txt'),
      }),
    ]);

    await env.t.lua('vim.api.nvim_win_set_cursor(0, {1, 0}); vim.cmd("normal! vj\\27")');
    const sel = JSON.parse(textOf(await client.callTool({ name: 'get_selection', arguments: {} })));
    expect(sel.text).toBe('local a = 1\nl');
    expect(sel.range.start).toEqual({ line: 0, character: 0 });

    const symbols = JSON.parse(
      textOf(await client.callTool({ name: 'lsp_symbols', arguments: {} })),
    );
    expect(symbols.symbols).toEqual([]);
    const def = JSON.parse(
      textOf(
        await client.callTool({ name: 'lsp_definition', arguments: { line: 0, character: 6 } }),
      ),
    );
    expect(def.locations).toEqual([]);
  });

  it('asks Neovim once for a read by buffer id: the buffer, the roots and the lines together', async () => {
    const bufferId = await env.t.lua<number>(
      `vim.cmd.edit(${JSON.stringify(path.join(env.ws, 'main.txt'))}) return vim.api.nvim_get_current_buf()`,
    );
    // Every request the host makes to lua/rune/editor.lua, as the list of accessors it ran.
    await env.t.lua(`
      local E = require('rune.editor')
      _G.rune_test_requests = {}
      for name, fn in pairs(E) do
        if name ~= 'batch' and type(fn) == 'function' then
          E[name] = function(...)
            if not _G.rune_test_in_batch then table.insert(_G.rune_test_requests, { name }) end
            return fn(...)
          end
        end
      end
      local batch = E.batch
      E.batch = function(calls)
        local names = {}
        for i, c in ipairs(calls) do names[i] = c[1] end
        table.sort(names)
        table.insert(_G.rune_test_requests, names)
        _G.rune_test_in_batch = true
        local ok, out = pcall(batch, calls)
        _G.rune_test_in_batch = false
        assert(ok, out)
        return out
      end`);
    const requests = async (call: () => Promise<unknown>) => {
      await env.t.lua('_G.rune_test_requests = {}');
      await call();
      return env.t.lua<string[][]>('return _G.rune_test_requests');
    };
    try {
      let read: unknown;
      expect(
        await requests(async () => {
          read = await client.callTool({
            name: 'read_buffer',
            arguments: { buffer: bufferId, start_line: 1, end_line: 2 },
          });
        }),
      ).toEqual([['buffer', 'roots', 'text']]);
      expect(textOf(read)).toBe(
        'local a = 1\nlocal b = 2\n[lines 1-2 of 4; call again with start_line=3 for more]',
      );
      let diags: unknown;
      expect(
        await requests(async () => {
          diags = await client.callTool({
            name: 'get_diagnostics',
            arguments: { buffer: bufferId },
          });
        }),
      ).toEqual([['buffer', 'diagnostics', 'roots']]);
      expect((JSON.parse(textOf(diags)) as { diagnostics: unknown[] }).diagnostics).toHaveLength(
        await env.t.lua<number>('return #vim.diagnostic.get(...)', [bufferId]),
      );
      // One failing accessor (the text of a buffer that does not exist) spoils no other answer.
      const missing = await client.callTool({
        name: 'read_buffer',
        arguments: { buffer: 9999 },
      });
      expect(missing.isError).toBe(true);
      expect(textOf(missing)).toBe('No buffer 9999; call list_buffers to see the open ones.');
    } finally {
      await env.t.lua('package.loaded["rune.editor"] = nil');
    }
  });

  it('answers a 10,000-line read over HTTP with the exact text, in one JSON body', async () => {
    // About 600 KB, written from the pieces Neovim sent (src/core/text-pieces.ts): the
    // Content-Length must count every piece's UTF-8 bytes, or the body is cut or hangs.
    const { buf, text: want } = await bigBuffer(env.t);
    try {
      for (let i = 0; i < 2; i++) {
        const r = await client.callTool({
          name: 'read_buffer',
          arguments: { buffer: buf, start_line: 1, end_line: 10000 },
        });
        expect(textOf(r)).toBe(want);
        expect(r.structuredContent).toMatchObject({ lineCount: 10000, endLine: 10000 });
      }
      // A page of it: the text and the note after it.
      const page = await client.callTool({
        name: 'read_buffer',
        arguments: { buffer: buf, start_line: 1 },
      });
      expect(textOf(page)).toBe(
        want.split('\n').slice(0, 2000).join('\n') +
          '\n[lines 1-2000 of 10000; call again with start_line=2001 for more]',
      );
    } finally {
      await env.t.lua('vim.api.nvim_buf_delete(..., { force = true })', [buf]);
    }
  });

  it('streams appended lines of tail_file as progress until cancelled', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const call = client
      .callTool({ name: 'tail_file', arguments: { path: 'log.txt', lines: 1 } }, undefined, {
        signal: controller.signal,
        onprogress: (p) => {
          if (p.message) seen.push(p.message);
        },
      })
      .catch((e: Error) => e);
    await waitFor(() => seen.includes('two'), 10000, 'the history line');
    fs.appendFileSync(path.join(env.ws, 'log.txt'), 'three\nfour\n');
    await waitFor(() => seen.join('\n').includes('four'), 10000, 'the appended lines');
    controller.abort();
    expect(await call).toBeInstanceOf(Error);
    expect(seen.join('\n')).toContain('three');
    void ProgressNotificationSchema;
  });

  it('applies only the hunks the user accepts, after review', async () => {
    const b = await env.t.lua<number>(
      `vim.cmd.edit(${JSON.stringify(path.join(env.ws, 'main.txt'))}) return vim.api.nvim_get_current_buf()`,
    );
    const call = client.callTool({
      name: 'edit_buffer',
      arguments: {
        buffer: b,
        replacements: [
          { search: 'local a = 1', replace: 'local a = 10' },
          { search: 'print(a + b + c)', replace: 'print(a * b * c)' },
        ],
      },
    });
    const id = await env.nextPrompt();
    expect(id).toBeTruthy();
    // Nothing changes while the review is open.
    expect(await env.t.lua('return vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]')).toBe(
      'local a = 1',
    );
    // The user goes to the prompt, rejects the first hunk and applies the rest, with keys.
    await env.t.lua('assert(require("rune.approval").focus())');
    const rows = await env.t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
    const first = rows.findIndex((l) => l.startsWith('@@ hunk 1/2')) + 1;
    await env.t.lua(`vim.api.nvim_win_set_cursor(0, {${first}, 0})`);
    await env.t.nvim.input('n');
    await waitFor(async () =>
      (await env.t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).some((l) =>
        l.includes('[reject]'),
      ),
    );
    await env.t.nvim.input('<CR>');
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toMatchObject({ applied: 1, hunks: 2, rejected: 1 });
    expect(await env.t.lua(`return vim.api.nvim_buf_get_lines(${b}, 0, -1, false)`)).toEqual([
      'local a = 1',
      'local b = 2',
      'local c = 3',
      'print(a * b * c)',
    ]);
    // The file on disk is untouched until saved.
    expect(fs.readFileSync(path.join(env.ws, 'main.txt'), 'utf8')).toBe(MAIN);
  });

  it('changes nothing when the user denies an edit', async () => {
    const before = await env.t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
    const call = client.callTool({
      name: 'edit_buffer',
      arguments: {
        edits: [
          {
            range: { start: { line: 0, character: 0 }, end: { line: 0, character: 5 } },
            newText: 'LOCAL',
          },
        ],
      },
    });
    await env.nextPrompt();
    await env.t.lua('require("rune.approval").focus()');
    await env.t.nvim.input('d');
    const result = await call;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/rejected/);
    expect(await env.t.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).toEqual(before);
  });

  it('never takes the keyboard: typing goes on while a prompt waits, and a cancel closes it', async () => {
    const scratch = await env.t.lua<number>(
      'local b = vim.api.nvim_create_buf(true, true) vim.api.nvim_set_current_buf(b) return b',
    );
    const controller = new AbortController();
    const call = client
      .callTool({ name: 'save_buffer', arguments: { buffer: 'main.txt' } }, undefined, {
        signal: controller.signal,
      })
      .catch((e: Error) => e);
    await env.nextPrompt();
    // The prompt is open, the cursor stays where it was, and keys land in the user's buffer.
    expect(await env.t.lua('return vim.api.nvim_get_current_buf()')).toBe(scratch);
    await env.t.nvim.input('iadd<Esc>');
    await waitFor(
      async () =>
        (
          await env.t.lua<string[]>(`return vim.api.nvim_buf_get_lines(${scratch}, 0, -1, false)`)
        )[0] === 'add',
    );
    expect(await env.t.lua('return #require("rune.approval").pending()')).toBe(1);
    controller.abort();
    expect(await call).toBeInstanceOf(Error);
    await waitFor(
      async () =>
        (await env.t.lua<string[]>('return require("rune.approval").pending()')).length === 0,
    );
    const floats = await env.t.lua<number>(
      'local n = 0 for _, w in ipairs(vim.api.nvim_list_wins()) do if vim.api.nvim_win_get_config(w).relative ~= "" then n = n + 1 end end return n',
    );
    expect(floats).toBe(0);
    await env.t.nvim.command(`bwipeout! ${scratch}`);
  });

  it('asks before saving, and remembers "always for this project" atomically', async () => {
    const b = await env.t.lua<number>('return vim.api.nvim_get_current_buf()');
    const call = client.callTool({ name: 'save_buffer', arguments: { buffer: b } });
    await env.nextPrompt();
    await env.t.lua('require("rune.approval").focus()');
    await env.t.nvim.input('A');
    expect((await call).isError).toBeFalsy();
    expect(fs.readFileSync(path.join(env.ws, 'main.txt'), 'utf8')).toBe(
      'local a = 1\nlocal b = 2\nlocal c = 3\nprint(a * b * c)\n',
    );
    const state = await env.t.lua<string>('return vim.fn.stdpath("state")');
    const saved = JSON.parse(fs.readFileSync(path.join(state, 'rune', 'approvals.json'), 'utf8'));
    expect(saved[env.ws]).toContain('save_buffer');
    expect(fs.statSync(path.join(state, 'rune', 'approvals.json')).mode & 0o777).toBe(0o600);
    // The second save runs without a prompt.
    expect(
      (await client.callTool({ name: 'save_buffer', arguments: { buffer: b } })).isError,
    ).toBeFalsy();
    expect(await env.t.lua('return require("rune.approval").pending()')).toEqual([]);
  });

  it('writes a new file through review (write_file and diff.apply)', async () => {
    const call = client.callTool({
      name: 'write_file',
      arguments: { path: 'new/hello.txt', content: 'hello\nworld\n' },
    });
    await env.nextPrompt();
    await env.t.lua('require("rune.approval").answer("once")');
    expect((await call).isError).toBeFalsy();
    expect(fs.readFileSync(path.join(env.ws, 'new/hello.txt'), 'utf8')).toBe('hello\nworld\n');
    const patch = [
      '--- a/new/hello.txt',
      '+++ b/new/hello.txt',
      '@@ -1,2 +1,2 @@',
      ' hello',
      '-world',
      '+there',
      '',
    ].join('\n');
    const call2 = client.callTool({
      name: 'diff.apply',
      arguments: { path: 'new/hello.txt', diff: patch },
    });
    await env.nextPrompt();
    await env.t.lua('require("rune.approval").answer("once")');
    expect((await call2).isError).toBeFalsy();
    expect(fs.readFileSync(path.join(env.ws, 'new/hello.txt'), 'utf8')).toBe('hello\nthere\n');
  });

  it('records every call in the audit log and shows it in :RuneMcp', async () => {
    const info = await env.t.lua<{
      recent: { tool: string; result: string }[];
      audit_log: string;
      clients: unknown[];
    }>('return require("rune.host").request("rune.mcp.info")');
    expect(info.recent.map((r) => `${r.tool}:${r.result}`)).toEqual(
      expect.arrayContaining([
        'edit_buffer:ok',
        'edit_buffer:denied',
        'save_buffer:ok',
        'list_buffers:ok',
      ]),
    );
    await waitFor(
      () =>
        fs.existsSync(info.audit_log) &&
        fs.readFileSync(info.audit_log, 'utf8').includes('save_buffer'),
    );
    expect(fs.statSync(info.audit_log).mode & 0o777).toBe(0o600);
    const lines = fs
      .readFileSync(info.audit_log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.tool === 'save_buffer' && l.result === 'cancelled')).toBeDefined();
    expect(lines.find((l) => l.tool === 'save_buffer' && l.result === 'ok')).toMatchObject({
      client: 'test-client 1.0.0',
      result: 'ok',
      args: [expect.stringMatching(/^buffer: \d+$/)],
    });
    expect(info.clients.length).toBeGreaterThan(0);

    await env.t.nvim.command('RuneMcp');
    const text = (
      await env.t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
    ).join('\n');
    expect(text).toContain(env.url);
    expect(text).toContain(
      `claude mcp add --transport http rune ${env.url} --header "Authorization: Bearer ${env.token}"`,
    );
    // Absolute paths: a plugin-manager install has no `rune` on PATH.
    expect(text).toContain(`"command": ${JSON.stringify(process.execPath)}`);
    expect(text).toContain(JSON.stringify(path.join(ROOT, 'dist', 'cli', 'main.js')));
    // zeke runs ZEKE_MCP_COMMAND as one program, and reads it only with a zeke.toml.
    expect(text).toContain(`export ZEKE_MCP_COMMAND=${path.join(ROOT, 'bin', 'rune-mcp')}`);
    expect(text).toContain('zeke.toml');
    expect(text).not.toMatch(/ZEKE_MCP_URL|ZEKE_MCP_TOKEN/);
    expect(text).toMatch(/test-client 1\.0\.0/);
    await env.t.nvim.command('close');
  });
});

describe('MCP workspace confinement', () => {
  it('rejects path traversal', async () => {
    for (const p of ['../outside.txt', 'src/../../etc/passwd', '/etc/passwd']) {
      const r = await client.callTool({ name: 'read_file', arguments: { path: p } });
      expect(r.isError, p).toBe(true);
      expect(textOf(r)).toMatch(/refused|outside|\.\./);
    }
  });

  it('rejects a symlink that escapes the workspace', async () => {
    const outside = fs.mkdtempSync(path.join(path.dirname(env.ws), 'rune-outside-'));
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
    fs.symlinkSync(outside, path.join(env.ws, 'link'));
    try {
      const r = await client.callTool({
        name: 'read_file',
        arguments: { path: 'link/secret.txt' },
      });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/symbolic link/);
      const w = await client.callTool({
        name: 'write_file',
        arguments: { path: 'link/new.txt', content: 'x' },
      });
      expect(w.isError).toBe(true);
      expect(fs.existsSync(path.join(outside, 'new.txt'))).toBe(false);
    } finally {
      fs.rmSync(path.join(env.ws, 'link'));
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('treats Ex syntax in names as text: no command runs', async () => {
    const marker = path.join(env.ws, 'PWNED');
    const evil = `x.txt | call writefile(['x'], '${marker}')`;
    const opened = await client.callTool({ name: 'open_file', arguments: { path: evil } });
    expect(opened.isError).toBeFalsy();
    expect(await env.t.lua('return vim.api.nvim_buf_get_name(0)')).toBe(path.join(env.ws, evil));
    const r2 = await client.callTool({ name: 'open_file', arguments: { path: '%' } });
    expect(await env.t.lua('return vim.api.nvim_buf_get_name(0)')).toBe(path.join(env.ws, '%'));
    expect(r2.isError).toBeFalsy();
    const nl = await client.callTool({
      name: 'open_file',
      arguments: { path: 'a\n:!touch PWNED' },
    });
    expect(nl.isError).toBe(true);
    const s = await client.callTool({
      name: 'search',
      arguments: { query: "') | call system('touch PWNED" },
    });
    expect(s.isError).toBeFalsy();
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.existsSync(path.join(env.ws, 'PWNED'))).toBe(false);
  });
});

describe('MCP resources and prompts', () => {
  it('reads buffers as resources and notifies subscribers of changes', async () => {
    const b = await env.t.lua<number>(
      `vim.cmd.edit(${JSON.stringify(path.join(env.ws, 'src/util.txt'))}) return vim.api.nvim_get_current_buf()`,
    );
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toContain(`nvim://buffer/${b}`);
    expect(resources.map((r) => r.uri)).toContain('nvim://diagnostics');
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((r) => r.uriTemplate)).toContain('nvim://buffer/{id}');
    const read = await client.readResource({ uri: `nvim://buffer/${b}` });
    expect((read.contents[0] as { text: string }).text).toBe('return { answer = 42 }');

    const updates: string[] = [];
    const { ResourceUpdatedNotificationSchema } =
      await import('@modelcontextprotocol/sdk/types.js');
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    await client.subscribeResource({ uri: `nvim://buffer/${b}` });
    await env.t.lua(
      `vim.api.nvim_buf_set_lines(${b}, 0, 1, false, { 'return { answer = 43 }' }); vim.api.nvim_exec_autocmds('TextChanged', { buffer = ${b} })`,
    );
    await waitFor(() => updates.includes(`nvim://buffer/${b}`), 10000, 'a resource update');
  });

  it('offers the prompts', async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(['explain_selection', 'review_diff']);
    await env.t.lua('vim.api.nvim_win_set_cursor(0, {1, 0}); vim.cmd("normal! V\\27")');
    const p = await client.getPrompt({ name: 'explain_selection' });
    expect((p.messages[0]!.content as { text: string }).text).toContain('return { answer = 43 }');
    const d = await client.getPrompt({ name: 'review_diff', arguments: {} });
    expect((d.messages[0]!.content as { text: string }).text).toMatch(
      /git diff failed|no uncommitted|```diff/,
    );
  });
});

describe('MCP server lifecycle', () => {
  it('removes its lock file when the host stops', async () => {
    const server = getMcpServer(env.host);
    expect(server).toBeDefined();
    const info = await env.t.lua<{ lock: string }>(
      'return require("rune.host").request("rune.mcp.info")',
    );
    expect(fs.existsSync(info.lock)).toBe(true);
    // A prompt still open when the host stops is closed with it.
    const pendingCall = client
      .callTool({ name: 'write_file', arguments: { path: 'late.txt', content: 'x' } })
      .catch((e: Error) => e);
    await env.nextPrompt();
    await env.host.shutdown('test').done;
    await waitFor(
      async () =>
        (await env.t.lua<string[]>('return require("rune.approval").pending()')).length === 0,
    );
    expect(fs.existsSync(path.join(env.ws, 'late.txt'))).toBe(false);
    await client.close();
    await pendingCall;
    expect(fs.existsSync(info.lock)).toBe(false);
    expect(fs.existsSync(path.join(zekeDir, `${env.port}.lock`))).toBe(false);
  });
});
