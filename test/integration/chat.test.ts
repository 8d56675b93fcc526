import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor } from '../helpers/nvim.js';
import { emptyRegistry, ollamaAt, Screen, startChat, type ChatHarness } from './chat-helpers.js';
import { LONG_CHAT, VIRTUAL_TEXT, WATCH_CHAT } from '../helpers/chat-probes.js';

const HEADER = '## Rune (local/llama3.2)';

type Body = { model: string; messages: { role: string; content: string }[] };

const lastUser = (server: OllamaServer, n = -1) => {
  const body = server.requestsTo('chat').at(n)!.body as Body;
  return body.messages.filter((m) => m.role === 'user').at(-1)!.content;
};

/** Types `question` under the last `## You` of the chat and submits it as the user would. */
async function ask(c: ChatHarness, question: string): Promise<number> {
  const buf = await c.chatBuf();
  await c.t.lua('vim.api.nvim_buf_set_lines(..., -2, -1, false, { select(2, ...) })', [
    buf,
    question,
  ]);
  await c.t.lua('require("rune.chat").submit(...)', [buf]);
  return buf;
}

/** An open chat whose model answers `First words` once `release()` is called, not before. */
async function heldChat(): Promise<{ server: OllamaServer; c: ChatHarness; release: () => void }> {
  const server = await startOllamaServer();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  server.enqueue('chat', { text: ['First', ' words'], stallAt: 0, stallUntil: gate });
  const c = await startChat({ providers: { local: ollamaAt(server.url) } });
  await c.t.nvim.command('RuneChat');
  return { server, c, release };
}

function savedChats(c: ChatHarness): { file: string; json: Record<string, unknown> }[] {
  const root = path.join(c.t.home, 'state', 'nvim', 'rune', 'chats');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).flatMap((d) =>
    fs
      .readdirSync(path.join(root, d))
      .filter((f) => f.endsWith('.json'))
      .map((f) => {
        const file = path.join(root, d, f);
        return { file, json: JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown> };
      }),
  );
}

