import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { alive, startNvim, waitFor, ROOT, type TestNvim } from '../helpers/nvim.js';

interface Status {
  state: string;
  pid: number;
  version: string;
  log_file: string;
  uptime_ms: number;
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe('host lifecycle (real Neovim, real host process)', () => {
  it('does not start the host at startup, only on first use', async () => {
    const t = await startNvim();
    expect(await t.lua('return package.loaded["rune.host"] == nil')).toBe(true);
    expect(childrenOf(t.proc.pid!)).toEqual([]);
    await t.nvim.command('RuneStatus');
    const kids = childrenOf(t.proc.pid!);
    expect(kids.length).toBe(1);
  });

  it(':RuneStatus round-trips through the host', async () => {
    const t = await startNvim();
    const out = (await t.nvim.commandOutput('RuneStatus')) as string;
    const status = await t.lua<Status>('return require("rune.host").request("rune.status")');
    expect(status.state).toBe('ready');
    expect(out).toContain(`host ready`);
    expect(out).toContain(`pid      ${status.pid}`);
    expect(out).toContain(status.log_file);
    expect(status.log_file).toBe(path.join(t.home, 'state', 'nvim', 'rune.log'));
    expect(childrenOf(t.proc.pid!)).toContain(status.pid);
    // The log is a file of JSON lines, and the host wrote to it.
    const log = fs
      .readFileSync(status.log_file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.some((l: { msg: string }) => l.msg === 'host ready')).toBe(true);
  });

  it('restarts a killed host on the next command', async () => {
    const t = await startNvim({
      setup: 'require("rune").setup({ host = { restart_backoff_ms = 60000 } })',
    });
    const first = await t.lua<Status>('return require("rune.host").request("rune.status")');
    process.kill(first.pid, 'SIGKILL');
    await waitFor(
      async () => (await t.lua<string>('return require("rune.host").info().state')) === 'failed',
    );
    const second = await t.lua<Status>('return require("rune.host").request("rune.status")');
    expect(second.state).toBe('ready');
    expect(second.pid).not.toBe(first.pid);
    expect(alive(second.pid)).toBe(true);
  });

  it('restarts a crashed host by itself with backoff and tells the user why', async () => {
    const t = await startNvim({
      setup: 'require("rune").setup({ host = { restart_backoff_ms = 50 } })',
    });
    const first = await t.lua<Status>('return require("rune.host").request("rune.status")');
    process.kill(first.pid, 'SIGKILL');
    await waitFor(async () => {
      const info = await t.lua<{ state: string; info: { pid: number } | null }>(
        'return require("rune.host").info()',
      );
      return info.state === 'ready' && info.info !== null && info.info.pid !== first.pid;
    });
    const messages = (await t.nvim.commandOutput('messages')) as string;
    expect(messages).toMatch(/\(rune\) host exited .*\n?.*Restarting in 50 ms/);
  });

  it('reports a host that fails to start with its stderr, without hanging', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-fake-node-'));
    const fake = path.join(dir, 'node');
    fs.writeFileSync(fake, '#!/bin/sh\necho "boom: cannot load the host" >&2\nexit 3\n', {
      mode: 0o755,
    });
    const t = await startNvim({
      setup: `require("rune").setup({ host = { node = ${JSON.stringify(fake)} } })`,
    });
    // The command reports the error (an ERROR notification fails nvim_command in
    // an embedded Neovim, which is how the test reads it).
    const err = await t.nvim.command('RuneStatus').then(
      () => '',
      (e: Error) => e.message,
    );
    expect(err).toContain('(rune) host exited with code 3: boom: cannot load the host');
    expect(await t.lua('return require("rune.host").info().state')).toBe('failed');
  });

  it('gives up on a host that never becomes ready after the start timeout', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-fake-node-'));
    const fake = path.join(dir, 'node');
    fs.writeFileSync(fake, '#!/bin/sh\necho "stuck starting" >&2\nexec sleep 60\n', {
      mode: 0o755,
    });
    const t = await startNvim({
      setup: `require("rune").setup({ host = { node = ${JSON.stringify(fake)}, start_timeout_ms = 300 } })`,
    });
    const err = await t.lua('return require("rune.host").request("rune.status")').then(
      () => '',
      (e: Error) => e.message,
    );
    expect(err).toContain('the host did not become ready within 300 ms: stuck starting');
    // The stuck process is stopped; on a busy machine its exit is reaped a moment later.
    await waitFor(() => childrenOf(t.proc.pid!).length === 0, 10000, 'the stuck host to exit');
  });

