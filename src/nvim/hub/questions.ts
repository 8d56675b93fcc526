/**
 * Sampling and elicitation requests of MCP servers, asked of the user in Neovim through
 * lua/rune/approval.lua (never blocking it) and answered with the chat provider.
 */
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type {
  CreateMessageRequest,
  CreateMessageResult,
  ElicitRequest,
  ElicitResult,
} from '@modelcontextprotocol/sdk/types.js';
import { PendingAnswers } from '../../core/pending.js';
import type { Logger } from '../../core/log.js';
import type { HubUi } from '../../mcp/hub/clients.js';
import type { ChatMessage } from '../../providers/types.js';
import type { ReadyHost } from '../host.js';
import { getProviderRegistry } from '../providers.js';
import { execLua } from '../chat/lua.js';

/** Answers from Lua prompts (lua/rune/approval.lua), matched by id; a prompt withdrawn on abort. */
export class Prompts {
  private readonly waiting = new PendingAnswers<unknown>();
  private n = 0;

  constructor(
    private readonly host: ReadyHost,
    private readonly logger: Logger,
  ) {}

  answer(id: string, value: unknown): void {
    this.waiting.answer(id, value);
  }

  pending(): number {
    return this.waiting.ids().length;
  }

  /** Shows a prompt of `kind` through `require("rune.approval").ask` and waits for its answer. */
  ask(
    kind: 'sample' | 'elicit',
    req: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<unknown> {
    const id = `h${++this.n}`;
    return this.waiting.ask(id, signal, {
      show: () =>
        execLua(this.host.nvim, 'require("rune.approval").ask(...)', [{ ...req, kind, id }]).catch(
          (err: unknown) => {
            this.logger.error('could not show the prompt', { err });
            throw err;
          },
        ),
      withdraw: () => execLua(this.host.nvim, 'require("rune.approval").cancel(...)', [id]),
      cancelled: 'The request was cancelled while waiting for an answer.',
    });
  }
}

function contentText(c: unknown): string {
  const one = (x: unknown): string => {
    const b = x as { type?: string; text?: string; mimeType?: string };
    if (b?.type === 'text') return b.text ?? '';
    return b?.type ? `[${b.type}${b.mimeType ? ` ${b.mimeType}` : ''}]` : '';
  };
  return Array.isArray(c) ? c.map(one).join('\n') : one(c);
}

/** Sampling and elicitation, answered by the user in Neovim. */
export class NvimHubUi implements HubUi {
  constructor(
    private readonly host: ReadyHost,
    private readonly prompts: Prompts,
    private readonly logger: Logger,
  ) {}

  async sample(
    server: string,
    params: CreateMessageRequest['params'],
    signal: AbortSignal,
  ): Promise<CreateMessageResult> {
    const messages = params.messages.map((m) => ({ role: m.role, text: contentText(m.content) }));
    const ok = await this.prompts.ask(
      'sample',
      {
        server,
        messages: messages as never,
        system: params.systemPrompt ?? '',
        max_tokens: params.maxTokens,
      },
      signal,
    );
    if (ok !== true) {
      throw new McpError(-1, `The user declined the sampling request of "${server}".`);
    }
    const provider = getProviderRegistry(this.host).get('chat');
    const req: ChatMessage[] = messages.map((m) => ({ role: m.role, content: m.text }));
    let text = '';
    let model = provider.id;
    let stopReason = 'endTurn';
    for await (const ev of provider.chat(
      {
        messages: req,
        ...(params.systemPrompt ? { system: params.systemPrompt } : {}),
        maxTokens: params.maxTokens,
        ...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
      },
      { signal },
    )) {
      if (ev.type === 'text') text += ev.delta;
      else if (ev.type === 'done') {
        model = ev.model || model;
        stopReason = ev.stopReason === 'max_tokens' ? 'maxTokens' : 'endTurn';
      }
    }
    this.logger.info('sampling request answered', { server, model, chars: text.length });
    return { model, role: 'assistant', content: { type: 'text', text }, stopReason };
  }

  async elicit(
    server: string,
    params: ElicitRequest['params'],
    signal: AbortSignal,
  ): Promise<ElicitResult> {
    if (!('requestedSchema' in params)) {
      // URL mode is not offered in the capabilities; refuse politely.
      return { action: 'decline' };
    }
    const schema = params.requestedSchema;
    const fields = Object.entries(schema.properties).map(([name, p]) => {
      const prop = p as Record<string, unknown>;
      const values = Array.isArray(prop.enum)
        ? (prop.enum as unknown[]).map(String)
        : Array.isArray(prop.oneOf)
          ? (prop.oneOf as { const: unknown }[]).map((o) => String(o.const))
          : undefined;
      const items = (prop.items ?? {}) as { enum?: unknown[]; anyOf?: { const: unknown }[] };
      const choices = items.enum ?? items.anyOf?.map((o) => o.const);
      const hint = choices ? ` (comma-separated: ${choices.map(String).join(', ')})` : '';
      return {
        name,
        type: String(prop.type ?? 'string'),
        title: typeof prop.title === 'string' ? prop.title : name,
        description: (typeof prop.description === 'string' ? prop.description : '') + hint,
        required: schema.required?.includes(name) === true,
        ...(prop.default !== undefined ? { default: String(prop.default) } : {}),
        ...(values ? { values } : {}),
      };
    });
    const answer = (await this.prompts.ask(
      'elicit',
      { server, message: params.message, fields: fields as never },
      signal,
    )) as { action?: string; content?: Record<string, unknown> } | null;
    const action =
      answer?.action === 'accept' || answer?.action === 'decline' ? answer.action : 'cancel';
    if (action !== 'accept') return { action };
    const content: Record<string, string | number | boolean | string[]> = {};
    for (const f of fields) {
      const raw = answer?.content?.[f.name];
      const text = raw === undefined || raw === null || raw === '' ? f.default : String(raw);
      if (text === undefined) continue;
      if (f.type === 'number' || f.type === 'integer') {
        const n = Number(text);
        if (!Number.isNaN(n)) content[f.name] = f.type === 'integer' ? Math.trunc(n) : n;
      } else if (f.type === 'boolean') {
        content[f.name] = text === 'true' || text === 'yes' || text === '1';
      } else if (f.type === 'array') {
        content[f.name] = text
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      } else {
        content[f.name] = text;
      }
    }
    return { action, content };
  }
}
