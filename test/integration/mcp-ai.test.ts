/**
 * The AI tools through the MCP server, with the real providers (official SDKs)
 * against wire-faithful fake APIs on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  startAnthropicServer,
  startOllamaServer,
  startOpenAIServer,
  type AnthropicServer,
  type OllamaServer,
  type OpenAIServer,
} from '../helpers/servers/index.js';
import { startMcpEnv, textOf, type McpEnv } from './mcp-helpers.js';

let env: McpEnv;
let client: Client;
let ollama: OllamaServer;
let openai: OpenAIServer;
let anthropic: AnthropicServer;

beforeAll(async () => {
  ollama = await startOllamaServer();
  openai = await startOpenAIServer();
  anthropic = await startAnthropicServer();
  process.env.RUNE_MCP_TEST_KEY = 'test-key-123456';
  env = await startMcpEnv(
    // The user's config allows these tools, which otherwise ask first.
    "{ approval = { rules = { { tool = 'ai_*', action = 'allow' }, { tool = 'list_models', action = 'allow' } } } }",
    {},
    {
      providers: `{
      ol = { kind = 'ollama', url = '${ollama.url}', model = 'llama3' },
      gpt = { kind = 'openai', url = '${openai.url}/v1', model = 'gpt-x', api_key = 'env:RUNE_MCP_TEST_KEY' },
      claude = { kind = 'anthropic', url = '${anthropic.url}', model = 'claude-x', api_key = 'env:RUNE_MCP_TEST_KEY' },
    }`,
      default_provider: `'ol'`,
    },
  );
  client = await env.connect('ai-client');
});

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await env?.t.close();
  await Promise.all([ollama?.close(), openai?.close(), anthropic?.close()]);
});

describe('MCP AI tools', () => {
  it('streams an Ollama answer as progress and returns it whole', async () => {
    ollama.enqueue('chat', { text: ['Hel', 'lo ', 'there'] });
    const progress: string[] = [];
    const r = await client.callTool(
      { name: 'ai_ollama_generate', arguments: { prompt: 'say hello' } },
      undefined,
      { onprogress: (p) => progress.push(p.message ?? '') },
    );
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(textOf(r)).toBe('Hello there');
    expect(progress.join('')).toBe('Hello there');
    expect(JSON.stringify(ollama.requestsTo('chat')[0]!.body)).toContain('say hello');
  });

  it('chats with OpenAI-compatible and Claude providers', async () => {
    openai.enqueue('chat', { text: 'from gpt' });
    const a = await client.callTool({
      name: 'ai_openai_chat',
      arguments: { messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(textOf(a), textOf(a)).toBe('from gpt');
    anthropic.enqueue('messages', { text: 'from claude' });
    const b = await client.callTool({
      name: 'ai_claude_chat',
      arguments: { messages: [{ role: 'user', content: 'hi' }], system: 'be brief' },
    });
    expect(textOf(b), textOf(b)).toBe('from claude');
  });

  it('lists the models of every provider', async () => {
    const r = await client.callTool({ name: 'list_models', arguments: {} });
    const data = JSON.parse(textOf(r)) as { providers: { provider: string }[] };
    expect(data.providers.map((p) => p.provider).sort()).toEqual(['claude', 'gpt', 'ol']);
  });

  it('says which provider to configure when none of a kind exists', async () => {
    const r = await client.callTool({
      name: 'ai_openai_chat',
      arguments: { messages: [{ role: 'user', content: 'x' }], provider: 'nope' },
    });
    expect(r.isError).toBe(true);
  });
});
