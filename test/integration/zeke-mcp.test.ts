/**
 * zeke's MCP client on Rune: a client that behaves exactly like zeke's client.zig spawns
 * the committed launcher bin/rune-mcp (the built dist/cli/main.js `mcp`) as
 * ZEKE_MCP_COMMAND, against a real headless Neovim with Rune's MCP server.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/nvim.js';
import { ZekeMcpClient } from '../helpers/zeke-mcp-client.js';
import { startMcpEnv, type McpEnv } from './mcp-helpers.js';

const RUNE_MCP = path.join(ROOT, 'bin', 'rune-mcp');
const BIG = Array.from({ length: 5000 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';

let env: McpEnv;
let zeke: ZekeMcpClient;

/** zeke's environment: the user's, without $NVIM (zeke runs in a shell in the project). */
function zekeEnv(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...env.t.env, ZEKE_MCP_COMMAND: RUNE_MCP };
  delete e.NVIM;
  return e;
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: build with `npm run build` first');
  }
  env = await startMcpEnv('{}', { 'big.txt': BIG, 'notes.txt': 'alpha\nbeta\n' });
  zeke = await ZekeMcpClient.start(RUNE_MCP, { env: zekeEnv(), cwd: env.ws });
});

afterAll(async () => {
  await zeke?.close();
  await env?.t.close();
});

describe("zeke's MCP client on rune-mcp", () => {
  it('is one executable path, as ZEKE_MCP_COMMAND needs ("rune mcp" is no program)', async () => {
    expect(fs.statSync(RUNE_MCP).mode & 0o111).not.toBe(0);
    await expect(ZekeMcpClient.start('rune mcp', { env: zekeEnv() })).rejects.toThrow(/ENOENT/);
  });

  it('answers ping and reads a 5000-line file whole, one line per reply', async () => {
    expect(await zeke.checkHealth()).toBe(true);
    const read = await zeke.readFile('big.txt');
    expect(read.isError).toBe(false);
    // zeke stringifies the result: the file's text as one JSON string, all 5000 lines.
    expect(JSON.parse(read.content)).toBe(BIG);
    const list = await zeke.listDirectory('.');
    expect(list.isError).toBe(false);
    expect(JSON.parse(JSON.parse(list.content) as string)).toMatchObject({
      entries: expect.arrayContaining([{ name: 'notes.txt', type: 'file' }]),
    });
  });

  it('writes, diffs and patches files with approval in Neovim', async () => {
    const write = zeke.writeFile('new.txt', 'one\ntwo\nthree\n');
    await env.nextPrompt();
    await env.t.lua('require("rune.approval").answer("once")');
    expect((await write).isError).toBe(false);
    expect(fs.readFileSync(path.join(env.ws, 'new.txt'), 'utf8')).toBe('one\ntwo\nthree\n');

    const gen = await zeke.generateDiff('one\ntwo\nthree\n', 'one\n2\nthree\n');
    expect(gen.isError).toBe(false);
    const diff = JSON.parse(gen.content) as string;
    expect(diff).toBe('--- a\n+++ b\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n');

    const apply = zeke.applyDiff('new.txt', diff);
    await env.nextPrompt();
    await env.t.lua('require("rune.approval").answer("once")');
    expect((await apply).isError).toBe(false);
    expect(fs.readFileSync(path.join(env.ws, 'new.txt'), 'utf8')).toBe('one\n2\nthree\n');
  });

  it('answers a refused path and a refused write with JSON-RPC errors', async () => {
    const outside = await zeke.readFile('../outside.txt');
    expect(outside.isError).toBe(true);
    expect(outside.content).toMatch(/outside|refused|\.\./);

    const write = zeke.writeFile('notes.txt', 'changed\n');
    await env.nextPrompt();
    await env.t.lua('require("rune.approval").answer("deny")');
    const denied = await write;
    expect(denied.isError).toBe(true);
    expect(fs.readFileSync(path.join(env.ws, 'notes.txt'), 'utf8')).toBe('alpha\nbeta\n');
    // The connection is still in step: the next call gets its own reply.
    expect(await zeke.checkHealth()).toBe(true);
  });
});
