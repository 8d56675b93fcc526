/**
 * Attack test for spending tools, against the BUILT host (dist/) spawned by
 * the Lua layer in a real headless Neovim, over the official SDK client: an
 * agent cannot spend the user's credit (or send text off the machine) with
 * the `ai_*` tools without the user's word, unless the user's config allows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { startBuiltMcpEnv, textOf, type BuiltMcpEnv } from './mcp-helpers.js';

let env: BuiltMcpEnv;
let client: Client;
let ollama: OllamaServer;

beforeAll(async () => {
  ollama = await startOllamaServer();
  env = await startBuiltMcpEnv(
    `{
      providers = { ol = { kind = 'ollama', url = '${ollama.url}', model = 'llama3' } },
      default_provider = 'ol',
      -- The user allows listing models, nothing else.
      mcp = { approval = { rules = { { tool = 'list_models', action = 'allow' } } } },
    }`,
  );
  client = await env.connect('spender');
});

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await env?.t.close();
  await ollama?.close();
});

describe('tools that spend money or leave the machine', () => {
  it('are not announced as read-only', async () => {
    const tools = (await client.listTools()).tools.filter(
      (t) => t.name.startsWith('ai_') || t.name === 'list_models',
    );
    expect(tools.length).toBe(4);
    for (const t of tools) expect(t.annotations?.readOnlyHint, t.name).toBe(false);
  });

  it('ask first: a denied ai_* call never reaches the provider', async () => {
    const call = client.callTool({ name: 'ai_ollama_generate', arguments: { prompt: 'spend' } });
    await env.nextPrompt();
    await env.t.lua('require("rune.approval").answer("deny")');
    const r = await call;
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/denied/);
    expect(ollama.requestsTo('chat')).toEqual([]);
    expect(ollama.requestsTo('generate')).toEqual([]);
  });

  it('run unasked where the user config allows them', async () => {
    const r = await client.callTool({ name: 'list_models', arguments: {} });
    expect(r.isError).toBeFalsy();
    expect(await env.pending()).toEqual([]);
  });
});
