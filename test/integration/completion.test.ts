import { afterEach, describe, expect, it } from 'vitest';
import { startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import {
  startOllamaServer,
  startOpenAIServer,
  type OllamaServer,
  type OpenAIServer,
} from '../helpers/servers/index.js';
import { nullLogger } from '../../src/core/log.js';
import { parseProvidersConfig } from '../../src/providers/config.js';
import { createProviderRegistry } from '../../src/providers/registry.js';
import { completionModule } from '../../src/nvim/completion/index.js';
import { getProviderRegistry, setProviderRegistry } from '../../src/nvim/providers.js';
import type { ReadyHost } from '../../src/nvim/host.js';
import type { Completion, FimRequest, ProviderRegistry } from '../../src/providers/types.js';

/**
 * Wraps the real registry so each completion answer, once it has come back over HTTP,
 * waits for `gate` (tests use it to move the buffer while an answer is on its way).
 */
function gated(real: ProviderRegistry, gate: (req: FimRequest) => Promise<void>): ProviderRegistry {
  return {
    get(feature, id) {
      const p = real.get(feature, id);
      return {
        id: p.id,
        kind: p.kind,
        chat: (req, o) => p.chat(req, o),
        models: (o) => p.models(o),
        async complete(req, o): Promise<Completion[]> {
          const out = await p.complete(req, o);
          await gate(req);
          o?.signal?.throwIfAborted();
          return out;
        },
      };
    },
    list: () => real.list(),
    usage: () => real.usage(),
    dispose: () => real.dispose(),
  };
}

interface Harness {
  t: TestNvim;
  host: ReadyHost;
  server: OllamaServer;
  /** An OpenAI-compatible server, configured as provider `openai` (not the default). */
  openai: OpenAIServer;
  /** The ghost text drawn in the current buffer, read back from the extmarks. */
  ghost(): Promise<string | null>;
  type(keys: string): Promise<void>;
  lines(): Promise<string[]>;
  cursor(): Promise<[number, number]>;
  prompts(): { prompt: string; suffix: string }[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function harness(
  completion: string,
  opts: {
    gate?: (req: FimRequest) => Promise<void>;
    preSetup?: string;
  } = {},
): Promise<Harness> {
  const server = await startOllamaServer();
  const openai = await startOpenAIServer();
  const t = await startNvim({
    setup: `${opts.preSetup ?? ''}
      require('rune').setup({
        providers = {
          ollama = { url = '${server.url}' },
          openai = { kind = 'openai', url = '${openai.url}/v1' },
        },
        default_provider = 'ollama',
        -- One request per pause, as these tests count them: the answer cache and the
        -- requests made ahead of an acceptance are tested in test/e2e/completion.test.ts.
        completion = vim.tbl_extend('keep', ${completion}, { cache_entries = 0 }),
      })`,
  });
  const host = await startInProcessHost(t, [completionModule]);
  if (opts.gate) {
    const real = createProviderRegistry(parseProvidersConfig(host.config), { logger: nullLogger });
    setProviderRegistry(host, gated(real, opts.gate));
  }
  cleanups.push(async () => {
    getProviderRegistry(host).dispose();
    await t.close();
    await server.close();
    await openai.close();
  });
  return {
    t,
    host,
    server,
    openai,
    ghost: () =>
      t.lua<string | null>(`
        local ns = vim.api.nvim_get_namespaces()['rune.ghost']
        if not ns then return nil end
        for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
          local d = m[4]
          if d.virt_text_pos == 'inline' or d.virt_lines then
            local out = {}
            for _, c in ipairs(d.virt_text or {}) do out[#out + 1] = c[1] end
            local text = table.concat(out)
            for _, l in ipairs(d.virt_lines or {}) do
              local parts = {}
              for _, c in ipairs(l) do parts[#parts + 1] = c[1] end
              text = text .. '\\n' .. table.concat(parts)
            end
            return text
          end
        end
        return nil`),
    type: async (keys) => {
      await t.nvim.input(keys);
    },
    lines: () => t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'),
    cursor: () => t.lua<[number, number]>('return vim.api.nvim_win_get_cursor(0)'),
    prompts: () =>
      server.requests
        .filter((r) => r.path === '/api/generate' || r.path === '/v1/completions')
        .map((r) => {
          const b = r.body as { prompt: string; suffix: string };
          return { prompt: b.prompt, suffix: b.suffix };
        }),
  };
}

/** The answers dropped as stale so far, as :checkhealth reports them. */
async function staleCount(h: Harness): Promise<number> {
  const m = /(\d+) stale/.exec(JSON.stringify(await h.host.health()));
  return Number(m?.[1] ?? NaN);
}

/** Holds the answers to requests matching `which` until `release()`; `arrived` resolves at the first. */
function holdAnswers(which: (req: FimRequest) => boolean) {
  let arrive!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  let open!: () => void;
  const released = new Promise<void>((r) => (open = r));
  return {
    arrived,
    release: () => open(),
    gate: async (req: FimRequest) => {
      if (!which(req)) return;
      arrive();
      await released;
    },
  };
}

const LUA_BUF = `
  vim.bo.filetype = 'c'
  vim.api.nvim_buf_set_lines(0, 0, -1, false, ...)
`;

describe('inline completion', () => {
  it('shows exactly the text the server answered, after the cursor', async () => {
    const h = await harness('{ debounce_ms = 0 }');
    h.server.script('generate', () => ({ text: ' = a + b' }));
    await h.t.lua(LUA_BUF, [['local function add(a, b)', '  local sum', 'end']]);
    await h.t.lua('vim.api.nvim_win_set_cursor(0, { 2, 0 })');
    await h.type('A');
    await h.type('x');
    await expect
      .poll(() => h.prompts().at(-1))
      .toEqual({ prompt: 'local function add(a, b)\n  local sumx', suffix: '\nend' });
    await expect.poll(h.ghost).toBe(' = a + b');
    // The buffer itself is untouched: ghost text is only drawn.
    expect(await h.lines()).toEqual(['local function add(a, b)', '  local sumx', 'end']);

    h.server.script('generate', () => ({ text: 'if a then\n    return b\n  end' }));
    await h.type('<CR>');
    await expect.poll(h.ghost).toBe('if a then\n    return b\n  end');
    await h.type('<Esc>');
    await expect.poll(h.ghost).toBe(null);
  });

  it('aborts the request in flight when the user types on (the server sees it)', async () => {
    const h = await harness('{ debounce_ms = 0 }');
    h.server.script('generate', () => ({ hang: true }));
    await h.t.lua(LUA_BUF, [['print(']]);
    await h.type('A');
    // Wait until the request for the cursor's final place is the one in flight.
    await waitFor(
      () =>
        h.prompts().at(-1)?.prompt === 'print(' && h.server.requests.length - h.server.closes === 1,
    );
    const before = h.server.closes;
    h.server.script('generate', () => ({ text: 'a, b' }));
    await h.type('a');
    await h.server.waitForClose(before + 1);
    await expect.poll(h.ghost).toBe('a, b');
    expect(h.prompts().at(-1)!.prompt).toBe('print(a');
  });

  it('drops an answer that arrives after the buffer changed', async () => {
    const held = holdAnswers((req) => req.prefix.endsWith('z'));
    const h = await harness('{ debounce_ms = 0 }', { gate: held.gate });
    h.server.script('generate', () => ({ text: 'stale text' }));
    await h.t.lua(LUA_BUF, [['x']]);
    await h.type('A');
    await h.type('z');
    await held.arrived;
    const before = await staleCount(h);
    // The buffer changes and the answer lands before the change's autocommands could tell the
    // host (eventignore holds them back), as when the answer overtakes the notification.
    await h.t.lua(
      'vim.o.eventignore = "all"; vim.api.nvim_buf_set_lines(0, 0, -1, false, { "xz", "" })',
    );
    held.release();
    await expect.poll(() => staleCount(h)).toBe(before + 1);
    expect(await h.ghost()).toBe(null);
    await h.t.lua('vim.o.eventignore = ""');
  });

  it('drops an answer that arrives after the cursor moved', async () => {
    const held = holdAnswers((req) => req.prefix.endsWith('z'));
    const h = await harness('{ debounce_ms = 0 }', { gate: held.gate });
    h.server.script('generate', () => ({ text: 'stale text' }));
    await h.t.lua(LUA_BUF, [['abc', 'def']]);
    await h.type('A');
    await h.type('z');
    await held.arrived;
    const before = await staleCount(h);
    await h.t.lua('vim.o.eventignore = "all"; vim.api.nvim_win_set_cursor(0, { 2, 1 })');
    held.release();
    await expect.poll(() => staleCount(h)).toBe(before + 1);
    expect(await h.ghost()).toBe(null);
    await h.t.lua('vim.o.eventignore = ""');
    // The same answer for an unmoved cursor is shown: the drop above was the move.
    await h.type('q');
    await expect.poll(h.ghost).toBe('stale text');
  });

  it('accepts a word, a line, or all of it, with multi-byte text', async () => {
    const h = await harness('{ debounce_ms = 0 }');
    h.server.script('generate', () => ({ text: 'héllo wörld()\n  ünder line' }));
    await h.t.lua(LUA_BUF, [['-- ']]);
    await h.type('A');
    await expect.poll(h.ghost).toBe('héllo wörld()\n  ünder line');
    await h.type('<M-w>');
    expect(await h.lines()).toEqual(['-- héllo']);
    expect(await h.ghost()).toBe(' wörld()\n  ünder line');
    await h.type('<M-w>');
    expect(await h.lines()).toEqual(['-- héllo wörld']);
    await h.type('<M-w>');
    expect(await h.lines()).toEqual(['-- héllo wörld()']);
    expect(await h.ghost()).toBe('\n  ünder line');
    h.server.script('generate', () => ({ hang: true }));
    await h.type('<M-l>');
    expect(await h.lines()).toEqual(['-- héllo wörld()', '  ünder line']);
    expect(await h.cursor()).toEqual([2, Buffer.byteLength('  ünder line')]);
    expect(await h.ghost()).toBe(null);
    // The accepted text was typed as if by the user: the next keys go after it.
    h.server.script('generate', () => ({ text: 'ñ1\nñ2' }));
    await h.type('!');
    await expect.poll(h.ghost).toBe('ñ1\nñ2');
    await h.type('<Tab>');
    expect(await h.lines()).toEqual(['-- héllo wörld()', '  ünder line!ñ1', 'ñ2']);
    expect(await h.cursor()).toEqual([3, Buffer.byteLength('ñ2')]);
    await h.type('z<Esc>');
    expect(await h.lines()).toEqual(['-- héllo wörld()', '  ünder line!ñ1', 'ñ2z']);
  });

  it('accepts the first line, then the next, and keeps tabs and drops CR', async () => {
    const h = await harness('{ debounce_ms = 0 }');
    h.server.script('generate', () => ({ text: 'one()\r\n\ttwo()\r\nthree' }));
    // An empty file has no prefix: Ollama gets the request as a chat prompt.
    h.server.script('chat', () => ({ text: 'one()\r\n\ttwo()\r\nthree' }));
    await h.t.lua(LUA_BUF, [['']]);
    await h.t.lua('vim.bo.fileformat = "dos"');
    await h.type('i');
    await expect
      .poll(() => h.t.lua('return require("rune.ghost").current()'))
      .toBe('one()\n\ttwo()\nthree');
    await h.type('<M-l>');
    expect(await h.lines()).toEqual(['one()']);
    await h.type('<M-l>');
    expect(await h.lines()).toEqual(['one()', '\ttwo()']);
    await h.type('<M-l>');
    expect(await h.lines()).toEqual(['one()', '\ttwo()', 'three']);
  });

  it('does not repeat what already follows the cursor (closing brackets)', async () => {
    const h = await harness('{ debounce_ms = 0 }');
    h.server.script('generate', () => ({ text: 'a, b)' }));
    await h.t.lua(LUA_BUF, [['foo()']]);
    await h.t.lua('vim.api.nvim_win_set_cursor(0, { 1, 4 })');
    await h.type('i');
    await expect.poll(h.ghost).toBe('a, b');
    expect(h.prompts().at(-1)).toEqual({ prompt: 'foo(', suffix: ')' });
    await h.type('<Tab>');
    expect(await h.lines()).toEqual(['foo(a, b)']);
  });

  it('keeps the ghost text while the user types what it shows', async () => {
    const h = await harness('{ debounce_ms = 0 }');
    h.server.script('generate', () => ({ text: 'return 42' }));
    // An empty file has no prefix: Ollama gets the request as a chat prompt.
    h.server.script('chat', () => ({ text: 'return 42' }));
    await h.t.lua(LUA_BUF, [['']]);
    await h.type('i');
    await expect.poll(h.ghost).toBe('return 42');
    // Count what Lua tells the host from here on (it does so inside the keys' autocommands).
    await h.t.lua(`_G.told = 0
      local host = require('rune.host')
      local notify = host.notify
      host.notify = function(...) _G.told = _G.told + 1; return notify(...) end`);
    await h.type('ret');
    await expect.poll(h.ghost).toBe('urn 42');
    expect(await h.t.lua('return _G.told')).toBe(0);
    // A key that does not match asks again.
    await h.type('x');
    await expect.poll(() => h.t.lua('return _G.told')).toBe(1);
    await expect.poll(() => h.prompts().at(-1)?.prompt).toBe('retx');
    await expect.poll(h.ghost).toBe('return 42');
    await h.type('<BS>');
    await expect.poll(() => h.prompts().at(-1)?.prompt).toBe('ret');
    await expect.poll(h.ghost).toBe('return 42');
    await h.type('<Tab>');
    expect(await h.lines()).toEqual(['retreturn 42']);
  });

  it('hides the ghost text while the popup menu is visible', async () => {
    const h = await harness('{ debounce_ms = 0 }');
    h.server.script('generate', () => ({ text: 'pha_suffix' }));
    await h.t.lua(LUA_BUF, [['alpha alpine', '']]);
    await h.t.lua('vim.api.nvim_win_set_cursor(0, { 2, 0 })');
    await h.type('ial');
    await expect.poll(h.ghost).toBe('pha_suffix');
    await h.type('<C-n>');
    await expect.poll(() => h.t.lua('return vim.fn.pumvisible()')).toBe(1);
    expect(await h.ghost()).toBe(null);
    // An answer arriving while the menu is open is not drawn either.
    expect(
      await h.t.lua(
        'local c = vim.api.nvim_win_get_cursor(0); return require("rune.ghost").show(0 + vim.api.nvim_get_current_buf(), vim.b.changedtick, c[1] - 1, c[2], { "zz" })',
      ),
    ).toBe(false);
    await h.type('<C-e>');
    await expect.poll(() => h.t.lua('return vim.fn.pumvisible()')).toBe(0);
  });

  it('sends nothing for disabled filetypes, special buffers, large files and toggled-off buffers', async () => {
    const h = await harness(
      '{ debounce_ms = 0, filetypes = { markdown = false }, max_file_bytes = 1000 }',
    );
    h.server.script('generate', () => ({ text: 'ok' }));
    // markdown: disabled by filetype
    await h.t.lua('vim.bo.filetype = "markdown"');
    await h.type('imd text<Esc>');
    // a prompt buffer
    await h.t.lua('vim.cmd.new(); vim.bo.buftype = "prompt"');
    await h.type('iprompt text<Esc>');
    // a file over max_file_bytes
    await h.t.lua(
      'vim.cmd.new(); vim.bo.filetype = "c"; vim.api.nvim_buf_set_lines(0, 0, -1, false, { string.rep("x", 2000) })',
    );
    await h.type('Abig<Esc>');
    // toggled off for one buffer
    await h.t.lua('vim.cmd.new(); vim.bo.filetype = "c"');
    await h.t.nvim.command('RuneComplete toggle');
    await h.type('itoggled<Esc>');
    expect(await h.t.lua('return vim.b.rune_completion')).toBe(false);
    // A buffer where completion is on: its request is the only one the server sees.
    await h.t.lua('vim.cmd.new(); vim.bo.filetype = "c"');
    await h.type('ion');
    await expect.poll(h.ghost).toBe('ok');
    await h.type('<Esc>');
    expect(h.prompts().at(-1)!.prompt).toBe('on');
    for (const p of h.prompts()) expect(['', 'o', 'on']).toContain(p.prompt);
    // Turning it back on for the toggled buffer sends again.
    await h.t.lua('vim.cmd.wincmd("j")');
    await h.t.nvim.command('RuneComplete enable');
    const n = h.prompts().length;
    await h.type('A!');
    await waitFor(() => h.prompts().length > n);
    expect(h.prompts().at(-1)!.prompt).toBe('toggled!');
  });

  it('sends no bigger a request for a 100,000-line buffer than for a 1,000-line one', async () => {
    const h = await harness('{ debounce_ms = 0, max_file_bytes = 10000000 }');
    h.server.script('generate', () => ({ text: 'ok' }));
    const sizes: number[] = [];
    for (const n of [1000, 100_000]) {
      await h.t.lua(
        `vim.cmd.enew({ bang = true }); vim.bo.filetype = 'c'
         local lines = {}
         for i = 1, ... do lines[i] = 'local value = compute(value) -- same line' end
         vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)
         vim.api.nvim_win_set_cursor(0, { math.floor(... / 2), 0 })`,
        [n],
      );
      const before = h.server.requests.length;
      await h.type('I');
      await h.type('q');
      await waitFor(() =>
        h.server.requests
          .slice(before)
          .some((r) => (r.body as { prompt: string }).prompt.endsWith('q')),
      );
      const req = h.server.requests
        .slice(before)
        .find((r) => (r.body as { prompt: string }).prompt.endsWith('q'))!;
      sizes.push(JSON.stringify(req.body).length);
      await h.type('<Esc>');
    }
    expect(sizes[1]).toBeLessThanOrEqual(sizes[0]!);
    // And the request holds context on both sides, within the configured line budget.
    const last = h.prompts().at(-1)!;
    expect(last.prompt.split('\n').length).toBe(121);
    expect(last.suffix.split('\n').length).toBe(41);
  });

  it(':RuneComplete inserts one suggestion, or lets the user pick among several', async () => {
    const h = await harness(`{ enabled = false, provider = 'openai' }`);
    h.openai.enqueue('completions', { choices: ['choice1', 'choice2', 'choice3'] });
    h.openai.enqueue('completions', { choices: ['only'] });
    await h.t.lua(LUA_BUF, [['x = ']]);
    await h.t.lua(`vim.ui.select = function(items, _, on_choice)
      vim.g.offered = items
      on_choice(items[2])
    end`);
    await h.t.lua('vim.api.nvim_win_set_cursor(0, { 1, 3 })');
    await h.t.nvim.command('RuneComplete');
    await expect.poll(h.lines).toEqual(['x = choice2']);
    expect(await h.t.lua('return vim.g.offered')).toEqual(['choice1', 'choice2', 'choice3']);
    const body = h.openai.requestsTo('completions')[0]!.body as Record<string, unknown>;
    expect(body).toMatchObject({ prompt: 'x = ', suffix: '', n: 3 });
    // One suggestion is inserted at once, in Insert mode at the cursor.
    await h.type('A');
    await h.t.nvim.command('RuneComplete');
    await expect.poll(h.lines).toEqual(['x = choice2only']);
    // Nothing was sent while typing: inline completion is off.
    expect(h.server.requests).toEqual([]);
    expect(h.openai.requestsTo('completions')).toHaveLength(2);
  });

  it('cycles through several suggestions and accepts the one shown', async () => {
    const h = await harness(`{ debounce_ms = 0, suggestions = 3, provider = 'openai' }`);
    h.openai.script('completions', () => ({ choices: ['first', 'second', 'third'] }));
    await h.t.lua(LUA_BUF, [['x = ']]);
    await h.type('A');
    await expect.poll(h.ghost).toBe('first');
    expect(h.openai.requestsTo('completions').at(-1)!.body).toMatchObject({ n: 3 });
    await h.type('<M-]>');
    expect(await h.ghost()).toBe('second');
    await h.type('<M-[><M-[>');
    expect(await h.ghost()).toBe('third');
    await h.type('<M-]>');
    expect(await h.ghost()).toBe('first');
    await h.type('<M-]><Tab>');
    expect(await h.lines()).toEqual(['x = second']);
    // The accepted text asks again; dismiss hides the new suggestion.
    await expect.poll(h.ghost).toBe('first');
    await h.type('<C-]>');
    await expect.poll(h.ghost).toBe(null);
  });

  it('sends snippets of other open buffers of the same filetype when asked to', async () => {
    const h = await harness('{ debounce_ms = 0, context_buffers = { enabled = true } }');
    h.server.script('generate', () => ({ text: 'ok' }));
    await h.t
      .lua(`vim.cmd.edit('util.c'); vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'int helper(int a);' })
      vim.cmd.edit('notes.txt'); vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'unrelated' })
      vim.cmd.edit('main.c'); vim.bo.filetype = 'c'; vim.bo.commentstring = '/* %s */'`);
    await h.type('iint x = ');
    await expect.poll(h.ghost).toBe('ok');
    const last = h.prompts().at(-1)!;
    expect(last.prompt).toBe(
      '/* Path: util.c */\n/* int helper(int a); */\n/* Path: main.c */\nint x = ',
    );
    expect(last.prompt).not.toContain('unrelated');
  });

  it('leaves a key that already has a mapping alone and says so', async () => {
    const h = await harness('{ debounce_ms = 0 }', {
      preSetup: `vim.keymap.set('i', '<Tab>', '<Cmd>let g:user_tab = 1<CR>')
        _G.notes = {}
        vim.notify = function(m) table.insert(_G.notes, m) end`,
    });
    h.server.script('generate', () => ({ text: 'abc' }));
    // An empty file has no prefix: Ollama gets the request as a chat prompt.
    h.server.script('chat', () => ({ text: 'abc' }));
    await h.t.lua(LUA_BUF, [['']]);
    await h.type('i');
    await expect.poll(h.ghost).toBe('abc');
    await h.type('<Tab>');
    await expect.poll(() => h.t.lua('return vim.g.user_tab')).toBe(1);
    expect(await h.lines()).toEqual(['']);
    const notes = await h.t.lua<string[]>('return _G.notes');
    expect(notes.join('\n')).toMatch(/completion\.keys\.accept \(<Tab>\)/);
    expect(JSON.stringify(await h.host.health())).toMatch(
      /already had insert-mode mappings: completion\.keys\.accept \(<Tab>\)/,
    );
    // The other keys and the <Plug> mapping still work.
    await h.t.lua(`vim.keymap.set('i', '<C-g>a', '<Plug>(rune-accept)')`);
    await h.type('<C-g>a');
    expect(await h.lines()).toEqual(['abc']);
  });

  it('reports a provider error once, and again only after a success', async () => {
    const h = await harness('{ debounce_ms = 0 }', {
      preSetup: `_G.notes = {}
        vim.notify = function(m) table.insert(_G.notes, m) end`,
    });
    const notes = () => h.t.lua<string[]>('return _G.notes');
    h.server.script('generate', () => ({ status: 400, errorMessage: 'option "x" is invalid' }));
    await h.t.lua(LUA_BUF, [['']]);
    const errors = async () =>
      Number(/(\d+) errors/.exec(JSON.stringify(await h.host.health()))?.[1]);
    await h.type('ia');
    await expect.poll(errors).toBeGreaterThanOrEqual(1);
    const before = await errors();
    await h.type('b');
    await expect.poll(errors).toBe(before + 1);
    expect(await notes()).toEqual([
      expect.stringMatching(/^\(rune\) inline completion: .*invalid/),
    ]);
    expect((await notes())[0]).toMatch(/:RuneComplete disable/);
    h.server.script('generate', () => ({ text: 'fine' }));
    await h.type('c');
    await expect.poll(h.ghost).toBe('fine');
    h.server.script('generate', () => ({ status: 400, errorMessage: 'option "x" is invalid' }));
    await h.type('d');
    await expect.poll(notes).toHaveLength(2);
  });

  it('tells once, and stops trying on every key, when the host cannot start', async () => {
    const t = await startNvim({
      setup: `_G.notes = {}
        vim.notify = function(m) table.insert(_G.notes, m) end
        require('rune').setup({ host = { node = 'no-such-node-binary' } })`,
    });
    cleanups.push(() => t.close());
    await t.lua(LUA_BUF, [['']]);
    await t.nvim.input('iab<Esc>');
    await t.nvim.input('icd<Esc>');
    await t.nvim.input('ief<Esc>');
    await expect
      .poll(() => t.lua<string[]>('return _G.notes'))
      .toEqual([
        expect.stringMatching(
          /inline completion is off: the host is not running \(Node\.js was not found/,
        ),
      ]);
    await t.nvim.command('RuneComplete');
    await expect.poll(() => t.lua<string[]>('return _G.notes')).toHaveLength(2);
    expect((await t.lua<string[]>('return _G.notes'))[1]).toMatch(
      /completion: Node\.js was not found/,
    );
  });
});
