/**
 * The MCP hub host module in a real headless Neovim, against the real
 * server-everything over stdio (from a project `.mcp.json`) and over
 * Streamable HTTP (from `setup({ mcp = { servers = … } })`).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startOllamaServer } from '../helpers/servers/index.js';
import { alive, startNvim, trustFileLua, waitFor } from '../helpers/nvim.js';
import { getHub, hubModule } from '../../src/nvim/hub/index.js';
import { getToolRegistry } from '../../src/nvim/tools.js';
import type { ToolContext } from '../../src/tools/registry.js';
import { ollamaAt, startChat, type ChatHarness } from './chat-helpers.js';
import { freePort } from '../helpers/ports.js';

const EVERYTHING = path.resolve(
  import.meta.dirname,
  '..',
  '..',
  'node_modules',
  '@modelcontextprotocol',
  'server-everything',
  'dist',
  'index.js',
);

const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
});

/** server-everything over Streamable HTTP on `port`, once it listens. */
async function httpEverything(port: number): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  procs.push(proc);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on port|running on port/i.test(err)) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`server-everything exited ${code}: ${err}`)));
  });
  return proc;
}

interface Status {
  files: string[];
  servers: {
    name: string;
    state: string;
    transport: string;
    tools: string[];
    last_error: string | null;
    reconnects: number;
    source: string;
  }[];
}

const stdioEntry = { command: process.execPath, args: [EVERYTHING, 'stdio'] };

function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
}

interface Hub {
  c: ChatHarness;
  project: string;
  status(): Promise<Status>;
  server(name: string): Promise<Status['servers'][number] | undefined>;
  connected(name: string, tool?: string): Promise<void>;
}

/** `project` goes to the project's `.mcp.json` (trusted, as `:trust` would); `global` to the user's own file. */
async function startHub(
  opts: { project?: unknown; global?: unknown; setup?: Record<string, unknown> } = {},
): Promise<Hub> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hub-'));
  const project = path.join(home, 'project');
  fs.mkdirSync(project, { recursive: true });
  const trust: string[] = [];
  if (opts.project) {
    writeJson(path.join(project, '.mcp.json'), opts.project);
    trust.push(`lua ${trustFileLua(path.join(project, '.mcp.json'))}`);
  }
  if (opts.global) writeJson(path.join(home, 'config', 'rune', 'mcp.json'), opts.global);
  const c = await startChat({
    home,
    preCmds: [`cd ${project}`, `let $RUNE_TEST_PROJECT = '${project}'`, ...trust],
    setup: { ...opts.setup, mcp: { enabled: false, ...(opts.setup?.mcp as object) } },
    modules: [hubModule],
  });
  const status = () => c.t.lua<Status>('return require("rune.host").request("rune.hub.status")');
  const server = async (name: string) => (await status()).servers.find((s) => s.name === name);
  return {
    c,
    project,
    status,
    server,
    connected: async (name, tool = 'echo') => {
      await waitFor(
        async () => {
          const s = await server(name);
          return s?.state === 'connected' && !!getToolRegistry(c.host).get(`${name}__${tool}`);
        },
        20000,
        `${name} to connect`,
      );
    },
  };
}

function ctx(progress: ToolContext['progress'] = () => undefined): ToolContext {
  return {
    signal: new AbortController().signal,
    progress,
    caller: { client: 'test' },
    review: async (p) => ({ accepted: p.hunks.map((_, i) => i) }),
  };
}

const text = (r: { content: { type: string; text?: string }[] }) =>
  r.content.map((c) => c.text ?? '').join('\n');