  it('says how to build when the host is not built', async () => {
    const t = await startNvim();
    // Point the root at a folder without dist/ by overriding util.root.
    const err = await t
      .lua(
        `require("rune.util").root = function() return ${JSON.stringify(os.tmpdir())} end
         return require("rune.host").request("rune.status")`,
      )
      .then(
        () => '',
        (e: Error) => e.message,
      );
    expect(err).toContain('the host is not built');
    expect(err).toContain('npm ci && npm run build');
  });

  it('exits the host when Neovim exits', async () => {
    const t = await startNvim();
    const s = await t.lua<Status>('return require("rune.host").request("rune.status")');
    await t.close();
    await waitFor(() => !alive(s.pid), 5000, 'host exit');
  });

  it(':RuneLog opens the log file', async () => {
    const t = await startNvim();
    await t.nvim.command('RuneStatus');
    await t.nvim.command('RuneLog');
    const name = await t.lua<string>('return vim.api.nvim_buf_get_name(0)');
    expect(name).toBe(path.join(t.home, 'state', 'nvim', 'rune.log'));
  });
});

/**
 * A stand-in for `node` that runs the real host or misbehaves, as the test
 * says in `mode`: `real`, `crash` (exits 3 at once) or `hang` (never answers
 * the handshake). It counts how often it was started.
 */
function flakyNode(): { node: string; mode(m: 'real' | 'crash' | 'hang'): void; starts(): number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-flaky-node-'));
  const node = path.join(dir, 'node');
  const modeFile = path.join(dir, 'mode');
  const countFile = path.join(dir, 'count');
  fs.writeFileSync(modeFile, 'real');
  fs.writeFileSync(
    node,
    `#!/bin/sh
echo started >> '${countFile}'
case "$(cat '${modeFile}')" in
  real) exec '${process.execPath}' "$@" ;;
  crash) echo "boom on start" >&2; exit 3 ;;
  hang) echo "stuck in the handshake" >&2; exec sleep 60 ;;
esac
`,
    { mode: 0o755 },
  );
  return {
    node,
    mode: (m) => fs.writeFileSync(modeFile, m),
    starts: () =>
      fs.existsSync(countFile) ? fs.readFileSync(countFile, 'utf8').trim().split('\n').length : 0,
  };
}

interface HostInfo {
  state: string;
  crashes: number;
  gave_up: boolean;
  last_error: string | null;
  info: { pid: number } | null;
  ready_ms?: number;
}

const hostInfo = (t: TestNvim) => t.lua<HostInfo>('return require("rune.host").info()');

/** Waits until the supervisor gave up on the host. */
async function gaveUp(t: TestNvim): Promise<HostInfo> {
  await waitFor(async () => (await hostInfo(t)).gave_up, 20000, 'the supervisor to give up');
  return hostInfo(t);
}

/** Waits for a ready host other than `notPid`; returns its pid. */
async function readyPid(t: TestNvim, notPid = 0): Promise<number> {
  return await waitFor(
    async () => {
      const i = await hostInfo(t);
      return i.state === 'ready' && i.info && i.info.pid !== notPid ? i.info.pid : 0;
    },
    20000,
    'a ready host',
  );
}