describe(':RuneChat streaming', () => {
  it('writes the streamed text into the buffer exactly as sent, and one u removes the answer', async () => {
    const server = await startOllamaServer();
    const deltas = [
      'Hel',
      'lo',
      ', **wor',
      'ld**!\n\n```lua\nprint(',
      '"é ✓ \\"q\\"")\n```',
      '\n- a\n',
      '- b',
    ];
    server.enqueue('chat', { text: deltas, usage: { input: 12, output: 7 }, chunkDelayMs: 5 });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.nvim.command('RuneChat');
    const buf = await ask(c, 'Say hello');
    await c.idle(buf);
    const lines = await c.lines(buf);
    const text = lines.join('\n');
    const start = text.indexOf(`${HEADER}\n\n`) + `${HEADER}\n\n`.length;
    const end = text.indexOf('\n\n_12 in · 7 out');
    expect(start).toBeGreaterThan(20);
    expect(text.slice(start, end)).toBe(deltas.join(''));
    expect(lines.slice(0, 2)).toEqual(['## You', 'Say hello']);
    expect(lines.slice(-3)).toEqual(['', '## You', '']);
    expect(lastUser(server)).toBe('Say hello');
    expect(await c.t.lua('return vim.bo[...].filetype', [buf])).toBe('markdown');

    // One `u` in the chat window takes the whole answer back, leaving the question.
    await c.t.nvim.input('u');
    await waitFor(async () => (await c.lines(buf)).length === 2, 5000, 'undo');
    expect(await c.lines(buf)).toEqual(['## You', 'Say hello']);
    await server.close();
  });

  it('changes nothing in the buffer until the answer starts, then writes the question, header and first text in one change', async () => {
    const { server, c, release } = await heldChat();
    const buf = await c.chatBuf();
    await c.t.lua(WATCH_CHAT, [buf]);
    await ask(c, 'Say hi');
    await waitFor(() => server.requestsTo('chat').length === 1, 5000, 'the request');
    await waitFor(
      async () => (await c.t.lua<boolean>('return vim.b[...].rune_chat_busy', [buf])) === true,
      5000,
      'the chat to be busy',
    );
    const asked = await c.t.lua<number>('return #_G.changes');
    // Waiting for the model: the header is shown under the question, but not written.
    expect(await c.lines(buf)).toEqual(['## You', 'Say hi']);
    const virt = await c.t.lua<string[]>(VIRTUAL_TEXT, [buf]);
    expect(virt.join('\n')).toContain(HEADER);

    release();
    await c.idle(buf);
    const changes = (await c.t.lua<string[]>('return _G.changes')).slice(asked);
    // The first change holds the question, the header and the first text together.
    expect(changes[0]).toContain('Say hi');
    expect(changes[0]).toContain(HEADER);
    expect(changes[0]).toContain('First');
    expect((await c.text(buf)).includes(`${HEADER}\n\nFirst words`)).toBe(true);
    // The virtual header is gone with the first write.
    expect((await c.t.lua<string[]>(VIRTUAL_TEXT, [buf])).join('\n')).not.toContain(HEADER);
    await server.close();
  });

  // While the model is silent, the user types: a line of its own below the question, or
  // over the question itself. Nothing they typed is lost: it ends up under the next `## You`.
  for (const [what, edit] of [
    ['a line typed below the question', '-1, -1'],
    ['the question rewritten', '1, 2'],
  ] as const) {
    it(`keeps ${what} while the answer is pending, after the answer`, async () => {
      const { server, c, release } = await heldChat();
      const buf = await ask(c, 'Say hi');
      await waitFor(() => server.requestsTo('chat').length === 1, 5000, 'the request');
      await c.t.lua(`vim.api.nvim_buf_set_lines(..., ${edit}, false, { "typed" })`, [buf]);
      release();
      const lines = await waitFor(
        async () => {
          const busy = await c.t.lua<boolean>('return vim.b[...].rune_chat_busy == true', [buf]);
          const l = await c.lines(buf);
          return !busy && l.at(-3) === '## You' ? l : undefined;
        },
        10000,
        'the answer to finish',
      );
      // The question as sent, its answer, and what the user typed.
      expect(lines!.join('\n')).toContain(`## You\nSay hi\n\n${HEADER}\n\nFirst words\n`);
      expect(lines!.slice(-3)).toEqual(['## You', '', 'typed']);
      await server.close();
    });
  }

  it('a stop before the first token still writes the question and header, marked cancelled', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: ['never'], stallAt: 0 });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.nvim.command('RuneChat');
    const buf = await ask(c, 'wait');
    await waitFor(() => server.requestsTo('chat').length === 1, 5000, 'the request');
    await c.t.lua('require("rune.chat").stop(...)', [buf]);
    await server.waitForClose(1);
    await c.idle(buf);
    const lines = await c.lines(buf);
    expect(lines.slice(0, 2)).toEqual(['## You', 'wait']);
    expect(lines).toContain(HEADER);
    expect(lines).toContain('_(cancelled)_');
    expect(lines.join('\n')).not.toContain('never');
    await server.close();
  });

  it('reads back only to the current turn to fold a streamed write, however long the chat', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', {
      text: Array.from({ length: 20 }, (_, i) => `line ${i}\n`),
      chunkDelayMs: 20,
    });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.nvim.command('RuneChat');
    const buf = await c.chatBuf();
    await c.t.lua(LONG_CHAT, [buf]);
    await c.t.lua(WATCH_CHAT, [buf]);
    const before = (await c.lines(buf)).length;
    expect(before).toBeGreaterThan(3000);
    await ask(c, 'more');
    await c.idle(buf);
    expect((await c.text(buf)).includes('line 19')).toBe(true);
    // Every write folds the lines it touched and reads back to the answer's header; with the
    // turn headers as plain "=" lines, each write read back through the whole chat.
    const folds = await c.t.lua<number>('return _G.folds');
    expect(folds).toBeGreaterThan(0);
    expect(folds).toBeLessThan(before);
    await server.close();
  });

  it('shows tokens and time to first token after the answer and in require("rune").status()', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'ok', usage: { input: 31, output: 4 } });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.nvim.command('RuneChat');
    await c.idle(await ask(c, 'hi'));
    const text = await c.text();
    expect(text).toMatch(/_31 in · 4 out · first token \d+ ms · \d+\.\d s_/);
    expect(await c.t.lua('return require("rune").status()')).toMatch(
      /^rune: ready · chat: 31↑ 4↓ · ttft \d+ ms$/,
    );
    await server.close();
  });
});

