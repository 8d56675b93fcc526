/**
 * Inline completion as a user meets it: keys typed in Insert mode in a real
 * headless Neovim, the host spawned by the Lua layer from dist/, a
 * wire-faithful Ollama server answering fill-in-the-middle requests. The ghost
 * text is read back from the buffer's extmarks and accepted with <Tab>.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, hostLog, startRune } from '../helpers/e2e.js';

const servers: OllamaServer[] = [];
const folders: string[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of folders) fs.rmSync(d, { recursive: true, force: true });
});

const WANTED = 'printf("hi");';

interface Ghost {
  row: number;
  col: number;
  text: string;
}

/** The ghost text drawn in the current buffer: Rune's extmarks with inline virtual text. */
async function ghost(t: TestNvim): Promise<Ghost | undefined> {
  const marks = await t.lua<[number, number, number, { virt_text?: [string, string][] }][]>(
    `local ns = vim.api.nvim_get_namespaces()['rune.ghost']
     if not ns then return {} end
     return vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })`,
  );
  const m = marks.find((x) => x[3].virt_text?.length);
  return m && { row: m[1], col: m[2], text: m[3].virt_text!.map((c) => c[0]).join('') };
}

describe('inline completion (built host, typed keys)', () => {
  it('draws the answer as ghost text at the cursor in Insert mode and <Tab> accepts it', async () => {
    const server = await startOllamaServer();
    servers.push(server);
    // Like a model: completes the part of WANTED the prefix does not end with yet.
    server.script('generate', (req) => {
      const prompt = (req.body as { prompt: string }).prompt;
      let k = WANTED.length;
      while (k > 0 && !prompt.endsWith(WANTED.slice(0, k))) k--;
      return { text: WANTED.slice(k) };
    });
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-ghost-')));
    folders.push(ws);
    fs.writeFileSync(path.join(ws, 'main.c'), 'int main(void) {\n  \n  return 0;\n}\n');
    const t = await startRune({
      cwd: ws,
      config: { providers: { ollama: { url: server.url, retry: { max_attempts: 1 } } } },
    });
    await explained(t, async () => {
      await t.nvim.input(':edit main.c<CR>2GApr');
      const shown = await waitFor(
        async () => {
          const g = await ghost(t);
          return g?.text === 'intf("hi");' ? g : undefined;
        },
        20000,
        'the ghost text',
      );
      // Drawn where the cursor is, while the user is still typing in Insert mode.
      expect(shown).toMatchObject({ row: 1, col: 4 });
      expect((await t.nvim.mode).mode).toBe('i');
      expect(await t.lua('return vim.api.nvim_get_current_line()')).toBe('  pr');
      // The model saw the code before and after the cursor.
      // (The request for the ghost text drawn; one made ahead for its acceptance may follow.)
      const bodies = server.requestsTo('generate').map((r) => r.body as Record<string, string>);
      const body = bodies.find((b) => b.prompt === 'int main(void) {\n  pr');
      expect(body?.suffix).toContain('\n  return 0;\n}');

      await t.nvim.input('<Tab>');
      await waitFor(
        async () => (await t.lua('return vim.api.nvim_get_current_line()')) === `  ${WANTED}`,
        10000,
        'the accepted text',
      );
      expect(await ghost(t)).toBeUndefined();
      expect((await t.nvim.mode).mode).toBe('i');
      await t.nvim.input('<Esc>');
      expect(await t.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).toEqual([
        'int main(void) {',
        `  ${WANTED}`,
        '  return 0;',
        '}',
      ]);
    });
  });
});