describe('host supervision (real Neovim, real or broken host process)', () => {
  it('gives up on a host that crashes on start after max_restarts, with backoff, and :RuneRestart tries again', async () => {
    const fake = flakyNode();
    const t = await startNvim({
      setup:
        // Notifications recorded: an ERROR one does not reach :messages in an embedded Neovim 0.10.
        `_G.notes = {}; vim.notify = function(m) table.insert(_G.notes, m) end\n` +
        `require("rune").setup({ host = { node = ${JSON.stringify(fake.node)}, restart_backoff_ms = 20, max_restarts = 2 } })`,
    });
    const first = await t.lua<Status>('return require("rune.host").request("rune.status")');
    fake.mode('crash');
    process.kill(first.pid, 'SIGKILL');
    const info = await gaveUp(t);
    expect(info.state).toBe('failed');
    expect(info.crashes).toBe(3);
    // The first start plus two restarts, each backing off twice as long.
    expect(fake.starts()).toBe(3);
    // The notice is shown on Neovim's next tick: wait for it.
    const messages = await waitFor(
      async () => {
        const m = (await t.lua<string[]>('return _G.notes')).join('\n');
        return m.includes('Rune stopped restarting it') ? m : '';
      },
      10000,
      'the notice that Rune gave up',
    );
    expect(messages).toContain('Restarting in 20 ms (restart 1 of 2');
    expect(messages).toContain(
      'host exited with code 3: boom on start\nRestarting in 40 ms (restart 2 of 2',
    );
    expect(messages).toContain(
      'the host failed 3 times in a row; Rune stopped restarting it (host.max_restarts = 2)',
    );
    // Commands now say so instead of starting the host again.
    const err = await t.lua('return require("rune.host").request("rune.status")').then(
      () => '',
      (e: Error) => e.message,
    );
    expect(err).toContain('Rune stopped restarting it');
    expect(err).toContain('then run :RuneRestart');
    expect(fake.starts()).toBe(3);
    // Once fixed, :RuneRestart starts it again.
    fake.mode('real');
    await t.nvim.command('RuneRestart');
    const again = await t.lua<Status>('return require("rune.host").request("rune.status")');
    expect(again.state).toBe('ready');
    expect((await hostInfo(t)).crashes).toBe(0);
  });

  it('keeps restarting a host that stayed up longer than restart_window_ms, but not one that crashes right away', async () => {
    const t = await startNvim({
      setup:
        'require("rune").setup({ host = { restart_backoff_ms = 20, max_restarts = 1, restart_window_ms = 200 } })',
    });
    let pid = (await t.lua<Status>('return require("rune.host").request("rune.status")')).pid;
    for (let i = 0; i < 3; i++) {
      // Up for longer than the window: each crash starts a new row.
      await waitFor(
        async () => ((await hostInfo(t)).ready_ms ?? 0) >= 200,
        10000,
        'the host to stay up past the window',
      );
      process.kill(pid, 'SIGKILL');
      pid = await readyPid(t, pid);
      expect((await hostInfo(t)).crashes).toBe(1);
    }
    // A crash right after a restart is the second in a row: more than max_restarts.
    process.kill(pid, 'SIGKILL');
    const info = await gaveUp(t);
    expect(info.crashes).toBe(2);
    expect(info.last_error).toContain('failed 2 times in a row');
  });

  it('stops a restarted host that hangs in its handshake and counts it as a crash', async () => {
    const fake = flakyNode();
    const t = await startNvim({
      setup: `require("rune").setup({ host = { node = ${JSON.stringify(fake.node)}, restart_backoff_ms = 20, max_restarts = 2 } })`,
    });
    const first = await t.lua<Status>('return require("rune.host").request("rune.status")');
    // A short handshake deadline from now on (the first, real start may be slow on a busy machine).
    await t.lua('require("rune").config().host.start_timeout_ms = 300');
    fake.mode('hang');
    process.kill(first.pid, 'SIGKILL');
    const info = await gaveUp(t);
    expect(info.crashes).toBe(3);
    expect(fake.starts()).toBe(3);
    expect(info.last_error).toContain(
      'the host did not become ready within 300 ms: stuck in the handshake',
    );
    // The hanging processes were stopped, none left behind.
    await waitFor(() => childrenOf(t.proc.pid!).length === 0, 10000, 'no host process left');
    fake.mode('real');
    await t.lua('require("rune").config().host.start_timeout_ms = 10000');
    await t.nvim.command('RuneRestart');
    expect(await t.lua('return require("rune.host").info().state')).toBe('ready');
  });
});