describe(':RuneChat commands', () => {
  it('sends the question given to :RuneChat at once, with the Visual selection', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'Two lines.' });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.lua('vim.api.nvim_buf_set_lines(0, 0, -1, false, { "alpha", "beta", "gamma" })');
    // As typed: select two lines, then `:` gives the '<,'> range.
    await c.t.nvim.input('jVj:RuneChat explain these<CR>');
    await waitFor(() => server.requestsTo('chat').length === 1, 5000, 'the request');
    const sent = lastUser(server);
    expect(sent.startsWith('#selection\nexplain these\n\n')).toBe(true);
    expect(sent).toContain('<context name="#selection [No Name]:2-3">\nbeta\ngamma\n</context>');
    await c.idle();
    expect((await c.text()).startsWith('## You\n#selection\nexplain these\n')).toBe(true);
    await server.close();
  });

  it('coalesces a burst of deltas into fewer buffer writes, losing nothing', async () => {
    const server = await startOllamaServer();
    const deltas = Array.from({ length: 1000 }, (_, i) => (i % 10 === 9 ? `${i}\n` : `${i} `));
    server.enqueue('chat', { text: deltas });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.nvim.command('RuneChat');
    await c.idle(await ask(c, 'burst'));
    const text = await c.text();
    expect(text).toContain(`${HEADER}\n\n${deltas.join('')}\n\n_`);
    const written = c.host.logLines
      .map((l) => JSON.parse(l) as { msg: string; writes?: number })
      .find((l) => l.msg === 'chat answer written')!;
    process.stderr.write(`chat burst: ${deltas.length} deltas in ${written.writes} writes\n`);
    expect(written.writes).toBeGreaterThan(0);
    expect(written.writes).toBeLessThan(deltas.length);
    await server.close();
  });
});

describe(':RuneChat cancel', () => {
  const slow = { text: Array.from({ length: 400 }, (_, i) => `tok${i} `), chunkDelayMs: 20 };

  for (const how of ['<C-c> in insert mode', 'q in normal mode', ':RuneStop from another window']) {
    it(`${how} aborts the request (the server sees the connection close) and marks the answer cancelled`, async () => {
      const server = await startOllamaServer();
      server.enqueue('chat', slow);
      const c = await startChat({ providers: { local: ollamaAt(server.url) } });
      await c.t.nvim.command('RuneChat');
      const buf = await ask(c, 'count slowly');
      await waitFor(async () => (await c.text(buf)).includes('tok3 '), 5000, 'streaming');
      expect(server.closes).toBe(0);
      const t0 = performance.now();
      if (how.startsWith('<C-c>')) {
        await c.t.nvim.input('i');
        await c.t.nvim.input('<C-c>');
      } else if (how.startsWith('q')) {
        await c.t.nvim.input('q');
      } else {
        await c.t.nvim.command('wincmd p');
        await c.t.nvim.command('RuneStop');
      }
      await server.waitForClose(1);
      const ms = performance.now() - t0;
      process.stderr.write(
        `chat cancel (${how}): server saw the close after ${ms.toFixed(1)} ms\n`,
      );
      expect(server.closes).toBe(1);
      await c.idle(buf);
      const lines = await c.lines(buf);
      expect(lines).toContain('_(cancelled)_');
      const answer = lines.slice(lines.indexOf(HEADER) + 2, lines.indexOf('_(cancelled)_'));
      // What arrived before the stop stays; the rest never comes.
      expect(answer.join('\n')).toMatch(/^tok0 tok1 tok2 tok3 /);
      expect(answer.join('\n')).not.toContain('tok399');
      // The chat window stays open and usable.
      expect(await c.t.lua('return #vim.fn.win_findbuf(...)', [buf])).toBe(1);
      const saved = savedChats(c)[0]!.json as { messages: { status?: string }[] };
      expect(saved.messages[1]!.status).toBe('cancelled');
      await server.close();
    });
  }
});

