// 1,000 concurrent MCP sessions against Rune's HTTP server (run in its own
// process so its memory is measured alone): errors, tool-call latency p50/p99,
// and resident memory per session. Each client is the official SDK client
// (initialize, initialized, its standalone SSE stream, then one tools/call).
// Run after `npm run build`: node bench/mcp-sessions.mjs   (SESSIONS=1000, PROF=<dir>, HEAP=<dir>)
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { median, p99, fmt, table } from './lib.mjs';

const SESSIONS = Number(process.env.SESSIONS ?? 1000);

if (process.argv[2] === 'server') {
  // The server process: Rune's server with the editor tools (over a small
  // in-memory editor) plus an `echo` tool, answering memory probes over IPC.
  const { McpHttpServer } = await import('../dist/mcp/server.js');
  const { ToolRegistry } = await import('../dist/tools/registry.js');
  const { registerEditorTools } = await import('../dist/tools/editor/index.js');
  const { z } = await import('zod');
  const registry = new ToolRegistry();
  const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);
  const buf = {
    id: 1,
    path: '/tmp/x',
    name: '/tmp/x',
    filetype: 'text',
    modified: false,
    loaded: true,
    lineCount: lines.length,
    changedtick: 1,
  };
  registerEditorTools(registry, {
    roots: async () => ['/tmp'],
    listBuffers: async () => [buf],
    buffer: async () => buf,
    bufferForPath: async () => buf,
    getLines: async (_b, s, e) => lines.slice(s, e),
    getText: async (_b, s, e) => lines.slice(s, e).join('\n'),
    setLines: async () => undefined,
    save: async () => undefined,
    cursor: async () => ({
      bufferId: 1,
      path: '/tmp/x',
      position: { line: 0, character: 0 },
      mode: 'n',
    }),
    selection: async () => undefined,
    diagnostics: async () => [],
    open: async () => buf,
    symbols: async () => [],
    definition: async () => [],
    command: async () => '',
    lua: async () => null,
  });
  registry.register({
    name: 'echo',
    description: 'echo',
    inputSchema: { text: z.string() },
    annotations: { readOnlyHint: true },
    handler: (a) => a.text,
  });
  const server = new McpHttpServer({ registry, maxSessions: SESSIONS + 10 });
  await server.listen();
  // Exits (writing the profile, if any) when the bench is done.
  process.on('SIGINT', () => process.exit(0));
  process.on('message', async (m) => {
    if (typeof m === 'object' && m.snapshot) {
      const v8 = await import('node:v8');
      globalThis.gc?.();
      process.send({ file: v8.writeHeapSnapshot(m.snapshot) });
    }
    if (m === 'rss') {
      globalThis.gc?.();
      globalThis.gc?.();
      setTimeout(
        () =>
          process.send({
            rss: process.memoryUsage().rss,
            heap: process.memoryUsage().heapUsed,
            sessions: server.sessionList().length,
          }),
        200,
      );
    }
  });
  process.send({ port: server.port, token: server.token, url: server.url });
} else {
  const child = fork(fileURLToPath(import.meta.url), ['server'], {
    // PROF=<dir> writes a CPU profile of the server process there.
    execArgv: [
      '--expose-gc',
      ...(process.env.PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () => new Promise((r) => child.once('message', r));
  const { url, token } = await next();
  const probe = async () => {
    child.send('rss');
    return next();
  };

  // Warm the server's code paths with a few sessions, then measure the baseline.
  for (let i = 0; i < 20; i++) {
    const c = new Client({ name: 'warm', version: '0' });
    const t = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    });
    await c.connect(t);
    await c.callTool({ name: 'echo', arguments: { text: 'x' } });
    await t.terminateSession();
    await c.close();
  }
  const before = await probe();
  // HEAP=<dir> writes heap snapshots of the server before and with the sessions open.
  const snapshot = async (name) => {
    if (!process.env.HEAP) return;
    child.send({ snapshot: `${process.env.HEAP}/${name}.heapsnapshot` });
    console.error(`heap snapshot: ${(await next()).file}`);
  };
  await snapshot('before');

  let errors = 0;
  const clients = [];
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: SESSIONS }, async (_, i) => {
      const c = new Client({ name: `bench-${i}`, version: '0' });
      try {
        await c.connect(
          new StreamableHTTPClientTransport(new URL(url), {
            requestInit: { headers: { Authorization: `Bearer ${token}` } },
          }),
        );
        clients.push(c);
      } catch {
        errors++;
      }
    }),
  );
  const connectMs = Date.now() - t0;
  const during = await probe();
  await snapshot('sessions');

  const lat = [];
  let callErrors = 0;
  await Promise.all(
    clients.map(async (c) => {
      const t = process.hrtime.bigint();
      try {
        const r = await c.callTool({ name: 'echo', arguments: { text: 'hello' } });
        if (r.isError) callErrors++;
      } catch {
        callErrors++;
      }
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }),
  );
  const after = await probe();

  // For scale: the same call, one at a time, on one session.
  const seq = [];
  for (let i = 0; i < 500; i++) {
    const t = process.hrtime.bigint();
    await clients[0].callTool({ name: 'echo', arguments: { text: 'hello' } });
    seq.push(Number(process.hrtime.bigint() - t) / 1e6);
  }

  table(
    `${SESSIONS} concurrent sessions (SDK clients over HTTP, one process each side)`,
    ['measure', 'value'],
    [
      ['sessions open on the server', during.sessions],
      ['connect errors', errors],
      ['time to open all sessions (ms)', connectMs],
      ['tools/call errors (all sessions at once)', callErrors],
      ['tools/call p50, all at once (ms)', fmt(median(lat), 1)],
      ['tools/call p99, all at once (ms)', fmt(p99(lat), 1)],
      ['one call at a time, p50 / p99 (ms)', `${fmt(median(seq), 2)} / ${fmt(p99(seq), 2)}`],
      ['server RSS before (MB)', fmt(before.rss / 1048576, 1)],
      ['server RSS with sessions (MB)', fmt(during.rss / 1048576, 1)],
      ['RSS per session (KB)', fmt((during.rss - before.rss) / 1024 / SESSIONS, 1)],
      ['heap per session (KB)', fmt((during.heap - before.heap) / 1024 / SESSIONS, 1)],
      ['RSS per session after calls (KB)', fmt((after.rss - before.rss) / 1024 / SESSIONS, 1)],
    ],
  );
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
  process.exit(0);
}
