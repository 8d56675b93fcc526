/**
 * A user who configured no provider: the host spawned by the Lua layer from dist/ looks at
 * what the machine offers (here a wire-faithful Ollama on loopback, found through
 * OLLAMA_HOST as the ollama CLI finds it), uses it for :RuneChat, and says which and why
 * in the answer header and :checkhealth. With nothing found, the first answer is guidance.
 */
import * as net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, startRune } from '../helpers/e2e.js';

const servers: OllamaServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

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
});