/** The pids of server-everything stdio children of this process started in `cwd`. */
function stdioChildren(cwd: string): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], {
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((l) => l.includes(EVERYTHING) && / stdio\s*$/.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
    .filter((pid) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/cwd`) === cwd;
      } catch {
        return false;
      }
    });
}

describe('MCP hub in Neovim', () => {
  it('connects stdio and Streamable HTTP servers: lists, calls, progress, errors, resources and prompts', async () => {
    const port = await freePort();
    await httpEverything(port);
    const h = await startHub({
      project: { mcpServers: { local: stdioEntry } },
      setup: { mcp: { servers: { remote: { url: `http://127.0.0.1:${port}/mcp` } } } },
    });
    await h.connected('local');
    await h.connected('remote');
    const st = await h.status();
    expect(st.files).toContain(path.join(h.project, '.mcp.json'));
    expect(st.servers.find((s) => s.name === 'local')).toMatchObject({
      transport: 'stdio',
      source: path.join(h.project, '.mcp.json'),
    });
    expect(st.servers.find((s) => s.name === 'remote')).toMatchObject({
      transport: 'http',
      source: 'setup()',
    });
    expect(st.servers.find((s) => s.name === 'remote')!.tools).toContain('get-sum');

    const registry = getToolRegistry(h.c.host);
    expect(registry.get('local__echo')?.approval).toBe('ask');
    expect(text(await registry.call('local__echo', { message: 'över stdio' }, ctx()))).toContain(
      'Echo: över stdio',
    );
    expect(text(await registry.call('remote__get-sum', { a: 40, b: 2 }, ctx()))).toContain('42');

    const progress: number[] = [];
    const long = await registry.call(
      'remote__trigger-long-running-operation',
      { duration: 0.3, steps: 3 },
      ctx((p) => progress.push(p.progress)),
    );
    expect(text(long)).toMatch(/completed/i);
    expect(progress.slice(0, 2)).toEqual([1, 2]);

    const bad = await registry.call('local__get-sum', { a: 'x' }, ctx());
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/Invalid arguments for local__get-sum/);

    const resources = await h.c.t.lua<{ server: string; resources: { uri: string }[] }[]>(
      'return require("rune.host").request("rune.hub.resources")',
    );
    const remote = resources.find((r) => r.server === 'remote')!;
    expect(remote.resources.length).toBeGreaterThan(0);
    const read = await getHub(h.c.host)!.readResource('remote', remote.resources[0]!.uri);
    expect(read.contents.length).toBeGreaterThan(0);

    const prompts = await h.c.t.lua<
      { server: string; prompts: { name: string; arguments: { required: boolean }[] }[] }[]
    >('return require("rune.host").request("rune.hub.prompts")');
    const simple = prompts
      .find((p) => p.server === 'local')!
      .prompts.find((p) => !p.arguments.some((a) => a.required))!;
    const promptText = await h.c.t.lua<string>(
      'return require("rune.host").request("rune.hub.get_prompt", "local", ...)',
      [simple.name],
    );
    expect(promptText.length).toBeGreaterThan(0);
  });

  it(
    'a killed stdio server and a restarted HTTP server come back',
    { timeout: 60_000 },
    async () => {
      const port = await freePort();
      const http = await httpEverything(port);
      const h = await startHub({
        global: { mcpServers: { local: { ...stdioEntry, cwd: '${env:RUNE_TEST_PROJECT}' } } },
        setup: {
          mcp: {
            servers: { remote: { url: `http://127.0.0.1:${port}/mcp`, type: 'http' } },
            hub: { connect_timeout_ms: 5000 },
          },
        },
      });
      await h.connected('local');
      await h.connected('remote');
      const registry = getToolRegistry(h.c.host);

      const [pid] = stdioChildren(h.project);
      expect(pid).toBeGreaterThan(0);
      process.kill(pid!, 'SIGKILL');
      await waitFor(async () => (await h.server('local'))!.reconnects >= 1, 20000, 'a reconnect');
      await h.connected('local');
      expect(stdioChildren(h.project)).not.toContain(pid);
      expect(text(await registry.call('local__echo', { message: 'back' }, ctx()))).toContain(
        'back',
      );

      http.kill('SIGKILL');
      await new Promise((r) => http.once('exit', r));
      // The next call fails with a message naming the server; the hub then reconnects.
      const failed = await registry.call('remote__echo', { message: 'x' }, ctx());
      expect(failed.isError).toBe(true);
      await httpEverything(port);
      await waitFor(
        async () => {
          const r = await registry.call('remote__echo', { message: 'again' }, ctx());
          return !r.isError && text(r).includes('again');
        },
        30000,
        'the HTTP server to come back',
      );
    },
  );

  it('picks up an edited config file, and reports a bad one naming file and key', async () => {
    const h = await startHub({ global: { mcpServers: { first: stdioEntry } } });
    await h.c.t.lua(
      '_G.notes = {} vim.notify = function(msg, level) table.insert(_G.notes, { msg, level }) end',
    );
    await h.connected('first');
    const file = (await h.status()).files[0]!;
    expect(file).toMatch(/config\/rune\/mcp\.json$/);
    writeJson(file, {
      mcpServers: {
        first: stdioEntry,
        second: { ...stdioEntry, disabled_tools: ['echo'], autoApprove: ['get-sum'] },
      },
    });
    await h.connected('second', 'get-sum');
    const registry = getToolRegistry(h.c.host);
    expect(registry.get('second__echo')).toBeUndefined();
    // autoApprove: that tool runs without asking; the others ask.
    expect(registry.get('second__get-sum')?.approval).toBe('auto');
    expect(registry.get('second__get-env')?.approval).toBe('ask');

    writeJson(file, { mcpServers: { first: stdioEntry, broken: { args: 3 } } });
    const notes = (await waitFor(
      async () => {
        const n = await h.c.t.lua<[string, number][]>('return _G.notes');
        return n.length ? n : undefined;
      },
      20000,
      'the error notification',
    ))!;
    expect(notes[0]![0]).toContain(`${file}: mcpServers.broken`);
    expect(notes[0]![1]).toBe(4); // vim.log.levels.ERROR
    // The servers of the broken file keep running until it is fixed.
    expect((await h.server('second'))?.state).toBe('connected');

    writeJson(file, { mcpServers: { first: stdioEntry } });
    await waitFor(
      async () => !(await h.server('second')) && !registry.get('second__get-sum'),
      20000,
      'second and its tools to be removed',
    );
    expect(registry.get('first__echo')).toBeDefined();
  });

  it('the server list shows state, tools and errors, and disables, enables and restarts', async () => {
    const h = await startHub({
      global: {
        mcpServers: {
          good: { ...stdioEntry, cwd: '${env:RUNE_TEST_PROJECT}' },
          dead: {
            command: process.execPath,
            args: ['-e', 'console.error("no way"); process.exit(3)'],
          },
        },
      },
    });
    await h.connected('good');
    await waitFor(async () => (await h.server('dead'))?.state === 'failed', 20000, 'dead to fail');
    const health = (await h.c.host.health()).find((x) => x.name === 'hub')!;
    expect(health.items).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: expect.stringMatching(/^dead \(stdio\): failed, 0 tool\(s\): could not start/),
      }),
    );
    expect(health.items).toContainEqual(
      expect.objectContaining({
        level: 'ok',
        message: expect.stringMatching(/^good \(stdio\): connected/),
      }),
    );
    const buf = await h.c.t.lua<number>('return require("rune.hub").servers()');
    const lines = () => h.c.lines(buf);
    const all = (await lines()).join('\n');
    expect(all).toMatch(/● good {2}connected {2}stdio {2}\d+ tool\(s\)/);
    expect(all).toContain('tools: ');
    expect(all).toMatch(/✗ dead {2}failed/);
    expect(all).toMatch(/last error: could not start .*no way/);

    const row = (await lines()).findIndex((l) => l.includes('good  connected')) + 1;
    await h.c.t.lua('vim.api.nvim_win_set_cursor(0, { ..., 0 })', [row]);
    await h.c.t.nvim.input('d');
    await waitFor(
      async () =>
        (await lines()).some((l) => l.includes('good  disabled')) &&
        !getToolRegistry(h.c.host).get('good__echo'),
      10000,
      'good to be disabled and its tools gone',
    );
    // Only the buffer is polled below (no requests to the host) while a key's request runs.
    const listed = (state: string) =>
      waitFor(
        async () =>
          (await lines()).some((l) => l.includes(`good  ${state}`)) &&
          !!getToolRegistry(h.c.host).get('good__echo'),
        20000,
        `good ${state} in the list`,
      );
    await h.c.t.nvim.input('e');
    await listed('connected');
    const [before] = stdioChildren(h.project);
    expect(before).toBeGreaterThan(0);
    await h.c.t.nvim.input('r');
    await waitFor(() => stdioChildren(h.project).some((p) => p !== before), 10000, 'a new process');
    await listed('connected');
    expect(stdioChildren(h.project)).not.toContain(before);
  });

  it('answers sampling with the chat provider after asking, and elicitation with a form', async () => {
    const provider = await startOllamaServer();
    provider.enqueue('chat', { text: 'four, from the local model' });
    const h = await startHub({
      project: { mcpServers: { local: stdioEntry } },
      setup: { providers: { local: ollamaAt(provider.url) } },
    });
    // The user answers each question in the approval window with its first key
    // (send / answer), then fills the form.
    await h.c.t.lua(`
      _G.asked = {}
      local approval = require('rune.approval')
      local ask = approval.ask
      approval.ask = function(req)
        ask(req)
        vim.schedule(function()
          local s = approval.shown()
          table.insert(_G.asked, table.concat(s.lines, ' '))
          approval.answer(req.kind == 'sample' and 'send' or 'accept')
        end)
      end
      vim.ui.select = function(items, opts, cb)
        table.insert(_G.asked, opts.prompt)
        cb(items[1], 1)
      end
      vim.ui.input = function(opts, cb)
        table.insert(_G.asked, opts.prompt)
        cb(opts.prompt:find('legal name') and 'Ada Lovelace' or '')
      end`);
    await h.connected('local');
    const registry = getToolRegistry(h.c.host);
    const sampled = await registry.call(
      'local__trigger-sampling-request',
      { prompt: 'two plus two?', maxTokens: 20 },
      ctx(),
    );
    expect(text(sampled)).toContain('four, from the local model');
    const sent = provider.requestsTo('chat')[0]!.body as { messages: { content: string }[] };
    expect(sent.messages.at(-1)!.content).toContain('two plus two?');
    const asked = await h.c.t.lua<string[]>('return _G.asked');
    expect(asked[0]).toMatch(/MCP server local wants to ask the chat model .*two plus two\?/);

    const elicited = await registry.call('local__trigger-elicitation-request', {}, ctx());
    const out = text(elicited);
    expect(out).toMatch(/accept/i);
    expect(out).toContain('Ada Lovelace');
    // Fields left empty get the schema's defaults.
    expect(out).toContain('It was a dark and stormy night.');
    expect(out).toContain('42');
    await provider.close();
  });

  it('end to end with the spawned host: connects, and its servers stop with Neovim', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hub-e2e-'));
    const project = path.join(home, 'project');
    fs.mkdirSync(project, { recursive: true });
    const config = {
      mcp: {
        enabled: false,
        servers: { local: { ...stdioEntry, cwd: project } },
        hub: { files: [] },
      },
    };
    const t = await startNvim({
      home,
      preCmds: [`cd ${project}`],
      setup: `require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
    });
    const status = () => t.lua<Status>('return require("rune.host").request("rune.hub.status")');
    await waitFor(
      async () => (await status()).servers[0]?.state === 'connected',
      30000,
      'the server to connect in the spawned host',
    );
    const s = (await status()).servers[0]!;
    expect(s).toMatchObject({ name: 'local', transport: 'stdio', source: 'setup()' });
    expect(s.tools).toContain('echo');
    const hostPid = await t.lua<number>('return vim.fn.jobpid(require("rune.host").info().job)');
    const server = (() => {
      const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(hostPid)], {
        encoding: 'utf8',
      });
      const line = out.split('\n').find((l) => l.includes(EVERYTHING));
      return line ? Number(line.trim().split(/\s+/)[0]) : 0;
    })();
    expect(server).toBeGreaterThan(0);
    await t.close();
    await waitFor(() => !alive(server), 15000, 'the MCP server process to stop');
  });
});
