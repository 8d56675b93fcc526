/**
 * :RuneChat with zeke in a real headless Neovim, through the host the Lua layer spawns
 * from dist/: against the strict `zeke serve` double (test/helpers/servers/zeke.ts), and
 * through the fake `zeke` CLI (test/fixtures/zeke/bin/zeke) when no server answers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, alive, parserCmds, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { startZekeServer, type ZekeServer } from '../helpers/servers/index.js';

const BIN = path.join(ROOT, 'test', 'fixtures', 'zeke', 'bin');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function zekeChat(url: string, env: Record<string, string> = {}) {
  const t: TestNvim = await startNvim({
    env,
    preCmds: parserCmds(),
    setup: `require('rune').setup({
      providers = { zeke = { url = '${url}', retry = { base_delay_ms = 5, max_delay_ms = 20 } } },
      default_provider = 'zeke',
      chat = { start_insert = false },
    })`,
  });
  cleanups.push(() => t.close());
  await t.nvim.command('RuneChat');
  const buf = await waitFor(
    () =>
      t.lua<number | null>(
        'for _, b in ipairs(vim.api.nvim_list_bufs()) do if vim.b[b].rune_chat_id then return b end end return nil',
      ),
    15000,
    'the chat buffer',
  );
  const lines = () =>
    t.lua<string[]>('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', [buf]);
  const idle = () =>
    waitFor(
      async () => {
        const busy = await t.lua<boolean>('return vim.b[...].rune_chat_busy == true', [buf]);
        const l = await lines();
        return !busy && l[l.length - 1] === '' && l[l.length - 2] === '## You';
      },
      15000,
      'the answer to finish',
    );
  const ask = async (question: string) => {
    await t.lua('vim.api.nvim_buf_set_lines(..., -2, -1, false, { select(2, ...) })', [
      buf,
      question,
    ]);
    await t.lua('require("rune.chat").submit(...)', [buf]);
  };
  return { t, buf, lines, idle, ask };
}

describe(':RuneChat with zeke serve (built plugin)', () => {
  let s: ZekeServer;
  afterEach(async () => s?.close());

  it('keeps a 10-turn chat whose history passes 2000 characters going, and :checkhealth names the model', async () => {
    s = await startZekeServer();
    const c = await zekeChat(s.url);
    for (let i = 1; i <= 10; i++) {
      s.enqueue('chat', { text: `Answer ${i}: ${'ok '.repeat(40)}` });
      await c.ask(`Question ${i}: ${'why '.repeat(30)}`);
      await c.idle();
    }
    const text = (await c.lines()).join('\n');
    expect(text).not.toContain('[!ERROR]');
    for (let i = 1; i <= 10; i++) expect(text).toContain(`Answer ${i}: ok`);
    const sent = s.requestsTo('chat');
    expect(sent.map((r) => r.status)).toEqual(Array(10).fill(200));
    const last = sent.at(-1)!.body as { message: string; complexity: string; model: string };
    expect(last.message.length).toBeGreaterThan(2000);
    expect(last).toMatchObject({ complexity: 'medium', model: 'qwen2.5-coder:7b' });

    await c.t.nvim.command('checkhealth rune');
    const health = (
      await c.t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
    ).join('\n');
    expect(health).toContain('zeke serve reachable at');
    expect(health).toContain('ollama pull qwen2.5-coder:7b');
  });

  it('shows NoCloudProvider with its code and does not retry it', async () => {
    s = await startZekeServer();
    const c = await zekeChat(s.url);
    s.enqueue('chat', { status: 500, code: 'NoCloudProvider' });
    await c.ask('design a distributed system');
    await c.idle();
    const errors = (await c.lines()).filter((l) => l.startsWith('> [!ERROR]'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('HTTP 500 NoCloudProvider');
    expect(s.requestsTo('chat')).toHaveLength(1);
  });
});

describe('inline completion with zeke serve (built plugin)', () => {
  it('shows the answer of /api/complete as ghost text', async () => {
    const s = await startZekeServer();
    cleanups.push(() => s.close());
    s.enqueue('complete', { text: 'printf("hi");' });
    const t = await startNvim({
      setup: `require('rune').setup({
        providers = { zeke = { url = '${s.url}' } },
        default_provider = 'zeke',
        completion = { debounce_ms = 0 },
      })`,
    });
    cleanups.push(() => t.close());
    await t.lua(`vim.bo.filetype = 'c'; vim.api.nvim_buf_set_lines(0, 0, -1, false, { '  ' })`);
    await t.nvim.input('A');
    await expect
      .poll(() => t.lua('return require("rune.ghost").current()'), { timeout: 15000 })
      .toBe('printf("hi");');
    const rec = s.requestsTo('complete')[0]!;
    expect(rec.status).toBe(200);
    expect(rec.body).toMatchObject({ model: 'qwen2.5-coder:7b', language: 'c' });
  });
});

describe(':RuneChat through the zeke CLI (built plugin)', () => {
  it('streams the answer when zeke serve does not run, and stopping kills zeke', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-zeke-cli-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const c = await zekeChat('http://127.0.0.1:9', {
      PATH: `${BIN}:${process.env.PATH ?? ''}`,
      FAKE_ZEKE_DIR: dir,
      FAKE_ZEKE_ANSWER: 'Hi from the zeke CLI',
    });
    await c.ask('hello');
    await c.idle();
    expect(await c.lines()).toContain('Hi from the zeke CLI');
    expect(fs.readFileSync(path.join(dir, 'message.txt'), 'utf8')).toContain('User: hello');

    fs.writeFileSync(path.join(dir, 'mode'), 'hang');
    await c.ask('count slowly');
    await waitFor(
      async () => (await c.lines()).some((l) => l.includes('first words')),
      15000,
      'the first words',
    );
    const zeke = Number(fs.readFileSync(path.join(dir, 'zeke.pid'), 'utf8'));
    const child = Number(
      await waitFor(
        () =>
          fs.existsSync(path.join(dir, 'child.pid')) &&
          fs.readFileSync(path.join(dir, 'child.pid'), 'utf8'),
      ),
    );
    await c.t.nvim.command('RuneStop');
    await c.idle();
    await waitFor(() => !alive(zeke) && !alive(child), 5000, 'zeke and its child to exit');
    expect(await c.lines()).toContain('_(cancelled)_');
  });

  it('says clearly that zeke is neither serving nor on PATH', async () => {
    const c = await zekeChat('http://127.0.0.1:9', { PATH: '/usr/bin:/bin' });
    await c.ask('hello');
    await c.idle();
    const errors = (await c.lines()).filter((l) => l.startsWith('> [!ERROR]'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('no `zeke` program is on PATH');
  });
});
