/**
 * What the host spawned by the Lua layer loads at start: vendor SDKs are loaded
 * on the first request to their provider, and the MCP client on the hub's first
 * connection, not before (most of a Node process's
 * start is module loading). A preload given through NODE_OPTIONS, which
 * the host inherits from Neovim, records every package the host requires.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as nodeModule from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  startAnthropicServer,
  startOllamaServer,
  startOpenAIServer,
  type FakeServerBase,
} from '../helpers/servers/index.js';
import { waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, startRune } from '../helpers/e2e.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-startup-'));
const servers: FakeServerBase<string, unknown>[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Writes a preload (given with `--require`) that appends to `out` each package the host
 * requires, and each chunk of the bundle (`./modules-<hash>.js`) it loads: the host bundle is
 * CommonJS (scripts/bundle.mjs), so every load, a chunk's on first use included, passes
 * through Module.prototype.require.
 */
function importRecorder(out: string): string {
  const preload = path.join(dir, 'record-requires.cjs');
  fs.writeFileSync(
    preload,
    `'use strict';
const { appendFileSync } = require('node:fs');
const Module = require('node:module');
const original = Module.prototype.require;
Module.prototype.require = function (spec) {
  if (!spec.startsWith('..') && !spec.startsWith('/') && !Module.isBuiltin(spec)) {
    appendFileSync(${JSON.stringify(out)}, spec + '\\n');
  }
  return original.apply(this, arguments);
};
`,
  );
  return preload;
}

/**
 * The provider SDKs, each a chunk of the bundle loaded on its provider's first request,
 * by the name scripts/bundle.mjs gives it (`./vendor-openai-index-<hash>.js`).
 */
const SDKS = {
  ollama: 'ollama-index',
  openai: 'openai-index',
  '@anthropic-ai/sdk': 'anthropic-ai-sdk-index',
};

/** The provider SDKs among the imports recorded. */
/** Asks for a completion after `x = ` (as :RuneComplete does) and resolves with its items. */
async function completeAtCursor(t: TestNvim): Promise<unknown> {
  await t.lua(`vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'x = ' })
    vim.api.nvim_win_set_cursor(0, { 1, 3 })
    require('rune.completion').ask(function(items, err) _G.answer = items or err end)`);
  return waitFor(async () => t.lua<unknown>('return _G.answer'), 20000, 'the completion answer');
}

function sdksLoaded(specs: Iterable<string>): string[] {
  const all = [...specs];
  return Object.entries(SDKS)
    .filter(([sdk, chunk]) =>
      all.some((s) => s === sdk || new RegExp(`^\\./vendor-${chunk}-[\\w-]{8}\\.js$`).test(s)),
    )
    .map(([sdk]) => sdk);
}

/**
 * The parts of the MCP SDK's `side` among the imports recorded: the bundle holds the SDK,
 * each part imported with import() a chunk named after it (scripts/bundle.mjs), e.g.
 * `./vendor-modelcontextprotocol-sdk-server-mcp-<hash>.js` for `server/mcp.js`: `server-mcp`.
 */
function sdkParts(specs: Iterable<string>, side: 'client' | 'server'): string[] {
  const chunk = new RegExp(
    `^\\./vendor-modelcontextprotocol-sdk-(${side}-[\\w-]+)-[\\w-]{8}\\.js$`,
  );
  const bare = new RegExp(`^@modelcontextprotocol/sdk/(${side}/[\\w/-]+)\\.js$`);
  return [...specs].flatMap((s) => {
    const m = chunk.exec(s) ?? bare.exec(s);
    return m ? [m[1]!.replaceAll('/', '-')] : [];
  });
}

/** Whether the features' chunk (src/nvim/modules.ts and what it imports) was loaded. */
const modulesChunk = (specs: Iterable<string>) =>
  [...specs].some((s) => /^\.\/modules-[\w-]{8}\.js$/.test(s));