describe(':RuneChat context', () => {
  it('sends the selection and the buffer in the request body and shows them folded', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'It adds.' });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    const dir = fs.mkdtempSync(path.join(c.t.home, 'proj-'));
    fs.mkdirSync(path.join(dir, '.git'));
    const file = path.join(dir, 'math.lua');
    fs.writeFileSync(file, 'local M = {}\nfunction M.add(a, b)\n  return a + b\nend\nreturn M\n');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'remember the milk\n');
    await c.t.nvim.command(`edit ${file}`);
    await c.t.nvim.command('2,4RuneChat');
    const buf = await c.chatBuf();
    expect(await c.lines(buf)).toEqual(['## You', '#selection']);
    await c.t.lua(
      'vim.api.nvim_buf_set_lines(..., -1, -1, false, { "what does it do? #buffer #file:notes.txt" })',
      [buf],
    );
    await c.t.lua('require("rune.chat").submit(...)', [buf]);
    await c.idle(buf);
    const sent = lastUser(server);
    expect(sent).toContain('#selection\nwhat does it do? #buffer #file:notes.txt');
    expect(sent).toContain(
      '<context name="#selection math.lua:2-4">\nfunction M.add(a, b)\n  return a + b\nend\n</context>',
    );
    expect(sent).toContain(
      '<context name="#buffer math.lua">\nlocal M = {}\nfunction M.add(a, b)\n  return a + b\nend\nreturn M\n</context>',
    );
    expect(sent).toContain('<context name="#file:notes.txt">\nremember the milk\n\n</context>');

    // In the chat, what was sent is one closed fold.
    const lines = await c.lines(buf);
    const open = lines.findIndex((l) => l.startsWith('<details><summary>context:')) + 1;
    const close = lines.indexOf('</details>') + 1;
    expect(lines[open - 1]).toBe(
      '<details><summary>context: #selection math.lua:2-4, #buffer math.lua, #file:notes.txt</summary>',
    );
    const win = await c.t.lua<number>('return vim.fn.win_findbuf(...)[1]', [buf]);
    const fold = await c.t.lua<[number, number]>(
      'local win, l = ... return vim.api.nvim_win_call(win, function() return { vim.fn.foldclosed(l), vim.fn.foldclosedend(l) } end)',
      [win, open + 1],
    );
    expect(fold).toEqual([open, close]);
    await server.close();
  });

  it('sends the diagnostics and the quickfix list', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'Fix the nil.' });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.nvim.command(`edit ${path.join(c.t.home, 'a.lua')}`);
    await c.t.lua(`
      local ns = vim.api.nvim_create_namespace('test')
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'x = nil + 1' })
      vim.diagnostic.set(ns, 0, { { lnum = 0, col = 4, message = 'attempt to add nil', severity = 1, source = 'lua_ls' } })
      vim.fn.setqflist({ { filename = 'b.lua', lnum = 3, col = 1, text = 'undefined global' } })`);
    await c.t.nvim.command('RuneChat');
    await c.idle(await ask(c, 'help #diagnostics #quickfix'));
    const sent = lastUser(server);
    expect(sent).toContain('a.lua:1:5: ERROR: attempt to add nil [lua_ls]');
    expect(sent).toContain('b.lua:3:1: undefined global');
    await server.close();
  });

  it('says which context word failed and sends nothing', async () => {
    const server = await startOllamaServer();
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.nvim.command('RuneChat');
    const buf = await ask(c, 'read #file:does/not/exist.txt');
    const messages = (await c.t.nvim.commandOutput('messages')) as string;
    expect(messages).toContain('#file:does/not/exist.txt: no such file; check the path');
    expect(server.requests.length).toBe(0);
    // The question stays, ready to fix.
    expect((await c.lines(buf)).at(-1)).toBe('read #file:does/not/exist.txt');
    await server.close();
  });

  it('completes the #context words in the chat buffer', async () => {
    const c = await startChat();
    await c.t.nvim.command('RuneChat');
    const words = await c.t.lua<{ word: string }[]>('return require("rune.chat").complete(0, "#")');
    expect(words.map((w) => w.word)).toEqual([
      '#buffer',
      '#selection',
      '#diagnostics',
      '#file:',
      '#quickfix',
      '#mcp:',
      '#git',
      '#gitlog',
    ]);
    expect(
      (await c.t.lua<{ word: string }[]>('return require("rune.chat").complete(0, "#di")')).map(
        (w) => w.word,
      ),
    ).toEqual(['#diagnostics']);
    // Through the real omnifunc, as <C-x><C-o> runs it.
    await c.t.nvim.input('ofix #qu<C-x><C-o><Esc>');
    await waitFor(async () => (await c.lines()).at(-1) === 'fix #quickfix', 5000, 'completion');
    // /prompts at the start of a line.
    expect(
      (await c.t.lua<{ word: string }[]>('return require("rune.chat").complete(0, "/")')).map(
        (w) => w.word,
      ),
    ).toEqual(['/explain', '/fix', '/tests', '/docs', '/review', '/simplify', '/commit']);
  });
});

