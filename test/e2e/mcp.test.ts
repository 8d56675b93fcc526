/**
 * An agent meets Rune's MCP server as in real use: the official SDK client
 * connects over Streamable HTTP with the address and token it reads from the
 * lock file, and through `rune mcp` (node dist/cli/main.js mcp, stdio). Each
 * edit waits for the user, who answers in Neovim by typing `:RuneMcp approve`
 * and a key in the prompt window. The host is the one the Lua layer spawned.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { bigBuffer, waitFor, type TestNvim } from '../helpers/nvim.js';
import { CLI, explained, shellEnv, startRune } from '../helpers/e2e.js';

interface Lock {
  url: string;
  token: string;
  pid: number;
  workspaceFolders: string[];
}

let t: TestNvim;
let ws: string;
let lock: Lock;

beforeAll(async () => {
  ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-mcp-')));
  fs.writeFileSync(path.join(ws, 'notes.txt'), 'alpha\nbeta\n');
  t = await startRune({
    cwd: ws,
    // Saving is allowed by a rule: such a call never waits for the user.
    config: { mcp: { approval: { rules: [{ tool: 'save_buffer', action: 'allow' }] } } },
  });
  // The user's first command starts the host, and with it the MCP server.
  await t.nvim.input(':RuneStatus<CR>');
  const dir = path.join(t.home, 'state', 'nvim', 'rune', 'mcp');
  lock = await explained(t, () =>
    waitFor(
      () => {
        const f = fs.existsSync(dir) && fs.readdirSync(dir).find((n) => n.endsWith('.lock'));
        return f ? (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Lock) : undefined;
      },
      20000,
      'the lock file',
    ),
  ).then((l) => l!);
});

afterAll(async () => {
  await t?.close();
  fs.rmSync(ws, { recursive: true, force: true });
});

function textOf(result: unknown): string {
  const r = result as { content?: { type: string; text?: string }[] };
  return r.content?.find((c) => c.type === 'text')?.text ?? '';
}

const bufferLines = () =>
  t.lua<string[]>(
    `for _, b in ipairs(vim.api.nvim_list_bufs()) do
       if vim.api.nvim_buf_get_name(b) == ... then return vim.api.nvim_buf_get_lines(b, 0, -1, false) end
     end`,
    [path.join(ws, 'notes.txt')],
  );

/** The text of the approval prompt the user sees (a floating window), once it shows. */
async function promptShown(): Promise<string> {
  const text = await waitFor(
    () =>
      t.lua<string>(
        `for _, w in ipairs(vim.api.nvim_list_wins()) do
           if vim.api.nvim_win_get_config(w).relative ~= '' then
             local l = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(w), 0, -1, false)
             if (l[1] or ''):find('wants to', 1, true) then return table.concat(l, '\\n') end
           end
         end
         return ''`,
      ),
    20000,
    'the approval prompt',
  );
  return text!;
}

/** Edits notes.txt through `client` and answers the prompt with `key`, as the user would. */
async function editWithApproval(
  client: Client,
  from: string,
  to: string,
  key: string,
): Promise<{ prompt: string; result: unknown }> {
  await client.callTool({ name: 'open_file', arguments: { path: 'notes.txt' } });
  const call = client.callTool({
    name: 'edit_buffer',
    arguments: { replacements: [{ search: from, replace: to }] },
  });
  const prompt = await promptShown();
  // The prompt does not take the focus; the user goes there and answers.
  await t.nvim.input(`<Esc>:RuneMcp approve<CR>${key}`);
  return { prompt, result: await call };
}

/** An SDK client over HTTP that notes the content type of each answer to a `method` request. */
async function watchedClient(name: string, method: string, types: string[]): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(lock.url), {
      requestInit: { headers: { Authorization: `Bearer ${lock.token}` } },
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (init?.method === method) types.push(res.headers.get('content-type') ?? '');
        return res;
      },
    }),
  );
  return client;
}

