/**
 * :RuneChat as a user runs it: the host spawned by the Lua layer from dist/,
 * keys typed into a real headless Neovim, a wire-faithful Ollama server as the
 * model. The answer streams into the buffer, stops on <C-c> and :RuneStop, and
 * the chat is saved on disk and reopened with :RuneChatHistory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, promptWaiting, startRune } from '../helpers/e2e.js';
import { LONG_CHAT, VIRTUAL_TEXT, WATCH_CHAT } from '../helpers/chat-probes.js';

const HEADER = '## Rune (local/llama3.2)';
const servers: OllamaServer[] = [];
const folders: string[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of folders) fs.rmSync(d, { recursive: true, force: true });
});

async function setup(): Promise<{ t: TestNvim; server: OllamaServer; ws: string }> {
  const server = await startOllamaServer();
  servers.push(server);
  const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-chat-')));
  folders.push(ws);
  const t = await startRune({
    cwd: ws,
    config: {
      providers: { local: { kind: 'ollama', url: server.url, retry: { max_attempts: 1 } } },
    },
  });
  return { t, server, ws };
}

const lines = (t: TestNvim, buf: number) =>
  t.lua<string[]>('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', [buf]);

/** The chat buffer, once `:RuneChat` has shown it in the current window. */
function chatBuf(t: TestNvim): Promise<number> {
  return waitFor(
    async () =>
      (await t.lua<number | null>(
        'return vim.b.rune_chat_id and vim.api.nvim_get_current_buf()',
      )) ?? 0,
    20000,
    'the chat window',
  );
}

/** Waits until the answer has ended and the chat offers an empty `## You` again. */
async function idle(t: TestNvim, buf: number): Promise<string[]> {
  const l = await waitFor(
    async () => {
      const busy = await t.lua<boolean>('return vim.b[...].rune_chat_busy == true', [buf]);
      const l = await lines(t, buf);
      return !busy && l.at(-1) === '' && l.at(-2) === '## You' && l.length > 2 ? l : undefined;
    },
    20000,
    'the answer to end',
  );
  return l!;
}

/** Waits until Neovim waits for keys in Insert mode (`startinsert` took effect). */
const inInsert = (t: TestNvim) =>
  waitFor(async () => (await t.nvim.mode).mode === 'i', 10000, 'Insert mode');

/** The saved chats of the state folder, parsed. */
function saved(t: TestNvim): { file: string; json: { messages: Record<string, unknown>[] } }[] {
  const root = path.join(t.home, 'state', 'nvim', 'rune', 'chats');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).flatMap((d) =>
    fs
      .readdirSync(path.join(root, d))
      .filter((f) => f.endsWith('.json'))
      .map((f) => {
        const file = path.join(root, d, f);
        return { file, json: JSON.parse(fs.readFileSync(file, 'utf8')) as never };
      }),
  );
}