describe('configuration', () => {
  it('names the bad key and what was expected', async () => {
    const t = await startNvim();
    const bad = async (opts: string) =>
      t.lua(`require("rune").setup(${opts})`).then(
        () => '',
        (e: Error) => e.message,
      );
    expect(await bad('{ host = { start_timeout_ms = "soon" } }')).toContain(
      '(rune) config: host.start_timeout_ms must be a number, got string',
    );
    expect(await bad('{ hots = {} }')).toContain('(rune) config: hots is not an option');
    expect(await bad('{ host = { log_level = "loud" } }')).toContain(
      'host.log_level must be one of debug, info, warn, error, got "loud"',
    );
    expect(await bad('{ providers = 3 }')).toContain('providers must be a table, got number');
  });

  it('checks every option of the schema at setup(): types, ranges, keys and nested names', async () => {
    const t = await startNvim();
    const bad = async (opts: string) =>
      t.lua(`require("rune").setup(${opts})`).then(
        () => '',
        (e: Error) => e.message,
      );
    expect(await bad('{ completion = { debounce_ms = "x" } }')).toContain(
      '(rune) config: completion.debounce_ms must be a number, got string',
    );
    expect(await bad('{ completion = { debounce_ms = -1 } }')).toContain(
      'completion.debounce_ms must be a number ≥ 0, got -1',
    );
    expect(await bad('{ mcp = { port = 70000 } }')).toContain(
      'mcp.port must be a number ≤ 65535, got 70000',
    );
    expect(await bad('{ chat = { max_tool_steps = 2.5 } }')).toContain(
      'chat.max_tool_steps must be a whole number, got 2.5',
    );
    expect(await bad('{ chat = { width = 0 } }')).toContain(
      'chat.width must be a number > 0, got 0',
    );
    expect(await bad('{ chat = { keys = { submit = 1 } } }')).toContain(
      'chat.keys.submit must be a string or false, got number',
    );
    expect(await bad('{ mcp = { hub = { sandbox = "yes" } } }')).toContain(
      'mcp.hub.sandbox must be a boolean, got string',
    );
    expect(await bad('{ plugins = { limits = { memory = 64 } } }')).toContain(
      'plugins.limits.memory is not an option (known here: call_timeout_ms, exec_memory_mb',
    );
    expect(await bad('{ auth = { store = "vault" } }')).toContain(
      'auth.store must be one of auto, keyring, file, got "vault"',
    );
    // Nothing was kept from the rejected calls; valid options are merged over the defaults.
    expect(
      await bad('{ chat = { keys = { submit = false } }, completion = { temperature = 0.2 } }'),
    ).toBe('');
    const config = await t.lua<{
      chat: { keys: Record<string, unknown>; layout: string };
      completion: { temperature: number; debounce_ms: number };
    }>('return require("rune").config()');
    expect(config.chat.keys).toMatchObject({ submit: false, close: 'q' });
    expect(config.chat.layout).toBe('vsplit');
    expect(config.completion).toMatchObject({ temperature: 0.2, debounce_ms: 150 });
  });
});

describe(':checkhealth rune', () => {
  it('reports ok for a working install', async () => {
    const t = await startNvim();
    await t.nvim.command('checkhealth rune');
    const lines = await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');
    const text = lines.join('\n');
    expect(text).toMatch(/OK.*configuration is valid/);
    expect(text).toMatch(/OK.*Node\.js v\d+/);
    expect(text).toMatch(/OK.*host is ready \(pid \d+/);
    expect(text).not.toMatch(/ERROR/);
  });
});

describe(':help rune', () => {
  it('has a tag for every command and option', async () => {
    const t = await startNvim();
    for (const tag of [
      'rune',
      ':RuneStatus',
      ':RuneLog',
      ':RuneRestart',
      'rune-config-host.node',
      'rune.setup()',
    ]) {
      await t.nvim.command(`help ${tag}`);
      expect(await t.lua('return vim.bo.buftype')).toBe('help');
      expect(await t.lua('return vim.fn.expand("%:t")')).toBe('rune.txt');
      await t.nvim.command('helpclose');
    }
  });
});

describe('startup cost', () => {
  it('loads no Lua module of Rune at startup', async () => {
    const t = await startNvim();
    const loaded = await t.lua<string[]>(
      'local out = {} for k in pairs(package.loaded) do if k:match("^rune") then out[#out+1] = k end end return out',
    );
    expect(loaded).toEqual([]);
    expect(await t.lua('return vim.fn.exists(":RuneStatus")')).toBe(2);
    expect(fs.existsSync(path.join(ROOT, 'plugin', 'rune.lua'))).toBe(true);
  });
});
