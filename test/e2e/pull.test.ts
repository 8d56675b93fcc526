/**
 * :RunePull through the built host: a wire-faithful Ollama streams /api/pull progress
 * (NDJSON ProgressResponse lines), Neovim shows it updating in place (0.12: one progress
 * message by id; 0.10: one echo line, only the final state kept in :messages), and the
 * pull can be cancelled, which abandons the request.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, promptWaiting, startRune } from '../helpers/e2e.js';
import { progressSeen, recordProgress } from '../helpers/progress.js';

const servers: OllamaServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function setup(): Promise<{ t: TestNvim; server: OllamaServer; v012: boolean }> {
  const server = await startOllamaServer({ strictModels: true });
  servers.push(server);
  const t = await startRune({ config: { providers: { ollama: { url: server.url } } } });
  // Every update the host sends, and (0.12) every Progress event Neovim emits.
  const v012 = await recordProgress(t);
  return { t, server, v012 };
}

const seen = progressSeen;
const until = (t: TestNvim, status: string) =>
  waitFor(
    async () => (await seen(t)).some((s) => s.status === status),
    20000,
    `a ${status} update`,
  );

describe(':RunePull (built host, Ollama double)', () => {
  it('pulls with progress that updates in place, and the model is then listed', async () => {
    const { t, server, v012 } = await setup();
    server.enqueue('pull', { pull: { total: 4000, steps: 4 } });
    await explained(t, async () => {
      await t.nvim.command('RunePull qwen3:4b');
      await until(t, 'success');
      const s = await seen(t);
      expect(s.map((x) => x.percent).filter((p) => p !== undefined)).toEqual([
        0, 25, 50, 75, 100, 100,
      ]);
      expect(s.map((x) => x.text)).toContain('pulling dde5aa3fc5ff 50%');
      expect(s.at(-1)).toMatchObject({ status: 'success', text: 'done' });
      expect(server.requestsTo('pull')[0]!.body).toEqual({ model: 'qwen3:4b', stream: true });
      if (v012) {
        const ev = await t.lua<{ id: string; status: string }[]>('return _G.events');
        expect(new Set(ev.map((e) => e.id))).toEqual(new Set(['rune.pull.qwen3:4b']));
        expect(ev.at(-1)!.status).toBe('success');
      }
      const messages = String(await t.nvim.commandOutput('messages'));
      expect(messages.match(/pulling dde5aa3fc5ff/g)).toBeNull();
      const models = await t.lua<Record<string, { id: string }[]>>(
        "return require('rune.host').request('rune.providers.models', 'ollama')",
      );
      expect(models.ollama!.map((m) => m.id)).toContain('qwen3:4b');
    });
    await t.close();
  });

  it('says why a pull failed', async () => {
    const { t, server } = await setup();
    server.enqueue('pull', { pullError: 'pull model manifest: file does not exist' });
    await explained(t, async () => {
      await t.nvim.command('RunePull nosuch');
      await until(t, 'failed');
      expect((await seen(t)).at(-1)!.text).toBe(
        'Ollama could not pull nosuch: pull model manifest: file does not exist',
      );
    });
    await t.close();
  });

  it(':RunePull! cancels the pull and the request is abandoned', async () => {
    const { t, server } = await setup();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    server.enqueue('pull', { pull: { total: 4000, steps: 4 }, stallAt: 3, stallUntil: gate });
    await explained(t, async () => {
      await t.nvim.command('RunePull qwen3:4b');
      await waitFor(
        async () => (await seen(t)).some((s) => s.percent === 50),
        20000,
        'progress at 50%',
      );
      const closed = server.waitForClose();
      await t.nvim.command('RunePull!');
      await until(t, 'cancel');
      await closed;
      expect((await seen(t)).at(-1)).toMatchObject({ status: 'cancel', text: 'cancelled' });
    });
    open();
    await t.close();
  });

  it("cancels when Neovim's progress message is cancelled (0.12 Progress event)", async () => {
    const { t, server, v012 } = await setup();
    if (!v012) {
      // 0.10 has no progress messages to cancel: the echo line is all there is.
      expect(await t.lua<number>("return vim.fn.exists('##Progress')")).toBe(0);
      await t.close();
      return;
    }
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    server.enqueue('pull', { pull: { total: 4000, steps: 4 }, stallAt: 3, stallUntil: gate });
    await explained(t, async () => {
      await t.nvim.command('RunePull qwen3:4b');
      await waitFor(async () => (await seen(t)).some((s) => s.percent === 50), 20000, '50%');
      const closed = server.waitForClose();
      await t.lua(
        "vim.api.nvim_echo({ { 'cancel' } }, false, { id = 'rune.pull.qwen3:4b', kind = 'progress', source = 'rune', status = 'cancel', data = { rune = 'pull.qwen3:4b' } })",
      );
      await closed;
      await until(t, 'cancel');
    });
    open();
    await t.close();
  });

  /** A Neovim whose chat model is not pulled, and a chat that asked once (and got the error). */
  async function missingModel(): Promise<{
    t: TestNvim;
    server: OllamaServer;
    chatText: (re: RegExp) => Promise<string>;
  }> {
    const server = await startOllamaServer({ strictModels: true });
    servers.push(server);
    server.script('chat', () => ({ text: 'Pulled and ready' }));
    const t = await startRune({
      config: { providers: { ollama: { url: server.url, model: 'qwen3:4b' } } },
    });
    // The questions vim.ui.select is asked (its default, inputlist(), answers the keys).
    await t.lua(`_G.asked, _G.done = {}, false
      local select = vim.ui.select
      vim.ui.select = function(items, opts, cb) table.insert(_G.asked, opts.prompt); return select(items, opts, cb) end
      local p = require('rune.progress'); local orig = p.update
      p.update = function(k, x) if x.status == 'success' then _G.done = true end; orig(k, x) end`);
    const chatText = async (re: RegExp) =>
      (await waitFor(
        async () => {
          const l = (
            await t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
          ).join('\n');
          return re.test(l) ? l : undefined;
        },
        20000,
        `the chat to match ${re}`,
      ))!;
    await t.nvim.input(':RuneChat<CR>');
    await waitFor(async () => (await t.nvim.mode).mode === 'i', 20000, 'Insert mode');
    await t.nvim.input('Hi<C-s>');
    return { t, server, chatText };
  }

  it('a chat with a model that is not pulled asks to pull it; yes pulls it with progress, then it answers', async () => {
    const { t, server, chatText } = await missingModel();
    server.enqueue('pull', { pull: { total: 4000, steps: 4 } });
    await explained(t, async () => {
      await promptWaiting(t, 'the question whether to pull');
      await t.nvim.input('1<CR>');
      await waitFor(async () => t.lua<boolean>('return _G.done'), 20000, 'the pull');
      expect(await t.lua<string[]>('return _G.asked')).toEqual([
        `Ollama at ${server.url} has no model "qwen3:4b". Pull it now?`,
      ]);
      expect(server.requestsTo('pull').map((r) => r.body)).toEqual([
        { model: 'qwen3:4b', stream: true },
      ]);
      const first = await chatText(/\[!ERROR\]/);
      expect(first).toContain(
        'has no model "qwen3:4b": pull it with :RunePull qwen3:4b (or `ollama pull qwen3:4b`)',
      );
      await t.nvim.input('<Esc>');
      await t.nvim.input('GAAgain<C-s>');
      await chatText(/Pulled and ready/);
    });
    await t.close();
  });

  it('answering no pulls nothing, says how to pull later, and does not ask again', async () => {
    const { t, server, chatText } = await missingModel();
    await explained(t, async () => {
      await promptWaiting(t, 'the question whether to pull');
      await t.nvim.input('2<CR>');
      await waitFor(
        async () =>
          String(await t.nvim.commandOutput('messages')).includes(
            '(rune) not pulled; :RunePull qwen3:4b pulls it later, :RuneChatModel picks another',
          ),
        10000,
        'what not pulling means',
      );
      await t.nvim.input('<Esc>GAAgain<C-s>');
      await waitFor(() => server.requestsTo('chat').length === 2, 20000, 'the second question');
      await chatText(/\[!ERROR\][\s\S]*\[!ERROR\]/);
      expect(await t.lua<string[]>('return _G.asked')).toHaveLength(1);
      expect(server.requestsTo('pull')).toEqual([]);
    });
    await t.close();
  });

  it('inline completion with a fill-in-the-middle model that is not pulled asks; yes pulls it, then ghost text shows', async () => {
    const server = await startOllamaServer({ strictModels: true });
    servers.push(server);
    server.enqueue('pull', { pull: { total: 4000, steps: 4 } });
    server.script('generate', () => ({ text: 'intf("hi");' }));
    const t = await startRune({
      config: {
        providers: {
          ollama: { url: server.url, fim_model: 'qwen3:4b', retry: { max_attempts: 1 } },
        },
      },
    });
    await t.lua(`_G.asked, _G.done = {}, false
      local select = vim.ui.select
      vim.ui.select = function(items, opts, cb) table.insert(_G.asked, opts.prompt); return select(items, opts, cb) end
      local p = require('rune.progress'); local orig = p.update
      p.update = function(k, x) if x.status == 'success' then _G.done = true end; orig(k, x) end`);
    await explained(t, async () => {
      await t.nvim.input('ipr');
      await promptWaiting(t, 'the question whether to pull');
      await t.nvim.input('1<CR>');
      await waitFor(async () => t.lua<boolean>('return _G.done'), 20000, 'the pull');
      expect(await t.lua<string[]>('return _G.asked')).toEqual([
        `Ollama at ${server.url} has no model "qwen3:4b". Pull it now?`,
      ]);
      expect(server.requestsTo('pull').map((r) => r.body)).toEqual([
        { model: 'qwen3:4b', stream: true },
      ]);
      // Typing on asks again, now with the pulled model.
      await t.nvim.input('i');
      await waitFor(
        async () =>
          (
            await t.lua<unknown[]>(
              `local ns = vim.api.nvim_get_namespaces()['rune.ghost']
               return ns and vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, {}) or {}`,
            )
          ).length > 0,
        20000,
        'the ghost text',
      );
    });
    await t.close();
  });
});
