/**
 * The MCP hub's sandbox attacked the way a user would meet it: the host that
 * Lua spawned from dist/ in a real Neovim starts a stdio server in the
 * sandbox (`mcp.hub.sandbox`) with the network kept, and the server tries to
 * reach an abstract Unix socket and a socket by path that the test listens
 * on; its TCP to loopback must still work. Where bubblewrap is unusable, a
 * server that asks for the sandbox must not run with the user's rights unless
 * the user allowed it (`mcp.hub.allow_unsandboxed`), and :RuneMcp and
 * :checkhealth say which it is.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { detectBwrap, unixSocketFilter } from '../../src/sandbox/sandbox.js';

const PROBER = path.join(ROOT, 'test', 'mcp', 'hub-probe-server.mjs');

const bwrap = detectBwrap(true);
if (process.env.RUNE_TEST_BWRAP === '1' && !bwrap.usable) {
  throw new Error(
    `RUNE_TEST_BWRAP=1 but bubblewrap is not usable here (${bwrap.reason ?? 'unknown'}); install it: apt-get install -y bubblewrap`,
  );
}

const cleanup: (() => void)[] = [];
afterAll(() => cleanup.splice(0).forEach((fn) => fn()));

interface Server {
  name: string;
  state: string;
  sandboxed: boolean;
  last_error: string | null;
}

/** A listening socket that counts the connections it accepts. */
async function listener(at: string | number): Promise<{ accepted: () => number; port: number }> {
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof at === 'number') server.listen(at, '127.0.0.1', resolve);
    else server.listen(at, resolve);
  });
  cleanup.push(() => server.close());
  const addr = server.address();
  return { accepted: () => accepted, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

function scratch(prefix: string, under = os.tmpdir()): string {
  fs.mkdirSync(under, { recursive: true });
  const d = fs.realpathSync(fs.mkdtempSync(path.join(under, prefix)));
  cleanup.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A Neovim in `ws` whose setup() runs the prober as a hub stdio server in the sandbox. */
async function withProber(
  ws: string,
  opts: { env?: Record<string, string>; hub?: Record<string, unknown>; marker?: string } = {},
): Promise<TestNvim> {
  // The marker says that the server's own code ran.
  // The prober's path is an argument of its own, so that the sandbox shows it again
  // where it masks its folder (a checkout under /tmp).
  const args = opts.marker
    ? [
        '-e',
        `require('fs').writeFileSync(${JSON.stringify(opts.marker)}, 'ran'); import(require('url').pathToFileURL(process.argv[1]).href)`,
        PROBER,
      ]
    : [PROBER];
  const config = {
    mcp: {
      servers: { prober: { command: process.execPath, args } },
      hub: { sandbox: true, files: [], ...opts.hub },
    },
  };
  return startNvim({
    ...(opts.env ? { env: opts.env } : {}),
    setup:
      `_G.notes = {}; vim.notify = function(m) table.insert(_G.notes, m) end\n` +
      `vim.fn.chdir(${JSON.stringify(ws)}); require('rune').setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
  });
}

async function prober(t: TestNvim): Promise<Server | undefined> {
  const st = await t.lua<{ servers: Server[] }>(
    'return require("rune.host").request("rune.hub.status")',
  );
  return st.servers.find((s) => s.name === 'prober');
}

async function bufText(t: TestNvim): Promise<string> {
  return (await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).join('\n');
}

async function health(t: TestNvim): Promise<string> {
  await t.nvim.command('checkhealth rune');
  const text = await bufText(t);
  await t.nvim.command('bwipeout');
  return text;
}

/** The :RuneMcp view (drawn once) as soon as it shows every pattern. */
async function runeMcp(t: TestNvim, res: RegExp[]): Promise<string> {
  let text = '';
  await waitFor(
    async () => {
      await t.nvim.command('RuneMcp');
      text = await bufText(t);
      await t.nvim.command('close');
      return res.every((r) => r.test(text));
    },
    20000,
    `:RuneMcp to show ${res.join(' ')}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${text}`);
  });
  return text;
}

/**
 * A bwrap that cannot create namespaces, as in many containers, first on PATH: the host
 * Lua spawns finds no usable sandbox.
 */
function brokenBwrapPath(): string {
  const bin = scratch('rune-nobwrap-');
  fs.writeFileSync(
    path.join(bin, 'bwrap'),
    '#!/bin/sh\necho "bwrap: No permissions to create a new namespace" >&2\nexit 1\n',
    { mode: 0o755 },
  );
  return `${bin}:${process.env.PATH ?? ''}`;
}

const NO_NS = 'bwrap: No permissions to create a new namespace';

describe('the MCP hub sandbox under attack', () => {
  it("keeps a sandboxed server that has the network from abstract and path Unix sockets and from Rune's environment, while its TCP to loopback works", async () => {
    // A socket by path outside every folder the sandbox empties (.rune-test/ is the
    // git-ignored scratch folder of the checkout), an abstract one, and a TCP port.
    const sock = path.join(scratch('hub-sock-', path.join(ROOT, '.rune-test')), 'agent.sock');
    const abstract = `rune-hub-test-${randomBytes(6).toString('hex')}`;
    const byPath = await listener(sock);
    const hidden = await listener(`\0${abstract}`);
    const tcp = await listener(0);

    const t = await withProber(scratch('rune-hub-ws-'), {
      env: { ANTHROPIC_API_KEY: 'sk-ant-attack-0123456789' },
    });
    const s = (await waitFor(
      async () => {
        const p = await prober(t);
        return p?.state === 'connected' || p?.state === 'failed' ? p : undefined;
      },
      30000,
      'the prober to connect',
    ))!;
    if (!bwrap.usable) {
      // No sandbox and no opt-in: the server is not run at all.
      expect(s.state).toBe('failed');
      expect(s.last_error).toContain('not started');
      await t.close();
      return;
    }
    expect(s, s.last_error ?? '').toMatchObject({ state: 'connected', sandboxed: true });

    const targets = `unix:${sock} abstract:${abstract} tcp:${tcp.port} env:`;
    const text = await t.lua<string>(
      'return require("rune.host").request("rune.hub.get_prompt", "prober", "probe", { targets = ... })',
      [targets],
    );
    const got = Object.fromEntries(
      text
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.lastIndexOf('=')), l.slice(l.lastIndexOf('=') + 1)]),
    );
    expect(got[`tcp:${tcp.port}`], text).toBe('connected');
    // The server's connect resolved; the listener counts the accept on its next turn.
    await waitFor(() => tcp.accepted() === 1, 5000, 'the TCP accept');
    // The seccomp filter answers EACCES (x86_64, arm64); elsewhere there is none to test.
    expect(unixSocketFilter()).toBeDefined();
    expect(got[`unix:${sock}`], text).toBe('refused:EACCES');
    expect(got[`abstract:${abstract}`], text).toBe('refused:EACCES');
    expect(byPath.accepted()).toBe(0);
    expect(hidden.accepted()).toBe(0);
    // Only the variables a stdio server is given: never Rune's keys.
    expect(got['env:']!.split(',')).toEqual(expect.arrayContaining(['HOME', 'PATH']));
    for (const name of got['env:']!.split(',')) {
      expect(['HOME', 'LOGNAME', 'PATH', 'PWD', 'SHELL', 'TERM', 'USER']).toContain(name);
    }

    expect(await health(t)).toMatch(
      /stdio servers run sandboxed \(bwrap at \S+\): prober; Unix sockets \(by path or abstract\) are refused to them \(seccomp\)/,
    );
    await t.close();
  });

  it('does not start a server that asks for the sandbox where bubblewrap is unusable, says why in :RuneMcp and :checkhealth, and starts it sandboxed once bubblewrap works', async () => {
    const ws = scratch('rune-hub-ws-');
    const marker = path.join(ws, 'RAN');
    const t = await withProber(ws, { env: { PATH: brokenBwrapPath() }, marker });
    const s = (await waitFor(
      async () => {
        const p = await prober(t);
        return p?.state === 'failed' ? p : undefined;
      },
      20000,
      'the prober to be refused',
    ).catch(async (err: Error) => {
      const info = await t.lua<{ log_file: string }>('return require("rune.host").info()');
      const log = fs.existsSync(info.log_file) ? fs.readFileSync(info.log_file, 'utf8') : '';
      throw new Error(`${err.message}\nstatus: ${JSON.stringify(await prober(t))}\n${log}`);
    }))!;
    expect(s.last_error).toBe(
      `not started: it asks for the sandbox, but there is none here (${NO_NS}), and without it the server runs with your rights (your files, your network, your processes). Install bubblewrap, or set mcp.hub.allow_unsandboxed = true to run it anyway`,
    );
    expect(fs.existsSync(marker)).toBe(false);
    const view = await runeMcp(t, [
      /✗ prober {2}failed {2}stdio/,
      /last error: not started: it asks for the sandbox/,
    ]);
    expect(view).toContain(
      `! no bubblewrap sandbox (${NO_NS}): these stdio servers ask for it and are not started, because without it a server runs with your rights: prober`,
    );
    const h = await health(t);
    expect(h).toContain(
      `no bubblewrap sandbox (${NO_NS}): these stdio servers ask for it and are not started, because without it a server runs with your rights: prober`,
    );
    expect(h).toContain('mcp.hub.allow_unsandboxed = true');
    expect(fs.existsSync(marker)).toBe(false);
    if (bwrap.usable) {
      // bubblewrap installed meanwhile (here: the broken one replaced by the real one):
      // restarting the server, as the advice says, runs it in the sandbox.
      const fake = path.join(t.env.PATH!.split(':')[0]!, 'bwrap');
      fs.rmSync(fake);
      fs.symlinkSync(bwrap.path!, fake);
      await t.nvim.command('RuneMcp restart prober');
      const again = (await waitFor(
        async () => {
          const p = await prober(t);
          return p?.state === 'connected' ? p : undefined;
        },
        30000,
        'the prober to start in the sandbox',
      ))!;
      expect(again.sandboxed).toBe(true);
      expect(fs.readFileSync(marker, 'utf8')).toBe('ran');
    }
    await t.close();
  });

  it('runs it with the user rights only when the user opted in, and says so', async () => {
    const ws = scratch('rune-hub-ws-');
    const marker = path.join(ws, 'RAN');
    const t = await withProber(ws, {
      env: { PATH: brokenBwrapPath() },
      hub: { allow_unsandboxed: true },
      marker,
    });
    const s = (await waitFor(
      async () => {
        const p = await prober(t);
        return p?.state === 'connected' || p?.state === 'failed' ? p : undefined;
      },
      30000,
      'the prober to connect',
    ))!;
    expect(s, s.last_error ?? '').toMatchObject({ state: 'connected', sandboxed: false });
    expect(fs.readFileSync(marker, 'utf8')).toBe('ran');
    const warning = `no bubblewrap sandbox (${NO_NS}): these stdio servers ask for it and run with your rights (your files, network and processes), as you allowed with mcp.hub.allow_unsandboxed: prober`;
    const view = await runeMcp(t, [/● prober {2}connected {2}stdio {2}/]);
    expect(view).toContain(`! ${warning}`);
    expect(await health(t)).toContain(warning);
    await t.close();
  });
});
