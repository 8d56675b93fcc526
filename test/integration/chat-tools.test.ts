/**
 * Tool use in chat: the model (a wire-faithful Ollama server) asks for a tool,
 * the call goes through the approval prompt in a real headless Neovim, runs —
 * a tool of the real server-everything through the MCP hub, or one of the
 * host's own registry — and its result goes back to the model.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  startAnthropicServer,
  startOllamaServer,
  type OllamaServer,
} from '../helpers/servers/index.js';
import { waitFor } from '../helpers/nvim.js';
import { getHub, hubModule } from '../../src/nvim/hub/index.js';
import { getToolRegistry } from '../../src/nvim/tools.js';
import { ollamaAt, startChat, type ChatHarness } from './chat-helpers.js';

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

type Msg = { role: string; content: string; tool_calls?: unknown[]; tool_name?: string };
type Body = { messages: Msg[]; tools?: { function: { name: string } }[] };

const bodyOf = (s: OllamaServer, i: number) => s.requestsTo('chat')[i]!.body as Body;

/** Records the ids of the approval prompts lua/rune/approval.lua is asked to show. */
const STUB_SELECT = `
  _G.prompts = {}
  local approval = require('rune.approval')
  local ask = approval.ask
  approval.ask = function(req)
    table.insert(_G.prompts, req.id)
    return ask(req)
  end`;

/** Answers the `n`-th prompt (1-based) with `decision` once it shows; returns its text. */
async function answer(c: ChatHarness, n: number, decision: string): Promise<string> {
  const text = await waitFor(
    () =>
      c.t.lua<string>(
        `local s = require('rune.approval').shown()
         if s and s.id == _G.prompts[...] then return table.concat(s.lines, '\\n') end
         return nil`,
        [n],
      ),
    10000,
    `approval prompt ${n}`,
  );
  expect(await c.t.lua<boolean>('return require("rune.approval").answer(...)', [decision])).toBe(
    true,
  );
  return text;
}

async function ask(c: ChatHarness, question: string): Promise<number> {
  await c.t.nvim.command('RuneChat');
  const buf = await c.chatBuf();
  await c.t.lua('vim.api.nvim_buf_set_lines(..., -2, -1, false, { select(2, ...) })', [
    buf,
    question,
  ]);
  await c.t.lua('require("rune.chat").submit(...)', [buf]);
  return buf;
}