describe(':RuneChatModel', () => {
  it('switching the model changes the request', async () => {
    const a = await startOllamaServer();
    const b = await startOllamaServer();
    a.enqueue('tags', { models: ['llama3.2'] });
    b.enqueue('tags', { models: ['qwen2.5:7b', 'phi4:latest'] });
    const c = await startChat({
      providers: {
        first: ollamaAt(a.url, { model: 'llama3.2' }),
        second: ollamaAt(b.url, { model: 'qwen2.5:7b' }),
      },
      setup: { default_provider: 'first' },
    });
    await c.t.nvim.command('RuneChat');
    await c.idle(await ask(c, 'one'));
    expect((a.requestsTo('chat')[0]!.body as Body).model).toBe('llama3.2');

    await c.t.lua(`vim.ui.select = function(items, opts, cb)
      _G.offered = vim.tbl_map(opts.format_item, items)
      for _, i in ipairs(items) do if i.model == 'phi4:latest' then return cb(i) end end
    end`);
    await c.t.nvim.command('RuneChatModel');
    expect(await c.t.lua('return _G.offered')).toEqual([
      '* first/llama3.2',
      '  second/qwen2.5:7b',
      '  second/phi4:latest',
    ]);
    await c.idle(await ask(c, 'two'));
    expect(b.requestsTo('chat').length).toBe(1);
    const body = b.requestsTo('chat')[0]!.body as Body;
    expect(body.model).toBe('phi4:latest');
    // The conversation so far goes along.
    expect(body.messages.filter((m) => m.role !== 'system').map((m) => m.content)).toEqual([
      'one',
      'Hello from Ollama',
      'two',
    ]);
    expect(await c.text()).toContain('## Rune (second/phi4:latest)');
    await a.close();
    await b.close();
  });
});

