/**
 * :RuneStats reflects real use: suggestions drawn as ghost text from a provider
 * and accepted with the real keys, failures of inline completion and of chat,
 * and providers that want to hear what was shown and accepted (Copilot) do.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startNvim, type TestNvim } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { metrics } from '../../src/core/metrics.js';
import { completionModule } from '../../src/nvim/completion/index.js';
import { getProviderRegistry, setProviderRegistry } from '../../src/nvim/providers.js';
import { statsModule } from '../../src/nvim/stats.js';
import type { ReadyHost } from '../../src/nvim/host.js';
import type { StatsReport } from '../../src/core/metrics.js';
import type { Completion, Provider, ProviderRegistry } from '../../src/providers/types.js';
import { ollamaAt, startChat } from './chat-helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  metrics.reset();
});

interface Harness {
  t: TestNvim;
  host: ReadyHost;
  server: OllamaServer;
  ghost(): Promise<string | null>;
  type(keys: string): Promise<void>;
  lines(): Promise<string[]>;
  /** The stats as `rune.stats.get` answers them (after every notification sent before it). */
  stats(): Promise<StatsReport>;
}

async function harness(completion = '{ debounce_ms = 0 }'): Promise<Harness> {
  const server = await startOllamaServer();
  const t = await startNvim({
    setup: `require('rune').setup({
      providers = { ollama = { url = '${server.url}' } },
      default_provider = 'ollama',
      completion = ${completion},
    })`,
  });
  const host = await startInProcessHost(t, [completionModule, statsModule]);
  metrics.reset();
  cleanups.push(async () => {
    getProviderRegistry(host).dispose();
    await t.close();
    await server.close();
  });
  return {
    t,
    host,
    server,
    ghost: () => t.lua<string | null>('return require("rune.ghost").current()'),
    type: async (keys) => {
      await t.nvim.input(keys);
    },
    lines: () => t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'),
    stats: () => t.lua<StatsReport>('return require("rune.host").request("rune.stats.get")'),
  };
}

const LUA_BUF = `
  vim.bo.filetype = 'lua'
  vim.api.nvim_buf_set_lines(0, 0, -1, false, ...)
`;

/**
 * Answers the first request whose prompt ends with `end` with `text`, and leaves every other
 * one hanging, so nothing else is shown.
 */
function answerOnce(server: OllamaServer, end: string, text: string): void {
  let done = false;
  server.script('generate', (req) => {
    const prompt = (req.body as { prompt?: string }).prompt ?? '';
    if (done || !prompt.endsWith(end)) return { hang: true };
    done = true;
    return { text };
  });
}

