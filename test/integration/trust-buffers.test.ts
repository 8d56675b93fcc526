/**
 * Attack test for stray buffers, against the BUILT host (dist/) spawned by the
 * Lua layer in a real headless Neovim, over the official SDK client: the
 * read-only tools read files without leaving buffers behind, a file that does
 * not exist creates nothing, and resources/list does not fill up.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startBuiltMcpEnv, textOf, type BuiltMcpEnv } from './mcp-helpers.js';

let env: BuiltMcpEnv;
let client: Client;

const FILES: Record<string, string> = {};
for (let i = 0; i < 12; i++) FILES[`src/f${i}.txt`] = `file ${i}\n`;

beforeAll(async () => {
  env = await startBuiltMcpEnv('{}', { ...FILES, 'mine.txt': 'the user edits this\n' });
  client = await env.connect('reader');
});

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await env?.t.close();
});

const allBuffers = () =>
  env.t.lua<{ name: string; listed: boolean }[]>(
    'return vim.tbl_map(function(b) return { name = vim.api.nvim_buf_get_name(b), listed = vim.bo[b].buflisted } end, vim.api.nvim_list_bufs())',
  );

describe('read-only tools leave no buffers behind', () => {
  it('reads files through read_buffer, get_diagnostics and lsp_* without new buffers', async () => {
    await env.t.lua(
      `vim.cmd.edit('mine.txt') vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'unsaved' })`,
    );
    const before = await allBuffers();
    const resourcesBefore = (await client.listResources()).resources.length;
    for (const name of Object.keys(FILES)) {
      const r = await client.callTool({ name: 'read_buffer', arguments: { buffer: name } });
      expect(textOf(r)).toBe(FILES[name]!.trimEnd());
      for (const [tool, extra] of [
        ['get_diagnostics', {}],
        ['lsp_symbols', {}],
        ['lsp_definition', { line: 0, character: 0 }],
      ] as const) {
        const t = await client.callTool({ name: tool, arguments: { buffer: name, ...extra } });
        expect(t.isError, `${tool} ${name}`).toBeFalsy();
      }
    }
    for (const missing of ['nope.txt', 'src/none.txt', 'new/dir/x.txt']) {
      for (const tool of ['read_buffer', 'get_diagnostics', 'lsp_symbols']) {
        const r = await client.callTool({ name: tool, arguments: { buffer: missing } });
        expect(r.isError, `${tool} ${missing}`).toBe(true);
        expect(textOf(r)).toMatch(/does not exist/);
      }
    }
    // The user's own buffer is read as it is in the editor, unsaved text included, and stays.
    const mine = await client.callTool({ name: 'read_buffer', arguments: { buffer: 'mine.txt' } });
    expect(textOf(mine)).toBe('unsaved');
    expect(await allBuffers()).toEqual(before);
    expect(before.find((b) => b.name === path.join(env.ws, 'mine.txt'))?.listed).toBe(true);
    expect((await client.listResources()).resources.length).toBe(resourcesBefore);
  });
});