describe(':RuneChat errors', () => {
  const cases: {
    name: string;
    setup: (s: OllamaServer) => Promise<string> | string;
    expected: RegExp;
  }[] = [
    {
      name: 'no provider configured',
      setup: () => '',
      expected:
        /^> \[!ERROR\] No chat provider is configured: add one under `providers` in setup\(\) \(:help rune-providers\)\.$/,
    },
    {
      name: 'auth refused (401)',
      setup: (s) => {
        s.enqueue('chat', { status: 401, errorMessage: 'unauthorized' });
        return s.url;
      },
      expected:
        /^> \[!ERROR\] local refused the credentials: check providers\.local\.api_key in setup\(\) \(:help rune-providers\)\.$/,
    },
    {
      name: 'rate limited (429)',
      setup: (s) => {
        s.enqueue('chat', { status: 429, retryAfter: 7, errorMessage: 'slow down' });
        return s.url;
      },
      expected: /^> \[!ERROR\] local is rate limiting: submit again/,
    },
    {
      name: 'unreachable',
      setup: async (s) => {
        const url = s.url;
        await s.close();
        return url;
      },
      expected: /^> \[!ERROR\] Cannot reach local at http:\/\/127\.0\.0\.1:\d+: is it running\?/,
    },
  ];
  for (const k of cases) {
    it(`${k.name}: one short line naming the fix, details in the log`, async () => {
      const server = await startOllamaServer();
      const url = await k.setup(server);
      const c = await startChat(
        url ? { providers: { local: ollamaAt(url) } } : { registry: emptyRegistry() },
      );
      await c.t.nvim.command('RuneChat');
      const buf = await ask(c, 'hello?');
      await c.idle(buf);
      const lines = await c.lines(buf);
      const errors = lines.filter((l) => l.startsWith('> [!ERROR]'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(k.expected);
      expect(errors[0]!.length).toBeLessThan(140);
      expect(lines.join('\n')).not.toMatch(/\n\s+at |stack traceback|Error:/);
      expect(c.host.logLines.some((l) => l.includes('"chat answer failed"'))).toBe(true);
      // The chat carries on: the next prompt is open.
      expect(lines.slice(-2)).toEqual(['## You', '']);
      await server.close();
    });
  }
});

describe(':RuneChat errors in the config', () => {
  it('names the bad key when chat.provider names no configured provider', async () => {
    const server = await startOllamaServer();
    const c = await startChat({
      providers: { local: ollamaAt(server.url) },
      chat: { provider: 'nope' },
    });
    await c.t.nvim.command('RuneChat');
    const buf = await ask(c, 'hello?');
    await c.idle(buf);
    const errors = (await c.lines(buf)).filter((l) => l.startsWith('> [!ERROR]'));
    expect(errors).toEqual([
      '> [!ERROR] config: chat.provider: names "nope", which is not configured, and no loaded plugin supplies it (see :RunePlugins); configured: local; fix it in setup().',
    ]);
    expect(server.requests.length).toBe(0);
    await server.close();
  });
});

describe(':RuneChat window', () => {
  it('shows the conversation on screen in a vertical split', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'Use `vim.keymap.set`.', usage: { input: 5, output: 6 } });
    const c = await startChat({
      providers: { local: ollamaAt(server.url) },
      chat: { width: 50 },
    });
    const screen = await Screen.attach(c.t, 80, 24);
    await c.t.nvim.command('RuneChat');
    await c.idle(await ask(c, 'How do I map a key?'));
    await c.t.nvim.command('redraw!');
    await waitFor(
      () => screen.text().some((r) => r.includes('Use `vim.keymap.set`.')),
      5000,
      'screen',
    );
    const rows = screen.text();
    // The chat is the right-hand window, 50 columns wide, after a separator.
    const right = rows.slice(0, 22).map((r) => r.slice(29).replace(/\s+$/, ''));
    expect(right.slice(0, 9)).toEqual([
      '│## You',
      '│How do I map a key?',
      '│',
      `│${HEADER}`,
      '│',
      '│Use `vim.keymap.set`.',
      '│',
      expect.stringMatching(/^│_5 in · 6 out · first token \d+ ms · \d+\.\d s_$/),
      '│',
    ]);
    expect(right[9]).toBe('│## You');
    expect(rows[22]!.slice(29)).toMatch(/chat\/\d{8}-\d{6}-[0-9a-f]{8}/);
    await server.close();
  });

  it('opens a float when configured, and :RuneChat focuses the open chat', async () => {
    const c = await startChat({ chat: { layout: 'float' } });
    await c.t.nvim.command('RuneChat');
    const win = await c.t.lua<number>('return vim.api.nvim_get_current_win()');
    expect(await c.t.lua('return vim.api.nvim_win_get_config(0).relative')).toBe('editor');
    await c.t.nvim.command('wincmd p');
    await c.t.nvim.command('RuneChat');
    expect(await c.t.lua('return vim.api.nvim_get_current_win()')).toBe(win);
    // :RuneChat! starts another chat.
    await c.t.nvim.command('RuneChat!');
    const bufs = await c.t.lua<number>(
      'local n = 0 for _, b in ipairs(vim.api.nvim_list_bufs()) do if vim.b[b].rune_chat_id then n = n + 1 end end return n',
    );
    expect(bufs).toBe(2);
  });
});