describe('host start (built host spawned by the Lua layer)', () => {
  it('loads no provider SDK (nor the MCP client) until asked, then only the one asked', async () => {
    const server = await startOllamaServer();
    servers.push(server);
    server.script('generate', () => ({ text: 'ok()' }));
    const out = path.join(dir, 'imported.txt');
    const preload = importRecorder(out);
    const t = await startRune({
      env: { NODE_OPTIONS: `--require=${preload}` },
      config: {
        providers: {
          ollama: { url: server.url, retry: { max_attempts: 1 } },
          claude: { kind: 'anthropic', url: 'http://127.0.0.1:9' },
          oai: { kind: 'openai', url: 'http://127.0.0.1:9/v1' },
        },
        default_provider: 'ollama',
      },
    });
    await explained(t, async () => {
      await t.lua('require("rune.host").wait()');
      const imported = () => new Set(fs.readFileSync(out, 'utf8').trim().split('\n'));
      // Once the modules have started (rune.status waits for them), the preload has seen their
      // chunk, and no SDK.
      await t.lua('require("rune.host").request("rune.status")');
      expect(modulesChunk(imported())).toBe(true);
      expect(sdksLoaded(imported())).toEqual([]);
      // No MCP server is configured for the hub: the SDK's client side stays unloaded.
      const client = () => sdkParts(imported(), 'client');
      expect(client()).toEqual([]);
      // Nor the JSON-RPC library of the Copilot language server, until one is started.
      expect(imported()).not.toContain('vscode-jsonrpc/node');

      expect(await completeAtCursor(t)).toEqual(['ok()']);
      // A completion reads Ollama over node:http (src/providers/http-lines.ts): no SDK.
      expect(sdksLoaded(imported())).toEqual([]);
      // Listing the models goes through the `ollama` package: it loads, and only it.
      await t.lua('return require("rune.host").request("rune.providers.models", "ollama")');
      expect(sdksLoaded(imported())).toEqual(['ollama']);
      expect(client()).toEqual([]);
    });
    await t.close();
  });

  it('answers through the Anthropic and OpenAI SDKs, each loaded from the bundle when first asked', async () => {
    const claude = await startAnthropicServer();
    const oai = await startOpenAIServer();
    servers.push(claude, oai);
    claude.script('messages', () => ({ text: 'one()' }));
    oai.script('chat', () => ({ text: 'two()' }));
    const cases = [
      {
        sdk: '@anthropic-ai/sdk',
        provider: { kind: 'anthropic', url: claude.url, model: 'claude-test' },
        answer: 'one()',
      },
      {
        sdk: 'openai',
        provider: { kind: 'openai', url: `${oai.url}/v1`, model: 'gpt-test', fim: 'chat' },
        answer: 'two()',
      },
    ];
    for (const [i, c] of cases.entries()) {
      const out = path.join(dir, `imported-sdk-${i}.txt`);
      const preload = importRecorder(out);
      const t = await startRune({
        env: { NODE_OPTIONS: `--require=${preload}` },
        config: {
          providers: { p: { ...c.provider, api_key: 'sk-test', retry: { max_attempts: 1 } } },
          default_provider: 'p',
        },
      });
      await explained(t, async () => {
        const imported = () => fs.readFileSync(out, 'utf8').trim().split('\n');
        await t.lua('require("rune.host").wait()');
        await t.lua('require("rune.host").request("rune.status")');
        expect(sdksLoaded(imported())).toEqual([]);
        expect(await completeAtCursor(t)).toEqual([c.answer]);
        expect(sdksLoaded(imported())).toEqual([c.sdk]);
      });
      await t.close();
    }
  });

  it("loads nothing on its way to ready but its entry, core and the bundler's runtime: no zod, MCP SDK or provider SDK", async () => {
    // The preload appends each package required to the host's log, where the host writes
    // "host ready" once Neovim knows it is: what comes before that line was loaded first.
    const log = path.join(dir, 'ready.log');
    const preload = importRecorder(log);
    const t = await startRune({
      env: { NODE_OPTIONS: `--require=${preload}` },
      config: { host: { log_file: log } },
    });
    await explained(t, async () => {
      await t.lua('require("rune.host").wait()');
      await t.lua('require("rune.host").request("rune.status")');
      const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
      const ready = lines.findIndex((l) => l.includes('host ready'));
      expect(ready).toBeGreaterThan(-1);
      const imports = (ls: string[]) => ls.filter((l) => /^(\.\/)?[@a-z][\w@./-]*$/.test(l));
      // The way to ready: dist/host/main.js, the core.js it runs (on Node 20 compiled by
      // main.js itself, so not seen here), rolldown's runtime helpers (a chunk of 2 KB the
      // lazy chunks share) and Node's own modules, nothing else.
      expect(imports(lines.slice(0, ready))).toEqual([
        expect.stringMatching(/^\.\/rolldown-runtime-[\w-]{8}\.js$/),
      ]);
      // The modules' chunk loads after ready (the preload works: it sees it).
      expect(modulesChunk(imports(lines.slice(ready)))).toBe(true);
    });
    await t.close();
  });

  it('compiles its core from the V8 code cache of the previous start, on Node without a compile cache', async () => {
    const cacheHome = path.join(dir, 'code-cache-home');
    const folder = path.join(cacheHome, 'rune', 'v8-code-cache');
    /**
     * Starts the host with the shared cache folder; the `code cache` lines it logged once the
     * modules have started (it logs one then, on Node without a compile cache).
     */
    const start = async (name: string, logsOne = true) => {
      const log = path.join(dir, `code-cache-${name}.log`);
      const t = await startRune({
        env: { XDG_CACHE_HOME: cacheHome },
        config: { host: { log_file: log, log_level: 'debug' } },
      });
      try {
        return await explained(t, async () => {
          await t.lua('require("rune.host").wait()');
          await t.lua('require("rune.host").request("rune.status")');
          const lines = () =>
            fs
              .readFileSync(log, 'utf8')
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as { msg: string; state?: string; written?: boolean })
              .filter((r) => r.msg === 'code cache');
          if (!logsOne) return lines();
          return await waitFor(() => (lines().length > 0 ? lines() : undefined), 10000, name);
        });
      } finally {
        await t.close();
      }
    };
    const files = () => (fs.existsSync(folder) ? fs.readdirSync(folder) : []);
    if (typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function') {
      // Node keeps compiled code itself (src/nvim/main.ts): the entry leaves it to Node.
      expect(await start('node', false)).toEqual([]);
      expect(files()).toEqual([]);
      return;
    }
    // The first start finds none and writes one, named after Node, the CPU and core.js.
    expect(await start('first')).toEqual([
      expect.objectContaining({ state: 'none', written: true }),
    ]);
    const name = new RegExp(
      `^core-${process.version.replaceAll('.', '\\.')}-${process.arch}-[0-9a-f]{16}\\.bin$`,
    );
    expect(files()).toEqual([expect.stringMatching(name)]);
    // The next one compiles with it, and leaves it as it is.
    const [file] = files();
    const cached = fs.readFileSync(path.join(folder, file!));
    expect(await start('second')).toEqual([expect.objectContaining({ state: 'used' })]);
    expect(fs.readFileSync(path.join(folder, file!)).equals(cached)).toBe(true);
    // A damaged cache is rejected by V8, costs nothing but the saving, and is written anew.
    fs.writeFileSync(path.join(folder, file!), 'not a code cache');
    expect(await start('damaged')).toEqual([
      expect.objectContaining({ state: 'rejected', written: true }),
    ]);
    expect(fs.readFileSync(path.join(folder, file!), 'utf8')).not.toBe('not a code cache');
    expect(files()).toEqual([file]);
  });

  it("starts and answers on Node 22, keeping Node's compiled code in Rune's cache folder", async () => {
    // Node 22 from the npm registry (the `node` package), as the conformance suite runs it.
    const node22 = execFileSync(
      'npx',
      ['-y', '-p', 'node@22', '--', 'node', '-p', 'process.execPath'],
      {
        encoding: 'utf8',
      },
    ).trim();
    const cacheHome = path.join(dir, 'node22-cache');
    const compiled = path.join(cacheHome, 'rune', 'node-compile-cache');
    const log = path.join(dir, 'node22.log');
    const start = async () => {
      const t = await startRune({
        env: { XDG_CACHE_HOME: cacheHome },
        config: { host: { node: node22, log_file: log, log_level: 'debug' } },
      });
      try {
        return await explained(t, async () => {
          await t.lua('require("rune.host").wait()');
          const status = await t.lua<{ node: string; modules: string[] }>(
            'return require("rune.host").request("rune.status")',
          );
          // A feature's module answers too (its chunks load on this Node).
          expect(await t.lua('return require("rune.host").request("rune.ping")')).toBe('pong');
          const info = await t.lua<{ url: string }>(
            'return require("rune.host").request("rune.mcp.info")',
          );
          expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
          return status;
        });
      } finally {
        await t.close();
      }
    };
    const first = await start();
    expect(first.node).toMatch(/^v22\./);
    expect(first.modules).toContain('mcp');
    // Node writes the cache as the host exits; the entry keeps no V8 code cache of its own.
    const cached = () =>
      fs.existsSync(compiled) ? fs.readdirSync(compiled, { recursive: true }).length : 0;
    await waitFor(() => cached() > 0, 10000, "Node's compile cache");
    expect(fs.existsSync(path.join(cacheHome, 'rune', 'v8-code-cache'))).toBe(false);
    const records = () =>
      fs
        .readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string });
    expect(records().filter((r) => r.msg === 'code cache')).toEqual([]);
    expect(records().filter((r) => r.msg.includes('compile cache'))).toEqual([]);
    // A second start finds it and runs as well.
    expect((await start()).node).toBe(first.node);
  });

  it("names src/ files in the stack traces it logs for the features' code", async () => {
    const log = path.join(dir, 'stack.log');
    const t = await startRune({ config: { host: { log_file: log } } });
    await explained(t, async () => {
      // A request the chat module refuses for its arguments: the caller gets what was
      // wrong, and the log the stack of the handler that refused it.
      const answer = await t.lua<string>(
        'return select(2, pcall(require("rune.host").request, "rune.chat.open"))',
      );
      expect(answer).toContain('rune.chat.open: bad arguments');
      const records = fs
        .readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; err?: { stack?: string } });
      expect(records.filter((r) => r.msg === 'request failed')).toEqual([]);
      const stacks = records
        .filter((r) => r.msg === 'request with bad arguments')
        .map((r) => r.err?.stack ?? '');
      expect(stacks.length).toBeGreaterThan(0);
      expect(stacks[0]).toMatch(/\/src\/nvim\/chat\/index\.ts:\d+:\d+/);
    });
    await t.close();
  });

  it('leaves vim.lsp unloaded when no LSP client runs, and names the roots of those that do', async () => {
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(dir, 'lsp-')));
    const t = await startRune({ cwd: ws });
    await explained(t, async () => {
      await t.lua('require("rune.host").wait()');
      await t.lua('require("rune.host").request("rune.status")');
      // The handshake's workspace roots did not load Neovim's LSP client (several ms).
      expect(await t.lua('return package.loaded["vim.lsp"] == nil')).toBe(true);
      // A client with a workspace folder (its RPC in Lua: lsp.start's cmd may be a function).
      const folder = path.join(ws, 'sub');
      fs.mkdirSync(folder);
      await t.lua(
        `vim.lsp.start({
          name = 'fake',
          root_dir = ...,
          workspace_folders = { { uri = vim.uri_from_fname(select(2, ...)), name = 'sub' } },
          cmd = function()
            return {
              request = function(method, _, callback)
                if method == 'initialize' then callback(nil, { capabilities = {} }) end
                return true, 1
              end,
              notify = function() return true end,
              is_closing = function() return false end,
              terminate = function() end,
            }
          end,
        })`,
        [ws, folder],
      );
      expect(await t.lua('return require("rune.editor").roots()')).toEqual([ws, folder]);
    });
    await t.close();
  });

  it('asks Neovim one thing after the handshake: the config and every editor fact at once', async () => {
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(dir, 'ws-')));
    const t = await startRune({ cwd: ws });
    await explained(t, async () => {
      await t.lua('require("rune.host").wait()');
      const status = await t.lua<{
        modules: string[];
        startup_requests: number;
        channel: number;
      }>('return require("rune.host").request("rune.status")');
      // The host learnt its channel (from nvim_get_chan_info, see scripts/bundle.mjs): the
      // one jobstart() opened.
      expect(status.channel).toBe(await t.lua<number>('return require("rune.host").info().job'));
      // Every module started (MCP server, hub and plugins are on by default)…
      expect(status.modules).toEqual(
        expect.arrayContaining(['auth', 'providers', 'chat', 'mcp', 'hub', 'plugins']),
      );
      // …and between learning its channel and being ready the host made one request.
      expect(status.startup_requests).toBe(1);
    });
    await t.close();
  });

  it("loads the MCP SDK's server side when the first agent connects, not at start", async () => {
    const out = path.join(dir, 'imported-mcp.txt');
    const preload = importRecorder(out);
    const t = await startRune({ env: { NODE_OPTIONS: `--require=${preload}` } });
    try {
      await explained(t, async () => {
        await t.lua('require("rune.host").wait()');
        const info = await t.lua<{ url: string; token: string }>(
          'return require("rune.host").request("rune.mcp.info")',
        );
        const server = () => sdkParts(fs.readFileSync(out, 'utf8').trim().split('\n'), 'server');
        // The server listens (its address is known) without the SDK's server side.
        expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
        expect(server()).toEqual([]);
        const client = new Client({ name: 'e2e-lazy', version: '1' });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(info.url), {
            requestInit: { headers: { Authorization: `Bearer ${info.token}` } },
          }),
        );
        try {
          const { tools } = await client.listTools();
          expect(tools.map((x) => x.name)).toContain('read_buffer');
        } finally {
          await client.close();
        }
        expect(server()).toContain('server-mcp');
      });
    } finally {
      await t.close();
    }
  });
  it('starts no plugin process while no plugin is installed', async () => {
    const t = await startRune();
    try {
      await explained(t, async () => {
        await t.lua('require("rune.host").wait()');
        // Plugins have loaded (none) once this answers: a spare process would be running now.
        expect(await t.lua('return require("rune.host").request("rune.plugins.list")')).toEqual([]);
        const pid = await t.lua<number>('return vim.fn.jobpid(require("rune.host").info().job)');
        const children = () =>
          fs
            .readdirSync('/proc')
            .filter((d) => /^\d+$/.test(d))
            .filter((d) => {
              try {
                // /proc/<pid>/stat: "pid (comm) state ppid …" (proc(5)); comm may hold spaces.
                const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
                return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
              } catch {
                return false; // gone meanwhile
              }
            });
        expect(children()).toEqual([]);
      });
    } finally {
      await t.close();
    }
  });
});