describe(':RuneStats and inline completion', () => {
  it('counts a suggestion drawn from the provider and accepted with the key: 1 shown, 1 accepted', async () => {
    const h = await harness();
    answerOnce(h.server, '-- ', 'héllo wörld()');
    await h.t.lua(LUA_BUF, [['-- ']]);
    await h.type('A');
    await expect.poll(h.ghost).toBe('héllo wörld()');
    await h.type('<Tab>');
    await expect.poll(h.lines).toEqual(['-- héllo wörld()']);

    const report = await h.stats();
    expect(report.completions).toEqual({ shown: 1, accepted: 1, acceptanceRate: 1 });
    const ollama = report.providers.find((p) => p.provider === 'ollama')!;
    expect(ollama).toMatchObject({ shown: 1, accepted: 1, acceptanceRate: 1, errors: 0 });
    // The request that brought it was recorded too (later ones may still be in flight).
    expect(ollama.requests).toBeGreaterThanOrEqual(1);
    expect(ollama.ttft.count).toBeGreaterThanOrEqual(1);
    expect(ollama.total.count).toBeGreaterThanOrEqual(1);

    await h.t.nvim.command('RuneStats');
    const text = (
      await h.t.lua<string[]>(
        'return vim.api.nvim_buf_get_lines(vim.fn.bufnr("rune://stats"), 0, -1, false)',
      )
    ).join('\n');
    expect(text).toContain('Inline completions: 1 shown, 1 accepted, acceptance rate 100.0%');
    expect(text).toMatch(/^\s+ollama\s.*\s1\/1 100\.0%$/m);
  });

  it('counts a suggestion accepted word by word once, by the kind of its first acceptance', async () => {
    const h = await harness();
    answerOnce(h.server, 'x = ', 'alpha beta gamma');
    await h.t.lua(LUA_BUF, [['x = ']]);
    await h.type('A');
    await expect.poll(h.ghost).toBe('alpha beta gamma');
    // Count the acceptances Lua reports (it sends one notification per suggestion).
    await h.t.lua(`_G.reported = 0
      local host = require('rune.host')
      local notify = host.notify
      host.notify = function(method, ...)
        if method == 'rune.completion.accepted' then _G.reported = _G.reported + 1 end
        return notify(method, ...)
      end`);
    await h.type('<M-w>');
    await expect.poll(h.lines).toEqual(['x = alpha']);
    expect(await h.ghost()).toBe(' beta gamma');
    await h.type('<M-w>');
    await expect.poll(h.lines).toEqual(['x = alpha beta']);
    await h.type('<M-l>');
    await expect.poll(h.lines).toEqual(['x = alpha beta gamma']);
    expect(await h.ghost()).toBe(null);

    expect(await h.t.lua('return _G.reported')).toBe(1);
    const report = await h.stats();
    expect(report.completions).toEqual({ shown: 1, accepted: 1, acceptanceRate: 1 });
    const accepted = metrics.counter('rune_completions_accepted_total');
    expect(accepted.get({ provider: 'ollama', kind: 'word' })).toBe(1);
    expect(accepted.get({ provider: 'ollama', kind: 'line' })).toBe(0);

    // The next suggestion is a new one: it counts again.
    answerOnce(h.server, 'gamma!', ' -- done');
    await h.type('!');
    await expect.poll(h.ghost).toBe(' -- done');
    await h.type('<Tab>');
    await expect.poll(h.lines).toEqual(['x = alpha beta gamma! -- done']);
    expect((await h.stats()).completions).toEqual({ shown: 2, accepted: 2, acceptanceRate: 1 });
  });

  it('counts a failing inline completion under area "completion", and the provider error under "provider"', async () => {
    const h = await harness();
    h.server.script('generate', () => ({ status: 400, errorMessage: 'option "x" is invalid' }));
    await h.t.lua(LUA_BUF, [['']]);
    await h.type('ia');
    await expect
      .poll(async () => (await h.stats()).errors.find((e) => e.area === 'completion')?.count)
      .toBeGreaterThanOrEqual(1);
    const report = await h.stats();
    const byArea = (area: string) => report.errors.filter((e) => e.area === area);
    expect(byArea('completion').map((e) => e.type)).toEqual(['bad_request']);
    expect(byArea('provider').map((e) => e.type)).toEqual(['bad_request']);
    const ollama = report.providers.find((p) => p.provider === 'ollama')!;
    expect(ollama.errors).toBeGreaterThanOrEqual(1);
    expect(ollama.errors).toBe(byArea('provider')[0]!.count);
    expect(report.completions.shown).toBe(0);
  });
});

describe(':RuneStats through the spawned host (dist/)', () => {
  it('shows the suggestion drawn and accepted with the key', async () => {
    const server = await startOllamaServer();
    answerOnce(server, '  ', 'printf("hi");');
    const t = await startNvim({
      setup: `require('rune').setup({
        providers = { ollama = { url = '${server.url}' } },
        completion = { debounce_ms = 0 },
      })`,
    });
    cleanups.push(async () => {
      await t.close();
      await server.close();
    });
    await t.lua(LUA_BUF, [['  ']]);
    await t.nvim.input('A');
    await expect
      .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 15000 })
      .toBe('printf("hi");');
    await t.nvim.input('<Tab>');
    await expect
      .poll(() => t.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'))
      .toEqual(['  printf("hi");']);
    await t.nvim.command('RuneStats');
    const lines = await t.lua<string[]>(
      'return vim.api.nvim_buf_get_lines(vim.fn.bufnr("rune://stats"), 0, -1, false)',
    );
    expect(lines).toContain('Inline completions: 1 shown, 1 accepted, acceptance rate 100.0%');
    expect(lines.join('\n')).toMatch(/^\s+ollama\s.*\s1\/1 100\.0%$/m);
  });
});

