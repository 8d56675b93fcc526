/**
 * AI tools: let an agent ask the user's configured models (Ollama, Claude,
 * OpenAI-compatible) through the ProviderRegistry. Partial output streams as
 * progress notifications; the full answer is the result, split into chunks
 * when it is long.
 */
import { z } from 'zod';
import { DisposableStore, type Disposable } from '../core/disposable.js';
import { ConfigError } from '../core/errors.js';
import type { ChatMessage, Provider, ProviderRegistry } from '../providers/types.js';
import {
  jsonResult,
  type CallToolResult,
  type ToolContext,
  type ToolRegistry,
} from './registry.js';

/** Text blocks in a result hold at most this many characters each. */
const CHUNK = 16000;

export function registerAiTools(
  registry: ToolRegistry,
  providers: () => ProviderRegistry,
): Disposable {
  const store = new DisposableStore();

  const byKind = (kinds: string[], id?: string): Provider => {
    const reg = providers();
    if (id) return reg.get('chat', id);
    const found = reg.list().find((p) => kinds.includes(p.kind));
    if (!found) {
      throw new ConfigError(
        'providers',
        `no ${kinds.join(' or ')} provider is configured; add one to \`providers\` in setup()`,
      );
    }
    return reg.get('chat', found.id);
  };

  const run = async (
    provider: Provider,
    messages: ChatMessage[],
    opts: { model?: string; system?: string; max_tokens?: number; temperature?: number },
    ctx: ToolContext,
  ): Promise<CallToolResult> => {
    let text = '';
    let chunks = 0;
    let usage: unknown;
    let model = opts.model ?? '';
    for await (const ev of provider.chat(
      {
        model: opts.model,
        messages,
        system: opts.system,
        maxTokens: opts.max_tokens,
        temperature: opts.temperature,
      },
      { signal: ctx.signal },
    )) {
      if (ev.type === 'text') {
        text += ev.delta;
        ctx.progress({ progress: ++chunks, message: ev.delta });
      } else if (ev.type === 'done') {
        usage = ev.usage;
        model = ev.model;
      }
    }
    const content: CallToolResult['content'] = [];
    for (let i = 0; i < text.length || i === 0; i += CHUNK) {
      content.push({ type: 'text', text: text.slice(i, i + CHUNK) });
    }
    return { content, structuredContent: { provider: provider.id, model, usage } };
  };

  const chatArgs = {
    messages: z
      .array(z.object({ role: z.enum(['user', 'assistant']), content: z.string() }))
      .min(1),
    system: z.string().optional(),
    model: z.string().optional().describe("Model id; the provider's default when omitted."),
    provider: z
      .string()
      .optional()
      .describe('Provider name from the config; the first of this kind when omitted.'),
    max_tokens: z.number().int().min(1).optional(),
    temperature: z.number().min(0).max(2).optional(),
  };
  // They change no file, but they spend the user's credit and send text off the machine:
  // each call asks first unless mcp.approval.rules (or "always for this project") allows it.
  const AI = { readOnlyHint: false, destructiveHint: false, openWorldHint: true } as const;
  const approval = 'ask' as const;

  store.add(
    registry.register({
      name: 'ai_ollama_generate',
      title: 'Generate with Ollama',
      description:
        'Generates text from a prompt with a local Ollama model; streams partial output as progress.',
      inputSchema: {
        prompt: z.string().min(1),
        system: z.string().optional(),
        model: z.string().optional(),
        provider: z.string().optional(),
        max_tokens: z.number().int().min(1).optional(),
        temperature: z.number().min(0).max(2).optional(),
      },
      annotations: AI,
      approval,
      handler: (args, ctx) =>
        run(byKind(['ollama'], args.provider), [{ role: 'user', content: args.prompt }], args, ctx),
    }),
  );
  store.add(
    registry.register({
      name: 'ai_claude_chat',
      title: 'Chat with Claude',
      description:
        'Sends a conversation to a configured Anthropic (Claude) provider; streams partial output as progress.',
      inputSchema: chatArgs,
      annotations: AI,
      approval,
      handler: (args, ctx) => run(byKind(['anthropic'], args.provider), args.messages, args, ctx),
    }),
  );
  store.add(
    registry.register({
      name: 'ai_openai_chat',
      title: 'Chat with an OpenAI-compatible model',
      description:
        'Sends a conversation to a configured OpenAI-compatible provider; streams partial output as progress.',
      inputSchema: chatArgs,
      annotations: AI,
      approval,
      handler: (args, ctx) => run(byKind(['openai'], args.provider), args.messages, args, ctx),
    }),
  );
  store.add(
    registry.register({
      name: 'list_models',
      title: 'List models',
      description: 'Lists the models of every configured provider (or of one).',
      inputSchema: { provider: z.string().optional() },
      annotations: AI,
      approval,
      handler: async (args, ctx) => {
        const reg = providers();
        const out: { provider: string; kind: string; models?: unknown[]; error?: string }[] = [];
        for (const p of reg.list()) {
          if (args.provider && p.id !== args.provider) continue;
          try {
            out.push({
              provider: p.id,
              kind: p.kind,
              models: await reg.get('chat', p.id).models({ signal: ctx.signal }),
            });
          } catch (err) {
            out.push({ provider: p.id, kind: p.kind, error: (err as Error).message });
          }
        }
        return jsonResult({ providers: out });
      },
    }),
  );
  return store;
}
