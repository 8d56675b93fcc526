/**
 * The MCP hub in `:RuneMcp` and `:checkhealth rune`, in a real headless
 * Neovim with the host core in-process: the servers with state, tools and
 * last error, enabling, disabling and restarting each from the views and as
 * subcommands, and stdio servers run in the bubblewrap sandbox.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessHost } from '../helpers/host.js';
import { startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { hubModule } from '../../src/nvim/hub/index.js';
import { mcpModule } from '../../src/nvim/mcp.js';
import { detectBwrap } from '../../src/sandbox/sandbox.js';

const bwrap = detectBwrap(true);
if (process.env.RUNE_TEST_BWRAP === '1' && !bwrap.usable) {
  throw new Error(
    `RUNE_TEST_BWRAP=1 but bubblewrap is not usable here (${bwrap.reason ?? 'unknown'}); install it: apt-get install -y bubblewrap`,
  );
}

const EVERYTHING = path.resolve(
  import.meta.dirname,
  '../../node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);

interface Server {
  name: string;
  state: string;
  sandboxed: boolean;
  last_error: string | null;
}

let t: TestNvim;
let logLines: string[];
let ws: string;

beforeAll(async () => {
  ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hub-ui-')));
  const config = {
    mcp: {
      servers: {
        local: { command: process.execPath, args: [EVERYTHING, 'stdio'] },
        broken: {
          command: process.execPath,
          args: ['-e', 'console.error("no luck"); process.exit(3)'],
        },
      },
      // Without a usable bwrap, the fallback the user can opt into.
      hub: { sandbox: true, files: [], allow_unsandboxed: !bwrap.usable },
    },
  };
  t = await startNvim({
    setup:
      `_G.notes = {}; vim.notify = function(m) table.insert(_G.notes, m) end\n` +
      `vim.fn.chdir(${JSON.stringify(ws)}); require('rune').setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
  });
  const host = await startInProcessHost(t, [mcpModule, hubModule]);
  logLines = host.logLines;
  await waitFor(
    async () => {
      const s = await servers();
      return (
        s.find((x) => x.name === 'local')?.state === 'connected' &&
        s.find((x) => x.name === 'broken')?.state === 'failed'
      );
    },
    20000,
    'local to connect and broken to fail',
  );
}, 60_000);

afterAll(async () => {
  await t?.close();
  fs.rmSync(ws, { recursive: true, force: true });
});

async function servers(): Promise<Server[]> {
  return (
    await t.lua<{ servers: Server[] }>('return require("rune.host").request("rune.hub.status")')
  ).servers;
}

const bufText = async () =>
  (await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).join('\n');

/** Puts the cursor on the first line of the current buffer matching `re`. */
async function cursorOn(re: RegExp): Promise<void> {
  const lines = await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
  const i = lines.findIndex((l) => re.test(l));
  expect(i, `no line matches ${re} in:\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
  await t.lua('vim.api.nvim_win_set_cursor(0, { ..., 0 })', [i + 1]);
}

/** Waits until the current buffer (a view that redraws itself) matches every pattern. */
async function shows(res: RegExp[]): Promise<string> {
  let text = '';
  await waitFor(
    async () => {
      text = await bufText();
      return res.every((r) => r.test(text));
    },
    20000,
    `the view to show ${res.join(' ')}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${text}`);
  });
  return text;
}

/** Opens a view drawn once (`cmd`) until it matches every pattern; it stays open. */
async function openShowing(cmd: string, res: RegExp[]): Promise<string> {
  let text = '';
  await waitFor(
    async () => {
      await t.nvim.command(cmd);
      text = await bufText();
      if (res.every((r) => r.test(text))) return true;
      await t.nvim.command('close');
      return false;
    },
    20000,
    `${cmd} to show ${res.join(' ')}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${text}`);
  });
  return text;
}

const connects = () => logLines.filter((l) => l.includes('mcp server connected')).length;

describe(':RuneMcp and the MCP hub', () => {
  it(':RuneMcp servers shows state, tools and last error, and its keys disable, enable and restart', async () => {
    await t.nvim.command('RuneMcp servers');
    const sandbox = bwrap.usable ? ' \\(sandboxed\\)' : '';
    // The list redraws itself; the broken server keeps retrying, so wait for it between attempts.
    let text = await shows([
      new RegExp(`● local {2}connected {2}stdio${sandbox} {2}\\d+ tool\\(s\\)`),
      /tools: .*echo/,
      /✗ broken {2}failed {2}stdio/,
      /last error: could not start .*no luck/,
    ]);

    await cursorOn(/ local {2}/);
    await t.nvim.input('d');
    await waitFor(async () => /○ local {2}disabled/.test(await bufText()), 10000, 'disabled');
    expect((await servers()).find((s) => s.name === 'local')!.state).toBe('disabled');

    const before = connects();
    await cursorOn(/ local {2}/);
    await t.nvim.input('e');
    await waitFor(async () => /● local {2}connected/.test(await bufText()), 20000, 'enabled');
    expect(connects()).toBe(before + 1);

    await cursorOn(/ local {2}/);
    await t.nvim.input('r');
    await waitFor(() => connects() === before + 2, 20000, 'the restart to connect');
    await waitFor(async () => /● local {2}connected/.test(await bufText()), 20000, 'redrawn');
    text = await bufText();
    expect(text).not.toMatch(/○ local/);
    await t.nvim.input('q');
  });

  it(':RuneMcp shows the hub section with keys, and takes enable/disable/restart as subcommands', async () => {
    // The view is drawn once; the broken server keeps retrying, so open it until it is
    // drawn between two attempts.
    await openShowing('RuneMcp', [
      /Rune MCP server/,
      /MCP hub servers \(2\)/,
      / {2}● local {2}connected/,
      / {2}✗ broken {2}failed/,
      /last error: could not start/,
    ]);

    await cursorOn(/● local {2}/);
    await t.nvim.input('d');
    await waitFor(async () => /○ local {2}disabled/.test(await bufText()), 10000, 'disabled');
    await t.nvim.command('close');

    await t.nvim.command('RuneMcp enable local');
    await waitFor(
      async () => (await servers()).find((s) => s.name === 'local')?.state === 'connected',
      20000,
      'enabled by subcommand',
    );
    await t.nvim.command('RuneMcp disable broken');
    expect((await servers()).find((s) => s.name === 'broken')!.state).toBe('disabled');
    const before = connects();
    await t.nvim.command('RuneMcp restart local');
    await waitFor(() => connects() === before + 1, 20000, 'restarted by subcommand');

    await t.nvim.command('RuneMcp enable nosuch');
    const notes = await t.lua<string[]>('return _G.notes');
    expect(notes.join('\n')).toMatch(/No MCP server named "nosuch" is configured/);

    expect(await t.lua<string[]>('return vim.fn.getcompletion("RuneMcp ", "cmdline")')).toEqual(
      expect.arrayContaining(['servers', 'enable', 'disable', 'restart', 'approve', 'reset']),
    );
    expect(
      (await t.lua<string[]>('return vim.fn.getcompletion("RuneMcp restart ", "cmdline")')).sort(),
    ).toEqual(['broken', 'local']);
  });

  it(':checkhealth rune says whether the stdio servers run sandboxed', async () => {
    await t.nvim.command('RuneMcp enable broken');
    await t.nvim.command('checkhealth rune');
    const health = await bufText();
    if (bwrap.usable) {
      expect(health).toMatch(/stdio servers run sandboxed \(bwrap at \S+\): (broken, )?local/);
      expect(health).toMatch(/local \(stdio, sandboxed\): connected, \d+ tool\(s\)/);
    } else {
      expect(health).toMatch(/these stdio servers ask for it and run with your rights/);
    }
  });
});
