/**
 * The pictures in the README, taken from the built plugin as a person sees it:
 * a real Neovim in a terminal (tmux), Rune loaded from this checkout's dist/,
 * a wire-format Ollama on 127.0.0.1 as the model. Each scene types keys, waits
 * for what it shows, captures the screen with `tmux capture-pane -e -p` and
 * renders it to SVG (test/helpers/ansi-svg.ts).
 *
 * `npm run screenshots` writes the images to doc/screenshots/; run by `npm test`
 * (into a temporary folder) it proves they can still be made and show what the
 * README says.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { nvimBin, parserCmds, ROOT, waitFor, xdgEnv } from '../helpers/nvim.js';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/ollama.js';
import { ansiToSvg, svgText } from '../helpers/ansi-svg.js';
import { installCopy } from '../helpers/e2e.js';

const COLS = 110;
const ROWS = 30;
const SOCKET = `rune-shots-${process.pid}`;
const OUT = process.env.RUNE_SCREENSHOTS_WRITE
  ? path.join(ROOT, 'doc', 'screenshots')
  : fs.mkdtempSync(path.join(os.tmpdir(), 'rune-shots-out-'));

const tmux = (...args: string[]) =>
  execFileSync('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args], { encoding: 'utf8' });

let server: OllamaServer;
const homes: string[] = [];

beforeAll(async () => {
  try {
    execFileSync('tmux', ['-V']);
  } catch {
    throw new Error('the screenshots need tmux: run scripts/setup.sh (or apt install tmux)');
  }
  server = await startOllamaServer();
  fs.mkdirSync(OUT, { recursive: true });
});

afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // no session left
  }
  await server?.close();
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
  if (!process.env.RUNE_SCREENSHOTS_WRITE) fs.rmSync(OUT, { recursive: true, force: true });
});

interface Scene {
  name: string;
  home: string;
  ws: string;
  /** The screen as text. */
  screen(): string;
  /** Waits until the screen shows `text`. */
  shows(text: string): Promise<string>;
  keys(...keys: string[]): void;
  type(text: string): void;
  /** Captures the screen to <OUT>/<name>.svg and returns the text the image shows. */
  shoot(title: string): string[];
}

