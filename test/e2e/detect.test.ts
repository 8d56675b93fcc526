/**
 * A user who configured no provider: the host spawned by the Lua layer from dist/ looks at
 * what the machine offers (here a wire-faithful Ollama on loopback, found through
 * OLLAMA_HOST as the ollama CLI finds it), uses it for :RuneChat, and says which and why
 * in the answer header and :checkhealth. With nothing found, the first answer is guidance.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, startRune } from '../helpers/e2e.js';
import { freePort as closedPort } from '../helpers/ports.js';

const servers: OllamaServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** No keys, no sign-in, the peers' ports closed unless a test opens one. */
async function bareEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    OLLAMA_HOST: `127.0.0.1:${await closedPort()}`,
    LLAMA_ARG_PORT: String(await closedPort()),
    ANTHROPIC_API_KEY: '',
    OPENAI_API_KEY: '',
    GH_COPILOT_TOKEN: '',
    GITHUB_COPILOT_TOKEN: '',
    ...extra,
  };
}

const lines = (t: TestNvim) =>
  t.lua<string[]>('return vim.api.nvim_buf_get_lines(0, 0, -1, false)');

/** Opens :RuneChat, asks, and returns the chat's text once the answer (or error) is in. */
async function ask(t: TestNvim, until: RegExp): Promise<string> {
  await t.nvim.input(':RuneChat<CR>');
  await waitFor(
    async () => (await t.lua<boolean>('return vim.b.rune_chat_id ~= nil')) === true,
    20000,
    'the chat',
  );
  await waitFor(async () => (await t.nvim.mode).mode === 'i', 10000, 'Insert mode');
  await t.nvim.input('Say hello<C-s>');
  const text = await waitFor(
    async () => {
      const s = (await lines(t)).join('\n');
      return until.test(s) ? s : undefined;
    },
    20000,
    `the chat to match ${until}`,
  );
  return text!;
}

async function health(t: TestNvim): Promise<string> {
  await t.nvim.input('<Esc>');
  await t.nvim.command('checkhealth rune');
  return waitFor(
    async () => {
      const s = (await lines(t)).join('\n');
      return /providers/.test(s) && /provider\(s\)/.test(s) ? s : undefined;
    },
    20000,
    'the providers health section',
  ) as Promise<string>;
}

describe('a model without configuration (built host)', () => {
  it('finds a running Ollama, chats with it, and says why in the header and :checkhealth', async () => {
    const server = await startOllamaServer();
    servers.push(server);
    server.script('chat', () => ({ text: 'Hello there' }));
    const t = await startRune({ env: await bareEnv({ OLLAMA_HOST: server.url }) });
    await explained(t, async () => {
      const text = await ask(t, /Hello there/);
      expect(text).toContain(
        `## Rune (ollama/llama3.2:latest) · found: Ollama at ${server.url} with 2 model(s)`,
      );
      expect(server.requestsTo('chat')[0]!.body).toMatchObject({ model: 'llama3.2:latest' });
      const h = await health(t);
      expect(h).toContain(
        `No provider configured; detected: chat → ollama (Ollama at ${server.url} with 2 model(s)), completion → ollama`,
      );
    });
    await t.close();
  });

  it('with nothing found, the first answer says what to install or set and names :RuneSetup', async () => {
    const t = await startRune({ env: await bareEnv() });
    await explained(t, async () => {
      const text = await ask(t, /\[!ERROR\]/);
      expect(text).toContain('No model found on this machine: run :RuneSetup to pick one, or:');
      expect(text).toContain('> - anthropic: set ANTHROPIC_API_KEY');
      expect(text).toContain('ollama pull llama3.2');
      expect(text).not.toContain('Cannot reach');
      const h = await health(t);
      expect(h).toContain('No provider configured and none found on this machine');
    });
    await t.close();
  });

  it(':RuneSetup lists what was found, one key picks, the pick is saved and used next time', async () => {
    const server = await startOllamaServer();
    servers.push(server);
    server.script('chat', () => ({ text: 'From Ollama' }));
    // zeke on PATH and an Anthropic key as well: detection picks Anthropic for chat.
    const zekeBin = path.join(process.cwd(), 'test', 'fixtures', 'zeke', 'bin');
    const env = await bareEnv({
      OLLAMA_HOST: server.url,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      PATH: `${zekeBin}${path.delimiter}${process.env.PATH ?? ''}`,
    });
    const t = await startRune({ env });
    let pick = '';
    await explained(t, async () => {
      await t.nvim.input(':RuneSetup<CR>');
      const float = await waitFor(
        async () => {
          const l = (await lines(t)).join('\n');
          return /pick · r: look again/.test(l) ? l : undefined;
        },
        20000,
        'the setup float',
      );
      expect(float).toMatch(/\[1\] anthropic\s+ANTHROPIC_API_KEY is set {2}\(in use\)/);
      expect(float).toMatch(/\[2\] ollama\s+Ollama at .* with 2 model\(s\)/);
      expect(float).toMatch(/\[3\] zeke\s+zeke on PATH/);
      expect(float).toMatch(/openai\s+needs: set OPENAI_API_KEY/);
      expect(float).toMatch(/llamacpp\s+needs: install llama.cpp/);
      const win = await t.lua<string>('return vim.api.nvim_win_get_config(0).relative');
      expect(win).toBe('editor');

      await t.nvim.input('2');
      const after = await waitFor(
        async () => {
          const l = (await lines(t)).join('\n');
          return /Rune now uses ollama/.test(l) ? l : undefined;
        },
        20000,
        'the pick to be confirmed',
      );
      expect(after).toContain("require('rune').setup({");
      expect(after).toContain(
        `  providers = { ollama = { url = '${server.url}', model = 'llama3.2:latest', fim_model = 'qwen2.5-coder:1.5b' } },`,
      );
      const saved = path.join(t.home, 'state', 'nvim', 'rune', 'setup.json');
      pick = fs.readFileSync(saved, 'utf8');
      expect(JSON.parse(pick)).toMatchObject({ provider: 'ollama' });
      await t.nvim.input('q');

      const text = await ask(t, /From Ollama/);
      expect(text).toContain('## Rune (ollama/llama3.2:latest) · picked with :RuneSetup');
    });
    await t.close();

    // The next Neovim finds the pick in its state folder and uses it.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-setup-'));
    fs.mkdirSync(path.join(home, 'state', 'nvim', 'rune'), { recursive: true });
    fs.writeFileSync(path.join(home, 'state', 'nvim', 'rune', 'setup.json'), pick);
    const again = await startRune({ env, home });
    await explained(again, async () => {
      const text = await ask(again, /From Ollama/);
      expect(text).toContain('## Rune (ollama/llama3.2:latest) · picked with :RuneSetup');
      const h = await health(again);
      expect(h).toContain("ollama picked with :RuneSetup (saved in Rune's state folder)");
    });
    await again.close();
  });
});
