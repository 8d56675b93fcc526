/**
 * Providers against doubles as strict as the real services, through the BUILT host
 * (dist/, `npm run build` first) that the Lua layer spawns in a real headless Neovim,
 * and through the built `rune` CLI.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import {
  startAnthropicServer,
  startOllamaServer,
  startOpenAIServer,
  type FakeServerBase,
} from '../helpers/servers/index.js';
import { parserCmds } from './chat-helpers.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

let t: TestNvim | undefined;
const servers: FakeServerBase<string, object>[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await t?.close();
  t = undefined;
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function chatIn(config: Record<string, unknown>, question: string): Promise<TestNvim> {
  const nvim = await startNvim({
    setup: `require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
    preCmds: parserCmds(),
  });
  t = nvim;
  await nvim.nvim.command('RuneChat');
  await nvim.lua(`vim.api.nvim_buf_set_lines(0, -2, -1, false, { ${JSON.stringify(question)} })`);
  await nvim.lua('require("rune.chat").submit()');
  return nvim;
}

async function bufferText(nvim: TestNvim): Promise<string> {
  return nvim.lua<string>(
    'return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\\n")',
  );
}

/** Runs the built CLI with a standalone config; resolves with its exit code and output. */
function runCli(
  config: Record<string, unknown>,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-cfg-'));
  dirs.push(dir);
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [CLI, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      RUNE_CONFIG: file,
      XDG_STATE_HOME: dir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('Ollama through the spawned host', () => {
  it(':RuneChat answers after a 6 s silent cold load with the default timeouts, on a model without tools', async () => {
    // Real Ollama: no headers while the model loads (longer than the 5 s connect_ms default),
    // and 400 "… does not support tools" for gemma; every chat offers the editor tools.
    const server = await startOllamaServer({ loadMs: 6000 });
    servers.push(server);
    server.script('chat', () => ({ text: 'Loaded and answering.' }));
    const nvim = await chatIn(
      {
        providers: { local: { kind: 'ollama', url: server.url, model: 'gemma:2b' } },
        chat: { start_insert: false },
      },
      'hello',
    );
    await waitFor(
      async () => (await bufferText(nvim)).includes('Loaded and answering.'),
      30000,
      'the answer after the load',
    );
    const bodies = server.requestsTo('chat').map((r) => r.body as { tools?: unknown[] });
    expect(bodies.map((b) => Boolean(b.tools?.length))).toEqual([true, false]);
    const messages = (await nvim.nvim.commandOutput('messages')) as string;
    expect(messages.split('\n').filter((l) => l.includes('does not support tools'))).toHaveLength(
      1,
    );
    expect(await bufferText(nvim)).not.toMatch(/ERROR|did not answer/);
  });
});

describe('Ollama thinking models in the spawned host', () => {
  it(':RuneChat keeps the reasoning out of the answer and counts it in the stats line', async () => {
    const server = await startOllamaServer();
    servers.push(server);
    server.enqueue('chat', {
      thinking: ['The user ', 'greets me.'],
      text: 'Hello!',
      usage: { input: 5, output: 9 },
    });
    const nvim = await chatIn(
      {
        providers: { local: { kind: 'ollama', url: server.url, model: 'qwen3:0.6b' } },
        chat: { start_insert: false },
      },
      'hi',
    );
    await waitFor(
      async () => /thought \d+ chars/.test(await bufferText(nvim)),
      20000,
      'the stats line',
    );
    const text = await bufferText(nvim);
    expect(text).toContain('Hello!');
    expect(text).not.toContain('greets me');
    expect(text).toMatch(/_5 in · 9 out · thought 19 chars · first token \d+ ms/);
  });
});

describe('Anthropic through the spawned host', () => {
  it(':RuneChat offers a hub tool named fs.read under an allowed name, and goes on after an empty answer', async () => {
    const claude = await startAnthropicServer();
    servers.push(claude);
    // The first answer is empty (nothing but whitespace trimmed away by the model).
    claude.enqueue('messages', { text: [] });
    claude.script('messages', () => ({ text: 'Second answer.' }));
    const fixture = path.join(ROOT, 'test', 'fixtures', 'mcp', 'dotted-tools.mjs');
    const config = {
      providers: {
        claude: { url: claude.url, api_key: 'env:RUNE_TEST_E2E_KEY', retry: { max_attempts: 1 } },
      },
      mcp: { servers: { fx: { command: process.execPath, args: [fixture] } } },
      chat: { start_insert: false },
    };
    const nvim = await startNvim({
      env: { RUNE_TEST_E2E_KEY: 'sk-ant-e2e' },
      setup: `require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
      preCmds: parserCmds(),
    });
    t = nvim;
    // The hub connects in the background: wait until its server offers the tool.
    await waitFor(
      async () =>
        (
          await nvim.lua<{ servers: { name: string; tools: string[] }[] }>(
            'return require("rune.host").request("rune.hub.status")',
          )
        ).servers.some((x) => x.name === 'fx' && x.tools.includes('fs.read')),
      30000,
      'the hub server',
    );
    await nvim.nvim.command('RuneChat');
    for (const q of ['first question', 'second question']) {
      await nvim.lua(`vim.api.nvim_buf_set_lines(0, -2, -1, false, { ${JSON.stringify(q)} })`);
      await nvim.lua('require("rune.chat").submit()');
      const n = q === 'first question' ? 1 : 2;
      await waitFor(() => claude.requestsTo('messages').length >= n, 20000, `request ${n}`);
      await waitFor(
        async () => (await bufferText(nvim)).trimEnd().endsWith('## You'),
        20000,
        'the chat to be idle',
      );
    }
    expect(await bufferText(nvim)).toContain('Second answer.');
    expect(await bufferText(nvim)).not.toMatch(/ERROR/);
    const sent = claude
      .requestsTo('messages')
      .map((r) => r.body as { tools?: { name: string }[]; messages: { content: unknown[] }[] });
    const names = sent[0]!.tools!.map((x) => x.name);
    expect(names.some((n) => /^fx__fs_read_[0-9a-f]{8}$/.test(n))).toBe(true);
    for (const n of names) expect(n).toMatch(/^[a-zA-Z0-9_-]{1,128}$/);
    for (const m of sent[1]!.messages) expect(m.content.length).toBeGreaterThan(0);
  }, 60000);
});

describe('OpenAI through the built rune CLI', () => {
  it('rune chat shows a refusal as such, and stops at once on insufficient_quota', async () => {
    const openai = await startOpenAIServer();
    servers.push(openai);
    const config = {
      providers: {
        openai: {
          url: `${openai.url}/v1`,
          model: 'gpt-5-mini',
          api_key: 'env:RUNE_TEST_OPENAI_KEY',
        },
      },
    };
    openai.enqueue('chat', { refusal: "I'm sorry, I can't help with that." });
    const key = { RUNE_TEST_OPENAI_KEY: 'sk-test' };
    const refused = await runCli(config, ['chat', 'do', 'something'], key);
    expect(refused.code).toBe(0);
    expect(refused.stdout).toBe("I'm sorry, I can't help with that.\n");
    expect(refused.stderr).toMatch(/gpt-5-mini declined to answer/);

    openai.enqueue('chat', {
      status: 429,
      errorType: 'insufficient_quota',
      errorCode: 'insufficient_quota',
      errorMessage: 'You exceeded your current quota, please check your plan and billing details.',
    });
    const broke = await runCli(config, ['chat', 'again'], key);
    expect(broke.code).not.toBe(0);
    expect(broke.stderr).toMatch(/quota or spend limit is used up \(insufficient_quota\)/);
    expect(openai.requestsTo('chat')).toHaveLength(2);
  });
});

describe('rune doctor', () => {
  it('reports what the server says each configured model supports', async () => {
    const ollama = await startOllamaServer();
    servers.push(ollama);
    const r = await runCli(
      { providers: { ollama: { url: ollama.url, model: 'gemma:2b', fim_model: 'starcoder2:3b' } } },
      ['doctor', '--json'],
    );
    const checks = JSON.parse(r.stdout) as { section: string; level: string; message: string }[];
    const lines = checks
      .filter((c) => c.section === 'providers')
      .map((c) => `${c.level} ${c.message}`);
    expect(lines).toContain(
      'warn ollama: gemma:2b (chat): supports none of tools, fim, vision, thinking',
    );
    expect(lines).toContain(
      'ok ollama: starcoder2:3b (completion): supports fim; not tools, vision, thinking',
    );
  });
});

describe(':checkhealth rune in the spawned host', () => {
  it('says per provider whether the configured model exists and what it supports, as the server says', async () => {
    const ollama = await startOllamaServer();
    const claude = await startAnthropicServer();
    servers.push(ollama, claude);
    ollama.enqueue('tags', { models: ['gemma:2b', 'qwen2.5-coder:1.5b'] });
    const config = {
      providers: {
        ollama: { url: ollama.url, model: 'gemma:2b', fim_model: 'qwen2.5-coder:1.5b' },
        claude: {
          url: claude.url,
          api_key: 'env:RUNE_TEST_E2E_KEY',
          model: 'claude-3-5-sonnet-20241022',
          fim_model: 'claude-haiku-5-5',
        },
      },
    };
    t = await startNvim({
      env: { RUNE_TEST_E2E_KEY: 'sk-ant-e2e' },
      setup: `require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`,
    });
    await t.lua('require("rune.host").request("rune.status")');
    await t.nvim.command('checkhealth rune');
    const text = await bufferText(t);
    expect(text).toMatch(
      /WARNING ollama: gemma:2b \(chat\): supports none of tools, fim, vision, thinking/,
    );
    expect(text).toMatch(/Chat will run without tools/);
    expect(text).toMatch(
      /OK ollama: qwen2\.5-coder:1\.5b \(completion\): supports tools, fim; not vision, thinking/,
    );
    expect(text).toMatch(
      /WARNING claude: claude-3-5-sonnet-20241022 \(chat\): the server does not offer this model; pick one of: claude-sonnet-5-5, claude-haiku-5-5/,
    );
    expect(text).toMatch(
      /OK claude: claude-haiku-5-5 \(completion\): supports tools, vision, thinking/,
    );
  });
});
