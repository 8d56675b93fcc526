/**
 * MCP servers starting show progress that updates in place, as a user sees it: the
 * built host, spawned by the Lua layer, starts three stdio servers from `mcp.servers`
 * (one quick, two that start slowly: test/fixtures/mcp/slow-start.mjs waits for a gate
 * file before it reads the client's initialize). Neovim shows one progress, key
 * `hub.start` (0.12: one progress message by id; 0.10: one echo line, only the final
 * state kept in :messages), and cancelling it stops the servers still starting, which
 * then show as cancelled in :RuneMcp.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, startRune } from '../helpers/e2e.js';
import { progressSeen, recordProgress, type ProgressSeen } from '../helpers/progress.js';

const WRITER = path.join(ROOT, 'test', 'mcp', 'hub-write-server.mjs');
const SLOW = path.join(ROOT, 'test', 'fixtures', 'mcp', 'slow-start.mjs');

type Status = { servers: { name: string; state: string }[] };

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function setup(): Promise<{ t: TestNvim; ws: string; gate: string; v012: boolean }> {
  const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-hubstart-')));
  dirs.push(ws);
  const gate = path.join(ws, 'gate');
  const slow = (name: string) => ({ command: process.execPath, args: [SLOW, name, gate, ws] });
  const t = await startRune({
    cwd: ws,
    config: {
      mcp: {
        servers: {
          quick: { command: process.execPath, args: [WRITER] },
          slow1: slow('slow1'),
          slow2: slow('slow2'),
        },
      },
    },
  });
  // Every update the host sends, and (0.12) every Progress event Neovim emits.
  const v012 = await recordProgress(t);
  // The host starts on first use; the hub starts its servers in the background.
  await t.lua('return require("rune.host").request("rune.hub.status")');
  return { t, ws, gate, v012 };
}

const seen = progressSeen;
const status = (t: TestNvim) => t.lua<Status>('return require("rune.hub").status()');
async function until(
  t: TestNvim,
  pred: (s: ProgressSeen) => boolean,
  what: string,
): Promise<ProgressSeen> {
  try {
    return (await waitFor(async () => (await seen(t)).find(pred), 30000, what))!;
  } catch (err) {
    (err as Error).message += `\nupdates seen: ${JSON.stringify(await seen(t), null, 1)}`;
    throw err;
  }
}
const WAITING = 'starting 3 MCP servers: 1/3, waiting for slow1, slow2';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('MCP servers starting (built host)', () => {
  it('shows one progress that counts the servers as they start, then says all started', async () => {
    const { t, gate, v012 } = await setup();
    await explained(t, async () => {
      await until(t, (s) => s.text === WAITING, 'the quick server counted, the slow ones awaited');
      fs.writeFileSync(gate, '');
      const done = await until(t, (s) => s.status !== 'running', 'the final update');
      expect(done).toMatchObject({ key: 'hub.start', status: 'success', text: '3/3 started' });
      const all = await seen(t);
      expect(new Set(all.map((s) => s.key))).toEqual(new Set(['hub.start']));
      expect(all.filter((s) => s.status === 'running').map((s) => s.percent)).toContain(33);
      if (v012) {
        const ev = await t.lua<{ id: string; status: string }[]>('return _G.events');
        expect(new Set(ev.map((e) => e.id))).toEqual(new Set(['rune.hub.start']));
        expect(ev.at(-1)!.status).toBe('success');
      }
      // Updated in place: the running lines are not kept in :messages.
      const messages = String(await t.nvim.commandOutput('messages'));
      expect(messages).not.toContain('waiting for');
      expect((await status(t)).servers.map((s) => s.state)).toEqual([
        'connected',
        'connected',
        'connected',
      ]);
    });
    await t.close();
  });

  it(':RuneMcp cancel stops the servers still starting; they show as cancelled', async () => {
    const { t, ws } = await setup();
    await explained(t, async () => {
      await until(t, (s) => s.text === WAITING, 'the slow servers awaited');
      // Started; each writes its pid once Node has loaded it (later on a busy machine).
      const pidFile = (n: string) => path.join(ws, `${n}.pid`);
      await waitFor(
        () =>
          ['slow1', 'slow2'].every(
            (n) => fs.existsSync(pidFile(n)) && fs.readFileSync(pidFile(n), 'utf8') !== '',
          ),
        10000,
        'the slow servers’ pid files',
      );
      const pids = ['slow1', 'slow2'].map((n) => Number(fs.readFileSync(pidFile(n), 'utf8')));
      expect(pids.every(alive)).toBe(true);
      await t.nvim.command('RuneMcp cancel');
      const done = await until(t, (s) => s.status !== 'running', 'the final update');
      expect(done).toMatchObject({
        key: 'hub.start',
        status: 'cancel',
        text: 'cancelled slow1, slow2 (1/3 started; :RuneMcp restart {name} starts one)',
      });
      const states = Object.fromEntries((await status(t)).servers.map((s) => [s.name, s.state]));
      expect(states).toEqual({ quick: 'connected', slow1: 'cancelled', slow2: 'cancelled' });
      await waitFor(() => !pids.some(alive), 10000, 'the slow servers’ processes gone');
      await t.nvim.command('RuneMcp');
      const lines = await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
      expect(lines.filter((l) => /slow\d {2}cancelled/.test(l))).toHaveLength(2);
      // Nothing is starting any more: cancelling again says so.
      await t.nvim.command('RuneMcp cancel');
      await waitFor(
        async () => {
          const msg = String(await t.nvim.commandOutput('messages'));
          return (
            msg.includes('(rune) cancelled the start of slow1, slow2') &&
            msg.includes('(rune) no MCP server is starting')
          );
        },
        10000,
        'what each :RuneMcp cancel said',
      );
    });
    await t.close();
  });

  it("cancels when Neovim's progress message is cancelled (0.12 Progress event)", async () => {
    const { t, v012 } = await setup();
    if (!v012) {
      // 0.10 has no progress messages to cancel: :RuneMcp cancel is the way there.
      expect(await t.lua<number>("return vim.fn.exists('##Progress')")).toBe(0);
      await t.close();
      return;
    }
    await explained(t, async () => {
      await until(t, (s) => s.text === WAITING, 'the slow servers awaited');
      await t.lua(
        "vim.api.nvim_echo({ { 'cancel' } }, false, { id = 'rune.hub.start', kind = 'progress', source = 'rune', status = 'cancel', data = { rune = 'hub.start' } })",
      );
      await until(t, (s) => s.status === 'cancel', 'the cancelled update');
      const states = Object.fromEntries((await status(t)).servers.map((s) => [s.name, s.state]));
      expect(states).toEqual({ quick: 'connected', slow1: 'cancelled', slow2: 'cancelled' });
    });
    await t.close();
  });
});