describe(':RuneChat (built host, typed keys)', () => {
  it('streams the answer into the buffer, saves the chat, and :RuneChatHistory reopens it', async () => {
    const { t, server } = await setup();
    const deltas = ['Hel', 'lo', ', **wor', 'ld**!\n\n```lua\nprint(', '"é ✓")\n```'];
    server.enqueue('chat', { text: deltas, usage: { input: 12, output: 7 }, chunkDelayMs: 5 });
    await explained(t, async () => {
      await t.nvim.input(':RuneChat<CR>');
      const buf = await chatBuf(t);
      await inInsert(t);
      await t.nvim.input('Say hello<C-s>');
      const l = await idle(t, buf);
      const text = l.join('\n');
      expect(l.slice(0, 2)).toEqual(['## You', 'Say hello']);
      expect(text).toContain(`${HEADER}\n\n${deltas.join('')}\n\n_12 in · 7 out`);
      const body = server.requestsTo('chat')[0]!.body as { messages: { content: string }[] };
      expect(body.messages.at(-1)!.content).toBe('Say hello');

      // On disk: one chat file, private to the user, holding both turns.
      await waitFor(() => saved(t)[0]?.json.messages.length === 2, 10000, 'the chat to be saved');
      const [chat] = saved(t);
      expect(fs.statSync(chat!.file).mode & 0o777).toBe(0o600);
      // Written atomically: no temporary file is left beside it.
      expect(fs.readdirSync(path.dirname(chat!.file)).filter((f) => f.endsWith('.tmp'))).toEqual(
        [],
      );
      expect(chat!.json.messages).toMatchObject([
        { role: 'user', content: 'Say hello' },
        { role: 'assistant', content: deltas.join(''), status: 'done', provider: 'local' },
      ]);

      // A new chat, the old buffer gone; the saved one comes back from the list.
      await t.nvim.input('<Esc>:RuneChat!<CR>');
      await waitFor(
        async () => (await t.lua<number>('return vim.api.nvim_get_current_buf()')) !== buf,
        10000,
        'the new chat',
      );
      await t.nvim.command(`bwipeout! ${buf}`);
      await t.nvim.input('<Esc>:RuneChatHistory<CR>');
      // vim.ui.select's default is inputlist(): Neovim waits for the number typed.
      await promptWaiting(t, 'the list of chats');
      await t.nvim.input('1<CR>');
      const reopened = await waitFor(
        async () => {
          const b = await t.lua<number>('return vim.api.nvim_get_current_buf()');
          const text = (await lines(t, b)).join('\n');
          return text.includes('Say hello') ? text : undefined;
        },
        10000,
        'the reopened chat',
      );
      expect(reopened).toContain(`## You\nSay hello\n\n${HEADER}\n\n${deltas.join('')}`);
    });
  });

  it('leaves a long chat untouched until the answer starts, then writes it in one change that folds only the new turn', async () => {
    const { t, server } = await setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    server.enqueue('chat', { text: ['First', ' words'], stallAt: 0, stallUntil: gate });
    await explained(t, async () => {
      await t.nvim.input(':RuneChat<CR>');
      const buf = await chatBuf(t);
      await inInsert(t);
      // A long chat: 200 earlier turns above the question, watched from here on.
      await t.lua(LONG_CHAT, [buf]);
      await t.lua(WATCH_CHAT, [buf]);
      const before = (await lines(t, buf)).length;
      await t.nvim.input('Say hi<C-s>');
      await waitFor(() => server.requestsTo('chat').length === 1, 20000, 'the request');
      const typed = await t.lua<number>('_G.folds = 0 return #_G.changes');
      // Waiting for the model: the header shows under the question; the buffer is as typed.
      expect((await lines(t, buf)).slice(-2)).toEqual(['## You', 'Say hi']);
      const virt = await t.lua<string[]>(VIRTUAL_TEXT, [buf]);
      expect(virt.join('\n')).toContain(HEADER);

      release();
      const l = await idle(t, buf);
      expect(l.join('\n')).toContain(`## You\nSay hi\n\n${HEADER}\n\nFirst words`);
      expect((await t.lua<string[]>(VIRTUAL_TEXT, [buf])).join('\n')).not.toContain(HEADER);
      const changes = (await t.lua<string[]>('return _G.changes')).slice(typed);
      expect(changes[0]).toContain('Say hi');
      expect(changes[0]).toContain(HEADER);
      expect(changes[0]).toContain('First');
      // Folding the answer's writes read back to its header, never through the whole chat.
      const folds = await t.lua<number>('return _G.folds');
      expect(folds).toBeGreaterThan(0);
      expect(folds).toBeLessThan(before);
    });
  });

  it('stops a streaming answer on <C-c> in Insert mode and on :RuneStop, keeping what arrived', async () => {
    const { t, server } = await setup();
    const slow = (word: string) => ({
      text: Array.from({ length: 400 }, (_, i) => `${word}${i} `),
      chunkDelayMs: 20,
    });
    server.enqueue('chat', slow('tok'), slow('word'));
    await explained(t, async () => {
      await t.nvim.input(':RuneChat<CR>');
      const buf = await chatBuf(t);
      await inInsert(t);
      await t.nvim.input('count slowly<C-s>');
      await waitFor(
        async () => (await lines(t, buf)).join('\n').includes('tok3 '),
        20000,
        'tokens',
      );
      // Submitting left Insert mode; the user goes back and presses <C-c>. Typed as a person
      // does, one after the other: a <C-c> already queued behind the `i` interrupts Neovim and
      // flushes the `i` with it on a busy machine.
      await t.nvim.input('i');
      await inInsert(t);
      await t.nvim.input('<C-c>');
      await server.waitForClose(1);
      let l = await idle(t, buf);
      expect(l).toContain('_(cancelled)_');
      let answer = l.slice(l.indexOf(HEADER) + 2, l.indexOf('_(cancelled)_')).join('\n');
      expect(answer).toMatch(/^tok0 tok1 tok2 tok3 /);
      expect(answer).not.toContain('tok399');

      // A second question; this time :RuneStop, typed in the window the user came from.
      await t.nvim.input('<Esc>Giagain<C-s>');
      await waitFor(
        async () => (await lines(t, buf)).join('\n').includes('word3 '),
        20000,
        'tokens',
      );
      await t.nvim.input('<C-w>p:RuneStop<CR>');
      await server.waitForClose(2);
      l = await idle(t, buf);
      const second = l.slice(l.lastIndexOf(HEADER));
      expect(second).toContain('_(cancelled)_');
      answer = second.slice(2, second.indexOf('_(cancelled)_')).join('\n');
      expect(answer).toMatch(/^word0 word1 word2 word3 /);
      expect(answer).not.toContain('word399');
      expect(server.closes).toBe(2);

      await waitFor(
        () => saved(t)[0]?.json.messages.filter((m) => m.status === 'cancelled').length === 2,
        10000,
        'both answers saved as cancelled',
      );
    });
  });
});
