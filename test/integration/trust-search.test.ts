/**
 * Attack test for `search`: a pathological regular expression from an agent,
 * against the BUILT host (dist/) spawned by the Lua layer in a real headless
 * Neovim, over the official SDK client. The search is stopped with a clear
 * timeout error, and the host answers other calls while it runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startBuiltMcpEnv, textOf, type BuiltMcpEnv } from './mcp-helpers.js';

let env: BuiltMcpEnv;
let client: Client;

beforeAll(async () => {
  env = await startBuiltMcpEnv('{}', {
    // 32 characters: seconds of backtracking for ^(a+)+$, doubling with each extra one.
    'evil.txt': `${'a'.repeat(31)}!\n`,
    'notes.txt': 'still here\n',
  });
  client = await env.connect('regex-agent');
});

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await env?.t.close();
});

describe('search with a pathological regular expression', () => {
  it('stops it with a timeout error while other calls are answered', async () => {
    let searching = true;
    const search = client
      .callTool({ name: 'search', arguments: { query: '^(a+)+$', regex: true } })
      .finally(() => (searching = false));
    // Another agent call while the regex runs: answered, the search still going.
    const read = await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } });
    expect(textOf(read)).toBe('still here');
    expect(searching).toBe(true);
    const r = await search;
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(
      /search was stopped after \d+ s: the regular expression takes too long/,
    );
    // Ordinary searches still work, in both scopes.
    const ok = await client.callTool({
      name: 'search',
      arguments: { query: 'still', regex: true },
    });
    expect(JSON.parse(textOf(ok)).matches).toMatchObject([{ line: 1, text: 'still here' }]);
    await env.t.lua(`vim.cmd.edit('notes.txt')`);
    const buf = await client.callTool({
      name: 'search',
      arguments: { query: 'STILL', scope: 'buffers' },
    });
    expect(JSON.parse(textOf(buf)).matches).toMatchObject([{ line: 1, text: 'still here' }]);
  });
});