/** A provider that answers from a list and records what it is told was shown and accepted. */
function recordingProvider(answers: Completion[]) {
  const shown: Completion[] = [];
  const accepted: { completion: Completion; chars: number | undefined }[] = [];
  const provider: Provider = {
    id: 'rec',
    kind: 'test',
    async *chat() {
      yield {
        type: 'done',
        usage: { inputTokens: 0, outputTokens: 0 },
        stopReason: 'end',
        model: 'm',
      };
    },
    complete: async () => answers.map((c) => ({ ...c })),
    models: async () => [],
    didShow: (c) => void shown.push(c),
    didAccept: (c, chars) => void accepted.push({ completion: c, chars }),
  };
  const registry: ProviderRegistry = {
    get: () => provider,
    list: () => [{ id: 'rec', kind: 'test', defaultFor: ['completion'] }],
    usage: () => [],
    dispose: () => undefined,
  };
  return { registry, shown, accepted };
}

describe('providers that want to hear about their suggestions', () => {
  it('are told, with the completion id, when one is shown and when it is accepted (once)', async () => {
    const h = await harness('{ debounce_ms = 0, suggestions = 2 }');
    const rec = recordingProvider([
      { text: 'héllo wörld', id: 's-1' },
      { text: 'second one', id: 's-2' },
    ]);
    setProviderRegistry(h.host, rec.registry);
    await h.t.lua(LUA_BUF, [['-- ']]);
    await h.type('A');
    await expect.poll(h.ghost).toBe('héllo wörld');
    await expect.poll(() => rec.shown.map((c) => c.id)).toEqual(['s-1']);

    // A word: the provider hears how many characters (UTF-16 units) were taken.
    await h.type('<M-w>');
    await expect.poll(h.lines).toEqual(['-- héllo']);
    await expect.poll(() => rec.accepted.length).toBe(1);
    expect(rec.accepted[0]).toEqual({
      completion: { text: 'héllo wörld', id: 's-1' },
      chars: 'héllo'.length,
    });
    // The rest of the same suggestion is not reported again.
    await h.type('<M-w>');
    await expect.poll(h.lines).toEqual(['-- héllo wörld']);
    // The change asks again, and the new suggestion is shown (s-1 again, a new showing).
    await expect.poll(() => rec.shown.length).toBe(2);
    await h.stats(); // every notification sent so far has been handled
    expect(rec.accepted).toHaveLength(1);

    // The second suggestion, partly typed by the user, then accepted whole.
    await h.type('<M-]>');
    expect(await h.ghost()).toBe('second one');
    await h.type('sec');
    await expect.poll(h.ghost).toBe('ond one');
    await h.type('<Tab>');
    await expect.poll(h.lines).toEqual(['-- héllo wörldsecond one']);
    await expect.poll(() => rec.accepted.length).toBe(2);
    expect(rec.accepted[1]).toEqual({
      completion: { text: 'second one', id: 's-2' },
      chars: undefined,
    });

    const report = await h.stats();
    expect(report.providers.find((p) => p.provider === 'rec')).toMatchObject({
      shown: expect.any(Number),
      accepted: 2,
    });
    expect(report.completions.accepted).toBe(2);
  });
});

describe(':RuneStats and chat', () => {
  it('counts a failed chat answer under area "chat" and its provider request as an error', async () => {
    const server = await startOllamaServer();
    server.enqueue('chat', { status: 401, errorMessage: 'unauthorized' });
    const c = await startChat({
      providers: { local: ollamaAt(server.url) },
      modules: [statsModule],
    });
    metrics.reset();
    cleanups.push(async () => {
      await c.t.close();
      await server.close();
    });
    await c.t.nvim.command('RuneChat');
    const buf = await c.chatBuf();
    await c.t.lua('vim.api.nvim_buf_set_lines(..., -2, -1, false, { "hello?" })', [buf]);
    await c.t.lua('require("rune.chat").submit(...)', [buf]);
    await c.idle(buf);
    const report = await c.t.lua<StatsReport>(
      'return require("rune.host").request("rune.stats.get")',
    );
    expect(report.errors).toEqual(
      expect.arrayContaining([
        { type: 'auth', area: 'chat', count: 1 },
        { type: 'auth', area: 'provider', count: 1 },
      ]),
    );
    expect(report.providers).toEqual([
      expect.objectContaining({ provider: 'local', requests: 1, errors: 1 }),
    ]);
  });
});