/** Opens `file` in a fresh Neovim with Rune inside a tmux window of COLS x ROWS. */
function scene(name: string, files: Record<string, string>, file: string): Scene {
  const home = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-shots-')));
  homes.push(home);
  const ws = path.join(home, 'project');
  fs.mkdirSync(ws);
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(ws, f), text);
  const config = { providers: { ollama: { url: server.url, retry: { max_attempts: 1 } } } };
  // Installed as a plugin manager would, so the pictures show a user's paths.
  const plugin = installCopy(path.join(home, 'data', 'nvim', 'lazy', 'rune.nvim'));
  const init = [
    `vim.opt.rtp:prepend(${JSON.stringify(plugin)})`,
    ...parserCmds().map((c) => `vim.cmd(${JSON.stringify(c)})`),
    `vim.o.termguicolors = true`,
    `vim.o.number = true`,
    `vim.o.swapfile = false`,
    `require('rune').setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
  ].join('\n');
  fs.writeFileSync(path.join(home, 'init.lua'), init);
  const env = { HOME: home, ...xdgEnv(home), TERM: 'tmux-256color', COLORTERM: 'truecolor' };
  const run = path.join(home, 'run.sh');
  fs.writeFileSync(
    run,
    [
      '#!/bin/sh',
      ...Object.entries(env).map(([k, v]) => `export ${k}='${v}'`),
      `cd '${ws}'`,
      `exec '${nvimBin()}' -n -i NONE -u '${path.join(home, 'init.lua')}' '${file}'`,
    ].join('\n'),
    { mode: 0o755 },
  );
  tmux('new-session', '-d', '-s', name, '-x', String(COLS), '-y', String(ROWS), run);
  const s: Scene = {
    name,
    home,
    ws,
    screen: () => tmux('capture-pane', '-p', '-t', name),
    shows: async (text) =>
      (await waitFor(
        () => (s.screen().includes(text) ? s.screen() : undefined),
        30000,
        `"${text}" on the ${name} screen`,
      ).catch((err: Error) => {
        err.message += `\nscreen:\n${s.screen()}`;
        throw err;
      }))!,
    keys: (...keys) => void tmux('send-keys', '-t', name, ...keys),
    type: (text) => void tmux('send-keys', '-t', name, '-l', text),
    shoot: (title) => {
      const svg = ansiToSvg(tmux('capture-pane', '-e', '-p', '-t', name), COLS, title);
      fs.writeFileSync(path.join(OUT, `${name}.svg`), svg);
      tmux('kill-session', '-t', name);
      return svgText(svg);
    },
  };
  return s;
}

const PY = `def mean(values):
    """The arithmetic mean of a list of numbers."""
    return sum(values) / len(values)


print(mean([1, 2, 3]))
`;

describe('screenshots', () => {
  it('chat: a streamed answer about the current buffer', async () => {
    server.enqueue('chat', {
      text: [
        '`mean()` divides by `len(values)`, so an **empty list** raises ',
        '`ZeroDivisionError`.\n\nGuard it:\n\n```python\n',
        'def mean(values):\n    if not values:\n        return 0.0\n',
        '    return sum(values) / len(values)\n```\n',
      ],
      usage: { input: 86, output: 41 },
    });
    const s = scene('chat', { 'stats.py': PY }, 'stats.py');
    await s.shows('def mean(values)');
    s.keys(':RuneChat', 'Enter');
    await s.shows('## You');
    s.type('What happens with an empty list? #buffer');
    s.keys('C-s');
    await s.shows('return 0.0');
    await s.shows(' out · ');
    const text = s.shoot('Rune chat: a streamed answer about the current buffer').join('\n');
    expect(text).toContain('What happens with an empty list? #buffer');
    expect(text).toContain('ZeroDivisionError');
  });

  it('ghost text: an inline completion at the cursor', async () => {
    const wanted = 'printf("hello, %s\\n", name);';
    server.script('generate', (req) => {
      const prompt = (req.body as { prompt: string }).prompt;
      let k = wanted.length;
      while (k > 0 && !prompt.endsWith(wanted.slice(0, k))) k--;
      return { text: wanted.slice(k) };
    });
    const s = scene(
      'ghost',
      { 'hello.c': '#include <stdio.h>\n\nvoid greet(const char *name) {\n  \n}\n' },
      'hello.c',
    );
    await s.shows('void greet');
    s.keys('4G', 'A');
    s.type('pr');
    await s.shows(wanted.slice(2));
    const text = s.shoot('Rune ghost text: an inline completion at the cursor').join('\n');
    expect(text).toContain(`pr${wanted.slice(2)}`);
  });

  it('approval: an agent edit waits for the user, shown as a diff', async () => {
    const s = scene(
      'approval',
      { 'notes.md': '# Notes\n\n- alpha\n- beta\n- gamma\n' },
      'notes.md',
    );
    await s.shows('# Notes');
    s.keys(':RuneStatus', 'Enter');
    await s.shows('Press ENTER');
    s.keys('Enter');
    const dir = path.join(s.home, 'state', 'nvim', 'rune', 'mcp');
    const lock = (await waitFor(
      () => {
        const f = fs.existsSync(dir) && fs.readdirSync(dir).find((n) => n.endsWith('.lock'));
        return f
          ? (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as {
              url: string;
              token: string;
            })
          : undefined;
      },
      30000,
      'the MCP lock file',
    ))!;
    const client = new Client({ name: 'claude-code', version: '2.1.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(lock.url), {
        requestInit: { headers: { Authorization: `Bearer ${lock.token}` } },
      }),
    );
    await client.callTool({ name: 'open_file', arguments: { path: 'notes.md' } });
    // Answered (denied) only when the picture is taken and the client goes away.
    const call = client
      .callTool({
        name: 'edit_buffer',
        arguments: { replacements: [{ search: '- beta', replace: '- beta (done)' }] },
      })
      .catch((err: Error) => err);
    // The prompt does not take the focus: the user is told, and goes there.
    await s.shows('asks to edit');
    s.keys('Enter', ':RuneMcp approve', 'Enter');
    await s.shows('wants to edit');
    const text = s.shoot('Rune approval: an agent edit shown as a diff').join('\n');
    expect(text).toContain('claude-code 2.1.0 wants to edit');
    expect(text).toContain('- beta (done)');
    await client.close();
    await call;
  });

  it(':RuneMcp: the address, clients and setup lines', async () => {
    const s = scene('mcp', { 'README.md': '# project\n' }, 'README.md');
    await s.shows('# project');
    s.keys(':RuneMcp', 'Enter');
    await s.shows('Setup (yank what you need)');
    s.keys(':only', 'Enter');
    await s.shows('mcpServers');
    const text = s.shoot('Rune :RuneMcp: the MCP server address and setup lines').join('\n');
    expect(text).toContain('Rune MCP server');
    expect(text).toContain('mcpServers');
  });
});