describe('inline completion answers already computed (built host, typed keys)', () => {
  const NEXT = ' // greet';
  const PROMPT = 'int main(void) {\n  pr';
  const ACCEPTED = 'int main(void) {\n  printf("hi");';

  /** A model: the rest of WANTED, then NEXT after it; `mark` tags answers for a changed first line. */
  function model(prompt: string): string {
    if (prompt.endsWith(WANTED)) return NEXT;
    let k = WANTED.length;
    while (k > 0 && !prompt.endsWith(WANTED.slice(0, k))) k--;
    return WANTED.slice(k) + (prompt.includes('argc') ? ' /*argc*/' : '');
  }

  async function setup(
    script: (prompt: string) => { text: string; firstByteDelayMs?: number } = (p) => ({
      text: model(p),
    }),
  ) {
    const server = await startOllamaServer();
    servers.push(server);
    server.script('generate', (req) => script((req.body as { prompt: string }).prompt));
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-ghost-')));
    folders.push(ws);
    fs.writeFileSync(path.join(ws, 'main.c'), 'int main(void) {\n  \n  return 0;\n}\n');
    const t = await startRune({
      cwd: ws,
      config: {
        providers: { ollama: { url: server.url, retry: { max_attempts: 1 } } },
        // Long enough that an answer drawn at once did not come from a fresh request.
        completion: { debounce_ms: 1000 },
      },
    });
    // Every suggestion drawn, in order.
    await t.lua(`_G.shown = {}
      vim.api.nvim_create_autocmd('User', { pattern = 'RuneGhostShown', callback = function()
        table.insert(_G.shown, require('rune.ghost').current())
      end })`);
    const prompts = () =>
      server.requestsTo('generate').map((r) => (r.body as { prompt: string }).prompt);
    const ghostIs = (text: string, what: string) =>
      waitFor(async () => (await ghost(t))?.text === text, 20000, what);
    return { server, t, prompts, ghostIs };
  }

  it('serves a suggestion typed through, or back after a small cursor move, with no new provider request', async () => {
    const { t, prompts, ghostIs } = await setup();
    await explained(t, async () => {
      await t.nvim.input(':edit main.c<CR>2GApr');
      await ghostIs('intf("hi");', 'the first ghost text');
      // The request made ahead for the suggestion accepted, then nothing more.
      await waitFor(async () => prompts().includes(ACCEPTED), 20000, 'the speculative request');
      const before = prompts().length;

      // A key that does not match clears the ghost text; taking it back serves the rest.
      await t.nvim.input('ix<BS>');
      await ghostIs('ntf("hi");', 'the rest of the suggestion');
      expect(await t.lua('return vim.api.nvim_get_current_line()')).toBe('  pri');

      // Away and back: the answer for this very context is drawn again.
      await t.nvim.input('<Left><Right>');
      await ghostIs('ntf("hi");', 'the suggestion after a cursor move');
      expect(prompts().length).toBe(before);
      expect(prompts()).not.toContain('int main(void) {\n  pri');
      expect(prompts().filter((p) => p === PROMPT)).toHaveLength(1);
    });
  });

  it('costs one notification per key and no call back to the editor where an answer is already computed', async () => {
    const { t, prompts, ghostIs } = await setup();
    await explained(t, async () => {
      await t.nvim.input(':edit main.c<CR>2GApr');
      await ghostIs('intf("hi");', 'the first ghost text');
      await waitFor(async () => prompts().includes(ACCEPTED), 20000, 'the speculative request');
      const before = prompts().length;
      // Every completion message from the editor to the host, and every context read the
      // host asks for.
      await t.lua(`_G.sent, _G.reads = {}, 0
        local host = require('rune.host')
        local notify = host.notify
        host.notify = function(method, ...)
          if method:find('^rune%.completion%.') then
            table.insert(_G.sent, { method = method, ctx = type((select(5, ...))) == 'table' })
          end
          return notify(method, ...)
        end
        local c = require('rune.completion')
        local read = c._context
        c._context = function(...)
          _G.reads = _G.reads + 1
          return read(...)
        end`);
      // Nor a line in the log per message (the client's traces are debug lines).
      const logged = (await hostLog(t)).length;
      // Typed through (no message), a slip (one), taken back (one): the rest is drawn.
      await t.nvim.input('ix');
      await t.nvim.input('<BS>');
      await ghostIs('ntf("hi");', 'the rest of the suggestion');
      // Accepted: the answer asked ahead is drawn, again with one message and no read.
      await t.nvim.input('<Tab>');
      await ghostIs(NEXT, 'the next suggestion');
      // One message per key that left the ghost text, each with its context.
      expect(await t.lua('return _G.sent')).toEqual([
        { method: 'rune.completion.changed', ctx: true },
        { method: 'rune.completion.changed', ctx: true },
        // (The acceptance is told once, for :RuneStats.)
        { method: 'rune.completion.accepted', ctx: false },
        { method: 'rune.completion.changed', ctx: true },
      ]);
      expect(await t.lua('return _G.reads')).toBe(0);
      expect((await hostLog(t)).slice(logged)).not.toMatch(/rune\.completion\./);
      // Both drawn with no request of their own (only the one made ahead for NEXT may follow).
      expect(
        prompts()
          .slice(before)
          .every((p) => p.endsWith(NEXT)),
      ).toBe(true);
      expect(prompts().filter((p) => p === ACCEPTED)).toHaveLength(1);

      // A row without answers: the key's notification carries no context (nothing read).
      await t.nvim.input('<Down>');
      await waitFor(
        async () => (await t.lua<unknown[]>('return _G.sent')).length === 5,
        10000,
        'the notification for the move',
      );
      expect(await t.lua('return _G.sent[5]')).toEqual({
        method: 'rune.completion.changed',
        ctx: false,
      });
    });
  });

  it('asks ahead for the suggestion after the shown one and shows it on accept without a new request', async () => {
    const { t, prompts, ghostIs } = await setup();
    await explained(t, async () => {
      await t.nvim.input(':edit main.c<CR>2GApr');
      await ghostIs('intf("hi");', 'the first ghost text');
      // Asked for the context as if the suggestion were accepted, before it is.
      await waitFor(async () => prompts().includes(ACCEPTED), 20000, 'the speculative request');
      expect(await t.lua('return vim.api.nvim_get_current_line()')).toBe('  pr');

      await t.nvim.input('<Tab>');
      await ghostIs(NEXT, 'the next suggestion');
      expect(await t.lua('return vim.api.nvim_get_current_line()')).toBe(`  ${WANTED}`);
      // Drawn from the request made ahead: that context was asked about once.
      expect(prompts().filter((p) => p === ACCEPTED)).toHaveLength(1);
      expect(await t.lua('return _G.shown')).toEqual(['intf("hi");', NEXT]);
    });
  });

  it('never draws a speculative or cached answer once the context changed', async () => {
    // The answer asked ahead comes late, after the user has typed on.
    const { server, t, prompts, ghostIs } = await setup((p) =>
      p.endsWith(WANTED) ? { text: NEXT, firstByteDelayMs: 1500 } : { text: model(p) },
    );
    await explained(t, async () => {
      await t.nvim.input(':edit main.c<CR>2GApr');
      await ghostIs('intf("hi");', 'the first ghost text');
      await waitFor(async () => prompts().includes(ACCEPTED), 20000, 'the speculative request');

      await t.nvim.input('<Tab>z');
      await waitFor(async () => prompts().length >= 3, 20000, 'a request after typing on');
      // The request asked ahead was given up (cancelled) for the new context.
      await waitFor(async () => server.closes >= 1, 20000, 'the speculative request aborted');
      await ghostIs('printf("hi");', 'the suggestion after typing on');
      expect(await t.lua('return vim.api.nvim_get_current_line()')).toBe(`  ${WANTED}z`);

      // The line above changes: the answer cached for this spot is no longer for this context.
      await t.nvim.input('<Esc>');
      await t.lua(`vim.api.nvim_buf_set_lines(0, 0, 2, false, { 'int main(int argc) {', '  pr' })`);
      await t.nvim.input('2G$a');
      await ghostIs('intf("hi"); /*argc*/', 'the answer for the changed context');
      const shown = await t.lua<string[]>('return _G.shown');
      expect(shown).not.toContain(NEXT);
      expect(shown.filter((s) => s === 'intf("hi");')).toHaveLength(1);
    });
  });
});
