/**
 * The files Rune keeps in its state folder, under faults, with the real host from
 * dist/ spawned by the Lua layer: the host SIGKILLed while it saves leaves every
 * file whole (the old version or the new one) and no leftovers that trouble the
 * next start; damaged files found at start are named, moved aside (never lost,
 * never overwritten) and the session goes on.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startOllamaServer } from '../helpers/servers/index.js';
import { alive, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { ollamaAt, parserCmds } from './chat-helpers.js';
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

interface Saved {
  id: string;
  messages: { role: string; content: string }[];
}

describe('state files (real host)', () => {
  it('keeps every saved chat whole when the host is SIGKILLed mid-save, at many points', async () => {
    const server = await startOllamaServer();
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-nvim-'));
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-ws-')));
    // Large, frequent saves: ~150 KB of answer, saved every 20 ms while it streams.
    const tokens = Array.from({ length: 2500 }, (_, i) => `token-${i}-${'x'.repeat(50)} `);
    const full = tokens.join('');
    const config = {
      providers: { local: ollamaAt(server.url) },
      chat: { start_insert: false, save_interval_ms: 20 },
      host: { restart_backoff_ms: 60000 },
    };
    const chats = path.join(home, 'state', 'nvim', 'rune', 'chats');
    const files = () =>
      fs.existsSync(chats)
        ? fs
            .readdirSync(chats)
            .flatMap((d) => fs.readdirSync(path.join(chats, d)).map((n) => path.join(chats, d, n)))
        : [];
    /** Every chat file parses and holds a prefix of the answer: an old or a new save. */
    const checkAll = () => {
      for (const f of files().filter((x) => x.endsWith('.json'))) {
        const saved = JSON.parse(fs.readFileSync(f, 'utf8')) as Saved;
        expect(saved.messages[0]?.role).toBe('user');
        expect(full.startsWith(saved.messages[1]?.content ?? '')).toBe(true);
      }
    };
    const before = new Map<string, string>();
    // Kill points: by the size of the answer already on disk.
    for (const [round, size] of [1, 5_000, 40_000, 100_000].entries()) {
      server.enqueue('chat', { text: tokens, chunkDelayMs: 1 });
      const t = await startNvim({
        home,
        setup: `vim.fn.chdir(${JSON.stringify(ws)})\nrequire("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
        preCmds: parserCmds(),
      });
      await t.nvim.command('RuneChat');
      await t.lua('vim.api.nvim_buf_set_lines(0, -2, -1, false, { ... })', [`round ${round}`]);
      await t.lua('require("rune.chat").submit()');
      const status = await t.lua<{ pid: number }>(
        'return require("rune.host").request("rune.status")',
      );
      const mine = () =>
        files().find((f) => f.endsWith('.json') && !before.has(f) && fs.existsSync(f));
      await waitFor(
        () => {
          const f = mine();
          if (!f) return false;
          // Read while it is being saved: never torn.
          const saved = JSON.parse(fs.readFileSync(f, 'utf8')) as Saved;
          return (saved.messages[1]?.content.length ?? 0) >= size;
        },
        30000,
        `${size} characters of the answer on disk`,
      );
      process.kill(status.pid, 'SIGKILL');
      await waitFor(() => !alive(status.pid), 5000, 'the host to die');
      checkAll();
      // The chats of earlier rounds are exactly as they were.
      for (const [f, text] of before) expect(fs.readFileSync(f, 'utf8')).toBe(text);
      const f = mine()!;
      before.set(f, fs.readFileSync(f, 'utf8'));
      // Quit, keeping the home (t.close() would remove it) for the next round.
      const exited = new Promise((resolve) => t.proc.once('exit', resolve));
      void t.nvim.command('qa!').catch(() => undefined);
      await exited;
    }

    // What a save cut short long ago leaves: temporary files beside the chat and the
    // approvals. The next start is not troubled by them and clears them away.
    const state = path.join(home, 'state', 'nvim', 'rune');
    const first = [...before.keys()][0]!;
    const litter = [
      path.join(path.dirname(first), `.${path.basename(first)}.0123456789ab.tmp`),
      path.join(state, '.approvals.json.0123456789ab.tmp'),
    ];
    const old = new Date(Date.now() - 10 * 60_000);
    for (const l of litter) {
      fs.writeFileSync(l, '{"half": ');
      fs.utimesSync(l, old, old);
    }
    const t = await startNvim({
      home,
      setup: `vim.fn.chdir(${JSON.stringify(ws)})\nrequire("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
      preCmds: parserCmds(),
    });
    const listed = await t.lua<{ id: string; messages: number }[]>(
      'return require("rune.host").request("rune.chat.history", ...)',
      [ws],
    );
    expect(listed.map((c) => c.id).sort()).toEqual(
      [...before.keys()].map((f) => path.basename(f, '.json')).sort(),
    );
    expect(fs.existsSync(litter[0]!)).toBe(false);
    const agent = await agentOf(t);
    const r = await approvedWrite(t, agent, 'a.txt', 'always');
    expect(r.isError, textOf(r)).not.toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(state, 'approvals.json'), 'utf8'))).toEqual({
      [ws]: ['write_file'],
    });
    expect(fs.existsSync(litter[1]!)).toBe(false);
    expect(fs.readdirSync(state).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await agent.close();
    await t.close();
    await server.close();
  }, 120000);

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
      expect(
        (await notes()).filter((n) => n.includes(`${path.sep}${name} is damaged`)),
      ).toHaveLength(1);
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

  it('says once that an answer cannot be saved, and keeps it for the session', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-nvim-'));
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-ws-')));
    const state = path.join(home, 'state', 'nvim', 'rune');
    // A folder where the answers file should be: no save can replace it (even as root,
    // which a read-only mode would not stop).
    const blocked = path.join(state, 'approvals.json');
    fs.mkdirSync(blocked, { recursive: true });
    fs.writeFileSync(path.join(blocked, 'keep'), 'mine');
    const t = await startNvim({
      home,
      setup: `${NOTES}vim.fn.chdir(${JSON.stringify(ws)})\nrequire('rune').setup({})`,
    });
    const agent = await agentOf(t);
    const first = await approvedWrite(t, agent, 'a.txt', 'always');
    expect(first.isError, textOf(first)).not.toBe(true);
    const cannot = async () =>
      (await t.lua<string[]>('return _G.notes')).filter((n) => n.includes('cannot be written'));
    const told = await waitFor(async () => (await cannot())[0], 10000, 'the warning');
    expect(told).toContain(`${blocked} cannot be written (`);
    expect(told).toContain('Your answers hold until Rune stops.');
    // Remembered in memory: no more prompts, and no second warning.
    for (const name of ['b.txt', 'c.txt']) {
      const r = await agent.callTool({
        name: 'write_file',
        arguments: { path: name, content: 'y' },
      });
      expect(r.isError, textOf(r)).not.toBe(true);
    }
    expect(await cannot()).toHaveLength(1);
    // Nothing half-written: the folder is as it was, and no temporary file is left.
    expect(fs.readdirSync(blocked)).toEqual(['keep']);
    expect(fs.readdirSync(state).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await agent.close();
    await t.close();
  }, 60000);
});
