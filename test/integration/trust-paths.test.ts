/**
 * Attack tests for the path boundary, against the BUILT host (dist/) spawned
 * by the Lua layer in a real headless Neovim, with the official SDK client
 * over HTTP: symbolic links out of the workspace (dangling or not), buffers
 * addressed by number, and validation before any prompt is shown.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startBuiltMcpEnv, textOf, type BuiltMcpEnv } from './mcp-helpers.js';

let env: BuiltMcpEnv;
let client: Client;
let outside: string;

beforeAll(async () => {
  env = await startBuiltMcpEnv('{}', { 'sub/real.txt': 'inside\n', 'main.txt': 'one\n' });
  outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-outside-')));
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret\n');
  // A dangling link whose target does not exist yet, and one to an existing file.
  fs.symlinkSync(path.join(outside, 'new.txt'), path.join(env.ws, 'dl'));
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(env.ws, 'sl'));
  // A dangling link to a directory outside, used as a parent component.
  fs.symlinkSync(path.join(outside, 'newdir'), path.join(env.ws, 'dd'));
  // A link that stays inside the workspace.
  fs.symlinkSync(path.join(env.ws, 'sub', 'real.txt'), path.join(env.ws, 'inner'));
  client = await env.connect('path-attacker');
});

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await env?.t.close();
  fs.rmSync(outside, { recursive: true, force: true });
});

/** Calls a tool and fails when an approval prompt appears before the answer. */
async function callWithoutPrompt(name: string, args: Record<string, unknown>) {
  let done = false;
  const call = client.callTool({ name, arguments: args }).finally(() => (done = true));
  const prompted = (async () => {
    while (!done) {
      if ((await env.pending()).length > 0) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  })();
  const [result, asked] = await Promise.all([
    call,
    prompted.then(async (p) => {
      if (p) await env.t.lua('require("rune.approval").answer("deny", {})');
      return p;
    }),
  ]);
  if (asked) throw new Error(`${name} asked the user before refusing`);
  return result;
}

function floatLines(): Promise<string[]> {
  return env.t.lua<string[]>(`
    for _, w in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_win_get_config(w).relative ~= '' then
        return vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(w), 0, -1, false)
      end
    end
    return {}`);
}

describe('paths: symbolic links out of the workspace', () => {
  it('refuses write_file, apply_diff and fs.write through a dangling link, without asking', async () => {
    for (const [name, args] of [
      ['write_file', { path: 'dl', content: 'pwned\n' }],
      ['fs.write', { path: 'dl', content: 'pwned\n' }],
      ['apply_diff', { path: 'dl', diff: '--- a/dl\n+++ b/dl\n@@ -0,0 +1 @@\n+pwned\n' }],
      ['write_file', { path: 'dd/new.txt', content: 'pwned\n' }],
    ] as const) {
      const r = await callWithoutPrompt(name, args);
      expect(r.isError, `${name} ${JSON.stringify(args)}`).toBe(true);
      expect(textOf(r)).toMatch(/symbolic link.*outside the workspace/);
    }
    expect(fs.existsSync(path.join(outside, 'new.txt'))).toBe(false);
    expect(fs.existsSync(path.join(outside, 'newdir'))).toBe(false);
  });

  it('refuses edit_buffer then save_buffer through a dangling link', async () => {
    const e = await callWithoutPrompt('edit_buffer', {
      buffer: 'dl',
      replacements: [{ search: 'x', replace: 'y' }],
    });
    expect(e.isError).toBe(true);
    expect(textOf(e)).toMatch(/symbolic link/);
    const s = await callWithoutPrompt('save_buffer', { buffer: 'dl' });
    expect(s.isError).toBe(true);
    expect(fs.existsSync(path.join(outside, 'new.txt'))).toBe(false);
  });

  it('refuses the read-only tools and open_file through links out, dangling or not', async () => {
    for (const p of ['dl', 'sl']) {
      for (const [name, args] of [
        ['read_buffer', { buffer: p }],
        ['get_diagnostics', { buffer: p }],
        ['lsp_symbols', { buffer: p }],
        ['lsp_definition', { buffer: p, line: 0, character: 0 }],
        ['open_file', { path: p }],
        ['read_file', { path: p }],
      ] as const) {
        const r = await callWithoutPrompt(name, args);
        expect(r.isError, `${name} ${p}`).toBe(true);
        expect(textOf(r), `${name} ${p}`).toMatch(/symbolic link/);
      }
    }
    // No buffer was made for the refused paths.
    const names = await env.t.lua<string[]>(
      'return vim.tbl_map(vim.api.nvim_buf_get_name, vim.api.nvim_list_bufs())',
    );
    expect(names.filter((n) => n.endsWith('/dl') || n.endsWith('/sl'))).toEqual([]);
  });

  it('shows the resolved absolute target in the approval prompt', async () => {
    const call = client.callTool({
      name: 'write_file',
      arguments: { path: 'inner', content: 'changed\n' },
    });
    await env.nextPrompt();
    const lines = await floatLines();
    expect(lines[0]).toContain('path-attacker');
    expect(lines.join('\n')).toContain(path.join(env.ws, 'sub', 'real.txt'));
    await env.t.lua('require("rune.approval").answer("deny", {})');
    expect((await call).isError).toBe(true);
    expect(fs.readFileSync(path.join(env.ws, 'sub', 'real.txt'), 'utf8')).toBe('inside\n');
    const save = client.callTool({ name: 'save_buffer', arguments: { buffer: 'inner' } });
    await env.nextPrompt();
    expect(await floatLines()).toContain(`target: ${path.join(env.ws, 'sub', 'real.txt')}`);
    await env.t.lua('require("rune.approval").answer("deny", {})');
    expect((await save).isError).toBe(true);
  });
});

describe('paths: buffers addressed by number', () => {
  it('refuses a numbered buffer whose file is outside the workspace', async () => {
    const id = await env.t.lua<number>('local b = vim.fn.bufadd(...) vim.fn.bufload(b) return b', [
      path.join(outside, 'secret.txt'),
    ]);
    for (const [name, args] of [
      ['read_buffer', { buffer: id }],
      ['get_diagnostics', { buffer: id }],
      ['lsp_symbols', { buffer: id }],
      ['edit_buffer', { buffer: id, replacements: [{ search: 'secret', replace: 'x' }] }],
      ['save_buffer', { buffer: id }],
    ] as const) {
      const r = await callWithoutPrompt(name, args);
      expect(r.isError, name).toBe(true);
      expect(textOf(r), name).toMatch(/outside the workspace/);
      expect(textOf(r), name).not.toContain('secret\n');
    }
  });

  it('keeps buffers and diagnostics outside the workspace out of resources', async () => {
    const secret = path.join(outside, 'secret.txt');
    const id = await env.t.lua<number>(
      `local b = vim.fn.bufadd(...) vim.fn.bufload(b) vim.bo[b].buflisted = true
       local ns = vim.api.nvim_create_namespace('attack')
       vim.diagnostic.set(ns, b, { { lnum = 0, col = 0, message = 'outside diag' } })
       return b`,
      [secret],
    );
    const list = (await client.listResources()).resources.map((r) => r.uri);
    expect(list).not.toContain(`nvim://buffer/${id}`);
    await expect(client.readResource({ uri: `nvim://buffer/${id}` })).rejects.toThrow(
      /outside the workspace/,
    );
    const diags = await client.readResource({ uri: 'nvim://diagnostics' });
    expect(JSON.stringify(diags)).not.toContain('outside diag');
    const tool = await client.callTool({ name: 'get_diagnostics', arguments: {} });
    expect(textOf(tool)).not.toContain('outside diag');
  });

  it('refuses save_buffer of /etc/passwd without asking', async () => {
    const id = await env.t.lua<number>('return vim.fn.bufadd("/etc/passwd")');
    const r = await callWithoutPrompt('save_buffer', { buffer: id });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/\/etc\/passwd.*outside the workspace/);
  });

  it('refuses a numbered buffer named after a dangling link out', async () => {
    const id = await env.t.lua<number>('return vim.fn.bufadd(...)', [path.join(env.ws, 'dl')]);
    const r = await callWithoutPrompt('save_buffer', { buffer: id });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/symbolic link/);
    expect(fs.existsSync(path.join(outside, 'new.txt'))).toBe(false);
  });
});
