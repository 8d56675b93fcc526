/**
 * The classic remote-plugin route: `:UpdateRemotePlugins` registers
 * rplugin/node/rune in the node-client's plugin host, which loads the host
 * core from dist/. The commands it defines must behave as those of
 * plugin/rune.lua, with :RuneChat's range (a selection) and bang (a new chat).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { ROOT, waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, startRune } from '../helpers/e2e.js';

const HOST_PROG = path.join(ROOT, 'node_modules', '.bin', 'neovim-node-host');

let server: OllamaServer | undefined;
let ws: string | undefined;
afterAll(async () => {
  await server?.close();
  if (ws) fs.rmSync(ws, { recursive: true, force: true });
});

type Body = { messages: { role: string; content: string }[] };
const lastUser = (n: number) =>
  (server!.requestsTo('chat')[n]!.body as Body).messages.filter((m) => m.role === 'user').at(-1)!
    .content;

/** The chat buffers, by their chat id. */
const chats = (t: TestNvim) =>
  t.lua<Record<string, number>>(
    `local out = vim.empty_dict()
     for _, b in ipairs(vim.api.nvim_list_bufs()) do
       if vim.b[b].rune_chat_id then out[vim.b[b].rune_chat_id] = b end
     end
     return out`,
  );

const text = async (t: TestNvim, buf: number) =>
  (await t.lua<string[]>('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', [buf])).join('\n');

describe('the remote plugin (:UpdateRemotePlugins) with the built host core', () => {
  it('serves :RuneStatus, and :RuneChat with a range and a bang', async () => {
    server = await startOllamaServer();
    server.enqueue(
      'chat',
      { text: 'First chat.' },
      { text: 'About beta and gamma.' },
      { text: 'Third.' },
    );
    ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-rplugin-')));
    const t = await startRune({
      cwd: ws,
      preCmds: [`let g:node_host_prog = '${HOST_PROG}'`, 'let g:rune_rplugin = 1'],
      config: {
        providers: { local: { kind: 'ollama', url: server.url, retry: { max_attempts: 1 } } },
        chat: { start_insert: false },
      },
    });
    await explained(t, async () => {
      const manifest = path.join(t.home, 'rplugin.vim');
      // `--clean` skips loading the manifest; point it where a user's would be.
      await t.nvim.setVar('loaded_remote_plugins', manifest);
      await t.nvim.command('UpdateRemotePlugins');
      expect(fs.readFileSync(manifest, 'utf8')).toContain(
        path.join(ROOT, 'rplugin', 'node', 'rune'),
      );
      await t.nvim.command(`source ${manifest}`);

      await t.nvim.input(':RuneStatus<CR>');
      await waitFor(
        async () => /host ready/.test((await t.nvim.commandOutput('messages')) as string),
        30000,
        ':RuneStatus',
      );

      // A first chat, asked from the command line.
      await t.lua('vim.api.nvim_buf_set_lines(0, 0, -1, false, { "alpha", "beta", "gamma" })');
      await t.nvim.input(':RuneChat hello<CR>');
      await waitFor(() => server!.requestsTo('chat').length === 1, 20000, 'the first question');
      expect(lastUser(0)).toBe('hello');
      const first = await waitFor(
        async () => Object.values(await chats(t))[0],
        10000,
        'the first chat',
      );
      await waitFor(
        async () => (await text(t, first!)).includes('First chat.'),
        20000,
        'the first answer',
      );

      // Back in the source buffer: two lines selected, a new chat about them.
      await t.nvim.input('<C-w>p');
      await waitFor(
        async () => (await t.lua<string>('return vim.b.rune_chat_id or ""')) === '',
        10000,
        'the source window',
      );
      await t.nvim.input(':2,3RuneChat! explain these<CR>');
      await waitFor(() => server!.requestsTo('chat').length === 2, 20000, 'the second question');
      const sent = lastUser(1);
      expect(sent).toMatch(/^#selection\nexplain these\n/);
      expect(sent).toContain('beta\ngamma\n</context>');
      expect(sent).not.toContain('alpha');
      const all = await waitFor(
        async () => {
          const c = await chats(t);
          return Object.keys(c).length === 2 ? c : undefined;
        },
        10000,
        'a second chat',
      );
      const second = Object.values(all!).find((b) => b !== first)!;
      await waitFor(
        async () => (await text(t, second)).includes('About beta and gamma.'),
        20000,
        'the second answer',
      );
      // The first chat is untouched by the second question.
      expect(await text(t, first!)).not.toContain('explain these');

      // After :cd, a new chat belongs to the new working directory, and the host knows it.
      const sub = path.join(ws!, 'sub');
      fs.mkdirSync(sub);
      // From the source window (a chat window's chats keep the project they were started in).
      await t.nvim.input('<Esc><C-w>p');
      await waitFor(
        async () => (await t.lua<string>('return vim.b.rune_chat_id or ""')) === '',
        10000,
        'the source window',
      );
      await t.nvim.input(`:cd ${sub}<CR>`);
      await t.nvim.input(':RuneChat! third<CR>');
      await waitFor(() => server!.requestsTo('chat').length === 3, 20000, 'the third question');
      const third = await waitFor(
        async () => Object.values(await chats(t)).find((b) => b !== first && b !== second),
        10000,
        'a third chat',
      );
      expect(await t.lua('return vim.b[...].rune_chat_project', [third])).toBe(sub);
      const log = await t.lua<string>('return require("rune.host").log_file()');
      expect(
        fs
          .readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.includes('"working directory changed"'))
          .map((l) => (JSON.parse(l) as { cwd: string }).cwd),
      ).toEqual([sub]);
    });
  });
});
