/**
 * The files Rune keeps in its state folder, under faults, with the real host from
 * dist/ spawned by the Lua layer: damaged files found at start are named, moved
 * aside (never lost, never overwritten) and the session goes on.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { textOf } from './mcp-helpers.js';

const NOTES = `_G.notes = {}; vim.notify = function(m) table.insert(_G.notes, m) end\n`;

async function agentOf(t: TestNvim): Promise<Client> {
  const info = await t.lua<{ url: string; token: string }>(
    'return require("rune.host").request("rune.mcp.info")',
  );
  const client = new Client({ name: 'agent', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(info.url), {
      requestInit: { headers: { Authorization: `Bearer ${info.token}` } },
    }),
  );
  return client;
}

/** An agent's write that the user answers with `decision` in Neovim. */
async function approvedWrite(t: TestNvim, agent: Client, file: string, decision: string) {
  const call = agent.callTool({ name: 'write_file', arguments: { path: file, content: 'x' } });
  await waitFor(
    async () => (await t.lua<string[]>('return require("rune.approval").pending()')).length > 0,
    20000,
    'the approval prompt',
  );
  await t.lua('require("rune.approval").answer(...)', [decision]);
  return call;
}

describe('state files (real host)', () => {
  it('names each damaged state file, moves it aside and keeps working', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-nvim-'));
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-ws-')));
    const state = path.join(home, 'state', 'nvim', 'rune');
    fs.mkdirSync(state, { recursive: true });
    const damaged: Record<string, string> = {
      'approvals.json': '{"/some/project": ["write_f',
      'chat-approvals.json': '[1, 2]',
      'chat-approvals-args.json': 'garbage',
      'setup.json': '{ oops',
    };
    for (const [name, text] of Object.entries(damaged)) {
      fs.writeFileSync(path.join(state, name), text);
    }
    const t = await startNvim({
      home,
      setup: `${NOTES}vim.fn.chdir(${JSON.stringify(ws)})\nrequire('rune').setup({})`,
    });
    await t.lua('return require("rune.host").request("rune.status")');
    const notes = () => t.lua<string[]>('return _G.notes');
    for (const name of Object.keys(damaged)) {
      const file = path.join(state, name);
      const note = await waitFor(
        async () => (await notes()).find((n) => n.includes(`${file} is damaged`)),
        20000,
        `a message naming ${name}`,
      );
      expect(note).toContain('Nothing was deleted');
      expect(fs.existsSync(file)).toBe(false);
      const aside = fs.readdirSync(state).filter((n) => n.startsWith(`${name}.damaged-`));
      expect(aside).toHaveLength(1);
      expect(note).toContain(path.join(state, aside[0]!));
      expect(fs.readFileSync(path.join(state, aside[0]!), 'utf8')).toBe(damaged[name]);
    }
    // Each file is named once, and the session goes on: an "always" answer is saved afresh.
    for (const name of Object.keys(damaged)) {
      expect((await notes()).filter((n) => n.includes(`${path.sep}${name} is damaged`))).toHaveLength(1);
    }
    const agent = await agentOf(t);
    const first = await approvedWrite(t, agent, 'a.txt', 'always');
    expect(first.isError, textOf(first)).not.toBe(true);
    const saved = JSON.parse(fs.readFileSync(path.join(state, 'approvals.json'), 'utf8')) as Record<
      string,
      string[]
    >;
    expect(saved[ws]).toContain('write_file');
    // Remembered: the next write runs without a prompt.
    const second = await agent.callTool({
      name: 'write_file',
      arguments: { path: 'b.txt', content: 'y' },
    });
    expect(second.isError, textOf(second)).not.toBe(true);
    expect(fs.readFileSync(path.join(ws, 'b.txt'), 'utf8')).toBe('y\n');
    await agent.close();
    await t.close();
  }, 60000);
});
