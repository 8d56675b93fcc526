import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { McpHub, type HubUi } from '../../src/mcp/hub/clients.js';
import { parseServer, type ServerConfig } from '../../src/mcp/hub/config.js';
import { createMemoryLogger } from '../../src/core/log.js';
import { freePort } from '../helpers/ports.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const EVERYTHING = path.join(
  ROOT,
  'node_modules',
  '@modelcontextprotocol',
  'server-everything',
  'dist',
  'index.js',
);

const hubs: McpHub[] = [];
const procs: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.dispose()));
  for (const p of procs.splice(0)) p.kill('SIGKILL');
});

function stdioServer(name = 'everything', extra: Record<string, unknown> = {}): ServerConfig {
  return parseServer(
    name,
    { command: process.execPath, args: [EVERYTHING, 'stdio'], ...extra },
    'test',
    `test.${name}`,
  );
}

/** Starts server-everything over HTTP (`streamableHttp` or `sse`) and waits until it listens. */
async function httpServer(
  mode: 'streamableHttp' | 'sse',
  port?: number,
): Promise<{ port: number; proc: ChildProcess }> {
  const p = port ?? (await freePort());
  const proc = spawn(process.execPath, [EVERYTHING, mode], {
    env: { ...process.env, PORT: String(p) },
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
  return { port: p, proc };
}

function newHub(ui?: HubUi) {
  const logger = createMemoryLogger();
  const hub = new McpHub({ logger, ui, backoffMs: 50, maxBackoffMs: 200, connectTimeoutMs: 10000 });
  hubs.push(hub);
  return { hub, logger };
}

async function until<T>(fn: () => T | undefined | false, what: string, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function text(result: { content?: unknown }): string {
  return ((result.content as { type: string; text?: string }[]) ?? [])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

describe('MCP hub against the real server-everything', () => {
  it('connects over stdio, lists and calls tools, resources and prompts', async () => {
    const { hub } = newHub();
    await hub.setServers([stdioServer()]);
    const [status] = hub.status();
    expect(status).toMatchObject({ name: 'everything', state: 'connected', transport: 'stdio' });
    const tools = hub.tools().map((t) => t.qualifiedName);
    expect(tools).toContain('everything__echo');
    expect(tools).toContain('everything__get-sum');

    expect(text(await hub.callTool('everything__echo', { message: 'héllo' }))).toContain('héllo');
    expect(text(await hub.callTool('everything__get-sum', { a: 2, b: 40 }))).toContain('42');

    const resources = hub.resources('everything');
    expect(resources.length).toBeGreaterThan(0);
    const read = await hub.readResource('everything', resources[0]!.uri);
    expect(read.contents.length).toBeGreaterThan(0);

    const prompts = hub.prompts('everything');
    const simple = prompts.find((p) => !p.arguments?.some((a) => a.required));
    expect(simple).toBeDefined();
    const got = await hub.getPrompt('everything', simple!.name);
    expect(got.messages.length).toBeGreaterThan(0);
  });

  it('reports progress of a long-running tool and surfaces tool errors', async () => {
    const { hub } = newHub();
    await hub.setServers([stdioServer()]);
    const progress: number[] = [];
    const res = await hub.callTool(
      'everything__trigger-long-running-operation',
      { duration: 0.3, steps: 3 },
      { onprogress: (p) => progress.push(p.progress) },
    );
    // The server may send its last progress after the result; the ones before it arrive in order.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.slice(0, 2)).toEqual([1, 2]);
    expect(text(res)).toMatch(/completed/i);

    const bad = await hub.callTool('everything__get-sum', { a: 'x' });
    expect(bad.isError).toBe(true);
    await expect(hub.callTool('nowhere__echo', {})).rejects.toThrow(
      'No MCP server named "nowhere"',
    );
    await expect(hub.callTool('echo', {})).rejects.toThrow('is not a hub tool name');
  });

  it('honours disabled_tools and autoApprove from mcphub-style config', async () => {
    const { hub } = newHub();
    await hub.setServers([
      stdioServer('ev', { disabled_tools: ['echo'], autoApprove: ['get-sum'] }),
    ]);
    const tools = hub.tools();
    expect(tools.find((t) => t.name === 'echo')).toBeUndefined();
    expect(tools.find((t) => t.name === 'get-sum')?.autoApprove).toBe(true);
    expect(tools.find((t) => t.name === 'get-env')?.autoApprove).toBe(false);
    await expect(hub.callTool('ev__echo', { message: 'x' })).rejects.toThrow('disabled');
  });

  it('passes expanded env to stdio servers', async () => {
    const { hub } = newHub();
    const cfg = parseServer(
      'ev',
      {
        command: process.execPath,
        args: [EVERYTHING, 'stdio'],
        env: { RUNE_HUB_PROBE: '${env:RUNE_HUB_SRC}' },
      },
      'test',
      'test.ev',
      { ...process.env, RUNE_HUB_SRC: 'expanded-value' },
    );
    await hub.setServers([cfg]);
    expect(text(await hub.callTool('ev__get-env', {}))).toContain('expanded-value');
  });

  it('restarts a crashed stdio server and keeps its stderr in the log', async () => {
    const { hub, logger } = newHub();
    await hub.setServers([stdioServer()]);
    const pidOf = async () => {
      const res = await hub.callTool('everything__get-env', {});
      return text(res);
    };
    expect(await pidOf()).toContain('PATH');
    // Find the child by its command line and kill it.
    const { execFileSync } = await import('node:child_process');
    const pids = execFileSync('pgrep', ['-f', `${EVERYTHING} stdio`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    const mine = pids.filter((p) => {
      try {
        return (
          execFileSync('ps', ['-o', 'ppid=', '-p', String(p)], { encoding: 'utf8' }).trim() ===
          String(process.pid)
        );
      } catch {
        return false;
      }
    });
    expect(mine.length).toBe(1);
    process.kill(mine[0]!, 'SIGKILL');
    await until(
      () => hub.status()[0]!.state === 'failed' || hub.status()[0]!.reconnects > 0,
      'failure noticed',
    );
    await until(
      () => hub.status()[0]!.state === 'connected' && hub.status()[0]!.reconnects > 0,
      'reconnect',
    );
    expect(text(await hub.callTool('everything__echo', { message: 'back' }))).toContain('back');
    expect(logger.lines.some((l) => l.includes('"msg":"mcp server stderr"'))).toBe(true);
  });

  it('reports a server that cannot start, naming the command', async () => {
    const { hub } = newHub();
    await hub.setServers([
      parseServer(
        'broken',
        { command: process.execPath, args: ['-e', 'console.error("no way"); process.exit(2)'] },
        'test',
        'test.broken',
      ),
    ]);
    const s = hub.status()[0]!;
    expect(s.state).toBe('failed');
    expect(s.lastError).toContain('could not start');
    await expect(hub.callTool('broken__x', {})).rejects.toThrow(
      /MCP server "broken" is (failed|connecting)/,
    );
  });

  it('connects over Streamable HTTP and comes back after the server restarts', async () => {
    const { port, proc } = await httpServer('streamableHttp');
    const { hub } = newHub();
    await hub.setServers([
      parseServer('web', { url: `http://127.0.0.1:${port}/mcp` }, 'test', 'test.web'),
    ]);
    expect(hub.status()[0]).toMatchObject({ state: 'connected', transport: 'http' });
    expect(text(await hub.callTool('web__echo', { message: 'over http' }))).toContain('over http');

    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
    // The next call fails naming the server; the hub notices and reconnects by itself
    // once the server is back.
    await expect(hub.callTool('web__echo', { message: 'x' })).rejects.toThrow(
      /MCP server "web" cannot be reached .*reconnecting/,
    );
    expect(hub.status()[0]!.state).not.toBe('connected');
    await httpServer('streamableHttp', port);
    await until(() => hub.status()[0]!.state === 'connected', 'reconnect');
    expect(hub.status()[0]!.reconnects).toBeGreaterThanOrEqual(1);
    expect(text(await hub.callTool('web__echo', { message: 'again' }))).toContain('again');
  });

  it('falls back to the older HTTP+SSE transport for old servers', async () => {
    const { port } = await httpServer('sse');
    const { hub } = newHub();
    await hub.setServers([
      parseServer('old', { url: `http://127.0.0.1:${port}/sse` }, 'test', 'test.old'),
    ]);
    expect(hub.status()[0]).toMatchObject({ state: 'connected', transport: 'sse' });
    expect(text(await hub.callTool('old__echo', { message: 'legacy' }))).toContain('legacy');
  });

  it('answers sampling and elicitation requests through the UI', async () => {
    const asked: string[] = [];
    const ui: HubUi = {
      async sample(server, params) {
        asked.push(`sample:${server}`);
        const first = params.messages[0]!.content as { type: string; text?: string };
        return {
          model: 'local-test',
          role: 'assistant',
          content: { type: 'text', text: `answer to ${first.text}` },
        };
      },
      async elicit(server) {
        asked.push(`elicit:${server}`);
        return { action: 'decline' };
      },
    };
    const { hub } = newHub(ui);
    await hub.setServers([stdioServer()]);
    const s = await hub.callTool('everything__trigger-sampling-request', {
      prompt: 'two plus two',
      maxTokens: 10,
    });
    expect(text(s)).toContain('local-test');
    expect(text(s)).toMatch(/answer to .*two plus two/);
    const e = await hub.callTool('everything__trigger-elicitation-request', {});
    expect(text(e)).toMatch(/declined/i);
    expect(asked).toEqual(['sample:everything', 'elicit:everything']);
  });

  it('applies config changes: removes, disables, enables and adds servers', async () => {
    const { hub } = newHub();
    let changes = 0;
    hub.onDidChange(() => changes++);
    await hub.setServers([stdioServer('a'), stdioServer('b')]);
    expect(hub.status().map((s) => s.state)).toEqual(['connected', 'connected']);
    await hub.setServers([stdioServer('a'), stdioServer('b', { disabled: true })]);
    expect(hub.status().map((s) => [s.name, s.state])).toEqual([
      ['a', 'connected'],
      ['b', 'disabled'],
    ]);
    expect(hub.tools().every((t) => t.server === 'a')).toBe(true);
    await hub.enable('b');
    expect(hub.status()[1]!.state).toBe('connected');
    await hub.disable('a');
    expect(hub.status()[0]!.state).toBe('disabled');
    await hub.setServers([stdioServer('c')]);
    expect(hub.status().map((s) => s.name)).toEqual(['c']);
    expect(changes).toBeGreaterThan(3);
  });
});