describe('MCP server (built host) with the official SDK client', () => {
  it('connects over HTTP with the lock file, and an edit waits for the user to approve it', async () => {
    expect(lock.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(lock.workspaceFolders).toContain(ws);
    expect(fs.statSync(path.join(t.home, 'state', 'nvim', 'rune', 'mcp')).mode & 0o777).toBe(0o700);
    // Without the token from the lock file, the server answers nothing else.
    const bare = await fetch(lock.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(bare.status).toBe(401);
    const client = new Client({ name: 'e2e-http', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(lock.url), {
        requestInit: { headers: { Authorization: `Bearer ${lock.token}` } },
      }),
    );
    try {
      await explained(t, async () => {
        const { tools } = await client.listTools();
        expect(tools.map((x) => x.name)).toEqual(
          expect.arrayContaining(['read_file', 'open_file', 'edit_buffer']),
        );
        const read = await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } });
        expect(textOf(read)).toBe('alpha\nbeta');

        // Denied with `d`: nothing changes, and the agent is told.
        const denied = await editWithApproval(client, 'beta', 'nope', 'd');
        expect(denied.prompt).toMatch(/^e2e-http 1\.0\.0 wants to edit .*notes\.txt/);
        expect((denied.result as { isError?: boolean }).isError).toBe(true);
        expect(await bufferLines()).toEqual(['alpha', 'beta']);

        // Applied with <CR> (every hunk accepted).
        const ok = await editWithApproval(client, 'beta', 'gamma', '<CR>');
        expect(ok.prompt).toContain('-beta\n+gamma');
        expect((ok.result as { isError?: boolean }).isError).toBeFalsy();
        expect(await bufferLines()).toEqual(['alpha', 'gamma']);
      });
    } finally {
      await client.close();
    }
  });

  it('answers a plain call as one JSON response and streams a call that reports progress', async () => {
    const types: string[] = [];
    const client = new Client({ name: 'e2e-json', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(lock.url), {
        requestInit: { headers: { Authorization: `Bearer ${lock.token}` } },
        fetch: async (url, init) => {
          const res = await fetch(url, init);
          types.push(res.headers.get('content-type') ?? '');
          return res;
        },
      }),
    );
    try {
      await explained(t, async () => {
        const read = await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } });
        expect(textOf(read)).toMatch(/^alpha\n/);
        expect(types.at(-1)).toBe('application/json');
        const seen: string[] = [];
        const tail = await client.callTool(
          { name: 'tail_file', arguments: { path: 'notes.txt', lines: 2, max_seconds: 0 } },
          undefined,
          { onprogress: (p) => seen.push(p.message ?? '') },
        );
        expect((tail as { isError?: boolean }).isError).toBeFalsy();
        expect(seen[0]).toMatch(/^alpha\n/);
        expect(types.at(-1)).toBe('text/event-stream');
        // A protocol version the server does not speak is refused, as the SDK refuses it.
        const sid = client.transport?.sessionId ?? '';
        const bad = await fetch(lock.url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${lock.token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-session-id': sid,
            'mcp-protocol-version': '1999-01-01',
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list' }),
        });
        expect(bad.status).toBe(400);
        expect(await bad.text()).toContain('Unsupported protocol version: 1999-01-01');
      });
    } finally {
      await client.close();
    }
  });

  it('reads 10,000 lines exactly, over HTTP and through `rune mcp`, and edits lines far apart in them', async () => {
    // About 600 KB: Neovim sends it in slices (lua/rune/editor.lua) and the host writes the
    // answer from those pieces (src/core/text-pieces.ts), on both ways out.
    const { buf, text: want } = await bigBuffer(t);
    const http = new Client({ name: 'e2e-big', version: '1.0.0' });
    await http.connect(
      new StreamableHTTPClientTransport(new URL(lock.url), {
        requestInit: { headers: { Authorization: `Bearer ${lock.token}` } },
      }),
    );
    const stdio = new Client({ name: 'e2e-big-stdio', version: '1.0.0' });
    await stdio.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'mcp'],
        env: shellEnv(t),
        cwd: ws,
      }),
    );
    try {
      await explained(t, async () => {
        for (const client of [http, stdio, http]) {
          const r = await client.callTool({
            name: 'read_buffer',
            arguments: { buffer: buf, start_line: 1, end_line: 10000 },
          });
          expect(textOf(r)).toBe(want);
        }
        // Range edits far apart in the same buffer: each hunk is shown at its line, and
        // the buffer ends up exactly as the edits say (an edit reads only its lines).
        const call = http.callTool({
          name: 'edit_buffer',
          arguments: {
            buffer: buf,
            edits: [
              {
                range: { start: { line: 4999, character: 0 }, end: { line: 4999, character: 4 } },
                newText: 'LINE',
              },
              {
                range: { start: { line: 19, character: 10 }, end: { line: 21, character: 0 } },
                newText: ' joined\nnew ',
              },
              {
                range: { start: { line: 12000, character: 0 }, end: { line: 12000, character: 0 } },
                newText: '\nthe end',
              },
            ],
          },
        });
        const prompt = await promptShown();
        expect(prompt).toContain('hunk 1/3 at line 20');
        expect(prompt).toContain('hunk 2/3 at line 5000');
        expect(prompt).toContain('hunk 3/3 at line 10001');
        await t.nvim.input(`<Esc>:RuneMcp approve<CR><CR>`);
        expect(JSON.parse(textOf(await call))).toMatchObject({ applied: 3, hunks: 3 });
        const lines = want.split('\n');
        lines[4999] = `LINE${lines[4999]!.slice(4)}`;
        lines.splice(19, 3, `${lines[19]!.slice(0, 10)} joined`, `new ${lines[21]}`);
        lines.push('the end');
        expect(
          await t.lua<string[]>('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', [buf]),
        ).toEqual(lines);
      });
    } finally {
      await http.close();
      await stdio.close();
      await t.lua('vim.api.nvim_buf_delete(..., { force = true })', [buf]);
    }
  });

  it('answers a call the approval rules or an "always" settle as plain JSON, and streams one that waits for the user', async () => {
    const types: string[] = [];
    const client = await watchedClient('e2e-types', 'POST', types);
    try {
      await explained(t, async () => {
        fs.writeFileSync(path.join(ws, 'saved.txt'), 'kept\n');
        await client.callTool({ name: 'open_file', arguments: { path: 'saved.txt' } });
        types.length = 0;
        const saved = await client.callTool({
          name: 'save_buffer',
          arguments: { buffer: 'saved.txt' },
        });
        expect(saved.isError).toBeFalsy();
        expect(types).toEqual(['application/json']);
        // An edit waits for the user (here denied): its answer comes on a stream.
        const { result } = await editWithApproval(client, 'alpha', 'ALPHA', 'd');
        expect((result as { isError?: boolean }).isError).toBe(true);
        expect(types.at(-1)).toBe('text/event-stream');
        // Answered "always", the next call of that tool is settled at once: plain JSON.
        const write = (content: string) =>
          client.callTool({ name: 'write_file', arguments: { path: 'always.txt', content } });
        const first = write('one\n');
        await promptShown();
        await t.nvim.input('<Esc>:RuneMcp approve<CR>A');
        expect((await first).isError).toBeFalsy();
        types.length = 0;
        expect((await write('two\n')).isError).toBeFalsy();
        expect(types).toEqual(['application/json']);
        expect(fs.readFileSync(path.join(ws, 'always.txt'), 'utf8')).toBe('two\n');
      });
    } finally {
      await client.close();
    }
  });

  it('tells a subscribed agent of buffer changes on its standalone GET stream', async () => {
    const streams: string[] = [];
    const client = await watchedClient('e2e-watch', 'GET', streams);
    try {
      await explained(t, async () => {
        const updates: string[] = [];
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
          updates.push(n.params.uri);
        });
        const b = await t.lua<number>(`local b = vim.fn.bufadd(...) vim.fn.bufload(b) return b`, [
          path.join(ws, 'notes.txt'),
        ]);
        await client.subscribeResource({ uri: `nvim://buffer/${b}` });
        await waitFor(() => streams.length > 0, 10000, 'the standalone GET stream');
        expect(streams[0]).toBe('text/event-stream');
        await t.lua(
          `vim.api.nvim_buf_set_lines(..., -1, -1, false, { 'delta' }); vim.api.nvim_exec_autocmds('TextChanged', { buffer = ... })`,
          [b],
        );
        await waitFor(
          () => updates.includes(`nvim://buffer/${b}`),
          10000,
          'resources/updated for the buffer',
        );
        await t.lua(`vim.api.nvim_buf_set_lines(..., -2, -1, false, {})`, [b]);
      });
    } finally {
      await client.close();
    }
  });

  it('`rune mcp` finds this Neovim from its folder and serves the same tools over stdio', async () => {
    const client = new Client({ name: 'e2e-stdio', version: '2.0.0' });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp'],
      env: shellEnv(t),
      cwd: ws,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await client.connect(transport).catch((err: Error) => {
        throw new Error(`rune mcp failed: ${err.message}\n${stderr}`);
      });
      await explained(t, async () => {
        const read = await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } });
        expect(textOf(read)).toMatch(/^alpha\n/);
        // The other test may have edited the buffer already: take its second line as it is.
        const from = ((await bufferLines()) ?? ['alpha', 'beta'])[1]!;
        const ok = await editWithApproval(client, from, 'delta', '<CR>');
        expect(ok.prompt).toMatch(/^e2e-stdio 2\.0\.0 wants to edit .*notes\.txt/);
        expect((ok.result as { isError?: boolean }).isError).toBeFalsy();
        expect(await bufferLines()).toEqual(['alpha', 'delta']);
      });
    } finally {
      await client.close();
    }
  });
});