describe('tool use in chat', () => {
  it('offers a hub tool, asks, runs it on server-everything and sends the result back', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', {
      text: 'Let me echo that.',
      toolCalls: [{ name: 'everything__echo', input: { message: 'ping from chat' } }],
    });
    server.enqueue('chat', { text: 'The server said: ping from chat.' });
    const c = await startChat({
      providers: { local: ollamaAt(server.url) },
      setup: {
        mcp: {
          enabled: false,
          servers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] } },
        },
      },
      modules: [hubModule],
    });
    await c.t.lua(STUB_SELECT);
    const registry = getToolRegistry(c.host);
    await waitFor(() => !!registry.get('everything__echo'), 20000, 'the hub tools');

    const buf = await ask(c, 'Echo "ping from chat" please');
    const prompt = await answer(c, 1, 'once');
    expect(prompt).toContain('Rune chat wants to run echo (MCP server everything)');
    expect(prompt).toContain('message: ping from chat');
    await c.idle(buf);

    const first = bodyOf(server, 0);
    expect(first.tools?.map((t) => t.function.name)).toContain('everything__echo');
    const second = bodyOf(server, 1);
    const call = second.messages.find((m) => m.role === 'assistant' && m.tool_calls);
    expect(call?.tool_calls).toEqual([
      { function: { name: 'everything__echo', arguments: { message: 'ping from chat' } } },
    ]);
    const result = second.messages.find((m) => m.role === 'tool');
    expect(result).toMatchObject({ tool_name: 'everything__echo' });
    expect(result!.content).toContain('Echo: ping from chat');

    const text = await c.text(buf);
    expect(text).toContain('<details><summary>tool: everything__echo</summary>');
    expect(text).toContain('result:');
    expect(text).toContain('Echo: ping from chat');
    expect(text).toContain('The server said: ping from chat.');
    // The tool block is one fold in the chat window.
    const row = (await c.lines(buf)).findIndex((l) => l.startsWith('<details><summary>tool:'));
    expect(await c.t.lua<string>(`return vim.fn.foldlevel(${row + 1})`)).toBe(1);
    await server.close();
  });

  it('#mcp:server:uri attaches a resource of a hub server to the question', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'A summary.' });
    const c = await startChat({
      providers: { local: ollamaAt(server.url) },
      setup: {
        mcp: {
          enabled: false,
          servers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] } },
        },
      },
      modules: [hubModule],
    });
    await waitFor(() => !!getToolRegistry(c.host).get('everything__echo'), 20000, 'the hub');
    const list = await c.t.lua<
      { server: string; resources: { uri: string; mimeType?: string }[] }[]
    >('return require("rune.host").request("rune.hub.resources")');
    // The first resource whose content is text.
    let res: { uri: string } | undefined;
    let body = '';
    for (const r of list[0]!.resources) {
      const got = (await getHub(c.host)!.readResource('everything', r.uri)).contents[0];
      if (got && 'text' in got) {
        res = r;
        body = got.text;
        break;
      }
    }
    expect(res).toBeDefined();

    const buf = await ask(c, `Summarize #mcp:everything:${res!.uri}`);
    await c.idle(buf);
    const sent = bodyOf(server, 0).messages.at(-1)!.content;
    expect(sent).toContain(`<context name="#mcp:everything:${res!.uri}">\n${body}\n</context>`);
    expect(await c.text(buf)).toContain(`<details><summary>context: #mcp:everything:${res!.uri}`);

    // An unknown server is named, and nothing is sent.
    await c.t.lua(
      'vim.api.nvim_buf_set_lines(..., -2, -1, false, { "again #mcp:nowhere:x://y" })',
      [buf],
    );
    await c.t.lua('require("rune.chat").submit(...)', [buf]);
    const messages = (await c.t.nvim.commandOutput('messages')) as string;
    expect(messages).toContain('#mcp:nowhere:x://y: No MCP server named "nowhere" is configured;');
    expect(server.requestsTo('chat')).toHaveLength(1);
    await server.close();
  });

  it('runs the loop through Anthropic tool use: the result goes back as a tool_result block', async () => {
    const server = await startAnthropicServer();
    server.enqueue('messages', {
      text: 'Checking.',
      toolCalls: [{ id: 'toolu_42', name: 'lookup', input: { key: 'answer' } }],
    });
    server.enqueue('messages', { text: 'It is 42.' });
    const c = await startChat({
      providers: {
        claude: {
          kind: 'anthropic',
          url: server.url,
          api_key: 'sk-test',
          retry: { max_attempts: 1 },
        },
      },
    });
    getToolRegistry(c.host).register({
      name: 'lookup',
      description: 'Looks a key up.',
      inputSchema: { key: z.string() },
      annotations: { readOnlyHint: true },
      handler: ({ key }) => `${key} = 42`,
    });
    const buf = await ask(c, 'What is the answer?');
    await c.idle(buf);
    type Block = { type: string; id?: string; tool_use_id?: string; content?: unknown };
    type AMsg = { role: string; content: Block[] | string };
    const [first, second] = server
      .requestsTo('messages')
      .map((r) => r.body as { tools?: { name: string }[]; messages: AMsg[] });
    expect(first!.tools?.map((t) => t.name)).toContain('lookup');
    const assistant = second!.messages.find((m) => m.role === 'assistant')!;
    expect(assistant.content).toContainEqual(
      expect.objectContaining({ type: 'tool_use', id: 'toolu_42', name: 'lookup' }),
    );
    const last = second!.messages.at(-1)!;
    expect(last.role).toBe('user');
    expect(last.content).toContainEqual(
      expect.objectContaining({
        type: 'tool_result',
        tool_use_id: 'toolu_42',
        content: 'answer = 42',
      }),
    );
    expect(await c.text(buf)).toContain('It is 42.');
    await server.close();
  });

  it('an edit is reviewed in the approval window: only the hunks the user keeps are applied', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { toolCalls: [{ name: 'edit_two', input: {} }] });
    server.enqueue('chat', { text: 'Edited.' });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    getToolRegistry(c.host).register({
      name: 'edit_two',
      description: 'Proposes two hunks.',
      inputSchema: {},
      approval: 'review',
      handler: async (_args, ctx) => {
        const a = await ctx.review({
          target: '/work/notes.txt',
          hunks: [
            { start: 0, oldLines: ['one'], newLines: ['ONE'] },
            { start: 4, oldLines: ['five'], newLines: ['FIVE'] },
          ],
        });
        return `kept ${a.accepted.join(',')}`;
      },
    });
    const buf = await ask(c, 'edit');
    const shown = await waitFor(
      () => c.t.lua<{ kind: string; lines: string[] }>('return require("rune.approval").shown()'),
      10000,
      'the review',
    );
    expect(shown.kind).toBe('chat');
    expect(shown.lines[0]).toBe('Rune chat wants to edit /work/notes.txt');
    expect(shown.lines).toContain('+FIVE');
    // The user rejects the first hunk and applies the rest.
    await c.t.lua('require("rune.approval").answer("once", { 1 })');
    await c.idle(buf);
    const result = bodyOf(server, 1).messages.find((m) => m.role === 'tool')!;
    expect(result.content).toBe('kept 1');
    await server.close();
  });

  it('deny: the tool does not run and the model is told it was denied', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { toolCalls: [{ name: 'write_note', input: { text: 'hello' } }] });
    server.enqueue('chat', { text: 'Understood, I will not write it.' });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.lua(STUB_SELECT);
    const ran: string[] = [];
    getToolRegistry(c.host).register({
      name: 'write_note',
      description: 'Writes a note.',
      inputSchema: { text: z.string() },
      handler: ({ text }) => {
        ran.push(text);
        return 'written';
      },
    });

    const buf = await ask(c, 'Write a note');
    await answer(c, 1, 'deny');
    await c.idle(buf);
    expect(ran).toEqual([]);
    const result = bodyOf(server, 1).messages.find((m) => m.role === 'tool')!;
    expect(result.content).toMatch(/denied/);
    expect(result.content).toMatch(/did not run/);
    const text = await c.text(buf);
    expect(text).toContain('denied: write_note was denied in the editor.');
    expect(text).toContain('Understood, I will not write it.');
    await server.close();
  });

  it('"always with these arguments" skips the prompt for the same arguments only', async () => {
    const server = await startOllamaServer();
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.lua(STUB_SELECT);
    const ran: string[] = [];
    getToolRegistry(c.host).register({
      name: 'write_note',
      description: 'Writes a note.',
      inputSchema: { text: z.string() },
      handler: ({ text }) => {
        ran.push(text);
        return `wrote ${text}`;
      },
    });
    server.enqueue('chat', { toolCalls: [{ name: 'write_note', input: { text: 'a' } }] });
    server.enqueue('chat', { toolCalls: [{ name: 'write_note', input: { text: 'a' } }] });
    server.enqueue('chat', { toolCalls: [{ name: 'write_note', input: { text: 'b' } }] });
    server.enqueue('chat', { text: 'done' });
    const buf = await ask(c, 'notes');
    await answer(c, 1, 'args');
    // The same arguments again run without a prompt; new ones ask.
    await answer(c, 2, 'once');
    await c.idle(buf);
    expect(ran).toEqual(['a', 'a', 'b']);
    expect(await c.t.lua<number>('return #_G.prompts')).toBe(2);
    await server.close();
  });

  it('stops at the step limit and says so', async () => {
    const server = await startOllamaServer();
    server.script('chat', () => ({ toolCalls: [{ name: 'tick', input: {} }] }));
    const c = await startChat({
      providers: { local: ollamaAt(server.url) },
      chat: { max_tool_steps: 2 },
    });
    let ticks = 0;
    getToolRegistry(c.host).register({
      name: 'tick',
      description: 'Counts.',
      inputSchema: {},
      approval: 'auto',
      handler: () => `tick ${++ticks}`,
    });
    const buf = await ask(c, 'count forever');
    await c.idle(buf);
    expect(ticks).toBe(2);
    expect(server.requestsTo('chat')).toHaveLength(3);
    expect(await c.text(buf)).toContain('Stopped after 2 rounds of tool calls');
    await server.close();
  });

  it('cancelling while a call waits for approval stops the loop at once', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { toolCalls: [{ name: 'write_note', input: { text: 'x' } }] });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.lua(STUB_SELECT);
    const ran: string[] = [];
    getToolRegistry(c.host).register({
      name: 'write_note',
      description: 'Writes a note.',
      inputSchema: { text: z.string() },
      handler: ({ text }) => {
        ran.push(text);
        return 'written';
      },
    });
    const buf = await ask(c, 'write');
    await waitFor(
      async () =>
        (await c.t.lua<string[]>('return require("rune.approval").pending()')).length === 1,
      10000,
      'the approval prompt',
    );
    await c.t.lua('require("rune.chat").stop(...)', [buf]);
    await c.idle(buf);
    expect(await c.t.lua<string[]>('return require("rune.approval").pending()')).toEqual([]);
    // A late answer is dropped: the tool never runs, and the model is not asked again.
    await c.t.lua(
      'require("rune.host").notify("rune.chat.tool_answer", _G.prompts[1], "once", {})',
    );
    expect(ran).toEqual([]);
    expect(server.requestsTo('chat')).toHaveLength(1);
    // The tool's fold is closed before the cancelled line.
    expect(await c.text(buf)).toMatch(
      /<details><summary>tool: write_note<\/summary>[\s\S]*stopped before the tool finished\n\n<\/details>\n\n_\(cancelled\)_/,
    );
    await server.close();
  });
});