describe(':RuneChatHistory', () => {
  it('saves every chat atomically and reopens it', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'First answer.' });
    const c = await startChat({ providers: { local: ollamaAt(server.url) } });
    await c.t.nvim.command('RuneChat');
    await c.idle(await ask(c, 'Remember this question'));
    const saved = savedChats(c);
    expect(saved).toHaveLength(1);
    const dir = path.dirname(saved[0]!.file);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(fs.statSync(saved[0]!.file).mode & 0o777).toBe(0o600);
    expect(saved[0]!.json).toMatchObject({
      title: 'Remember this question',
      messages: [
        { role: 'user', content: 'Remember this question' },
        { role: 'assistant', content: 'First answer.', status: 'done', provider: 'local' },
      ],
    });
    // Close the chat, start another, then reopen the first from the list.
    await c.t.nvim.command('RuneChat!');
    await c.t.nvim.command(`bwipeout! ${await c.chatBuf()}`);
    await c.t.lua(`vim.ui.select = function(items, opts, cb)
      _G.offered = vim.tbl_map(opts.format_item, items)
      cb(items[1])
    end`);
    // Temporary files a crash left behind are cleared once they are old; a fresh one may
    // belong to a write in progress and stays.
    const stale = path.join(dir, `.${path.basename(saved[0]!.file)}.0a0a0a0a0a0a.tmp`);
    const fresh = path.join(dir, `.${path.basename(saved[0]!.file)}.0b0b0b0b0b0b.tmp`);
    fs.writeFileSync(stale, '{"torn":');
    fs.writeFileSync(fresh, '{"torn":');
    const old = new Date(Date.now() - 3_600_000);
    fs.utimesSync(stale, old, old);
    await c.t.nvim.command('RuneChatHistory');
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(fresh)).toBe(true);
    expect(await c.t.lua('return _G.offered')).toEqual([
      expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d {2}Remember this question \(2 messages\)$/),
    ]);
    const text = await c.text(await c.t.lua<number>('return vim.api.nvim_get_current_buf()'));
    expect(text).toContain(
      '## You\nRemember this question\n\n## Rune (local/llama3.2)\n\nFirst answer.',
    );
    await server.close();
  });

  it('keeps the answer in the buffer and says so once when the history cannot be written', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { text: 'still here', chunkDelayMs: 5 });
    const c = await startChat({
      providers: { local: ollamaAt(server.url) },
      chat: { save_interval_ms: 1 },
    });
    // A file where the history folder should be: no write can succeed there.
    fs.mkdirSync(path.join(c.t.home, 'state', 'nvim', 'rune'), { recursive: true });
    fs.writeFileSync(path.join(c.t.home, 'state', 'nvim', 'rune', 'chats'), '');
    await c.t.nvim.command('RuneChat');
    await c.idle(await ask(c, 'save me'));
    expect(await c.text()).toContain(`${HEADER}\n\nstill here\n`);
    const messages = (await c.t.nvim.commandOutput('messages')) as string;
    const told = messages.split('\n').filter((l) => l.includes('could not save the chat'));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(
      /^\(rune\) could not save the chat \(.*\); it stays open in its buffer\. See :RuneLog\.$/,
    );
    await server.close();
  });
});
