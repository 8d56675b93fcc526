/**
 * The chat feature as a host module: serves the `rune.chat.*` requests made
 * by lua/rune/chat.lua.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError, NotFoundError, StateError } from '../../core/errors.js';
import { DisposableStore, toAsyncDisposable, type Disposable } from '../../core/disposable.js';
import type { HostModule, ReadyHost } from '../host.js';
import { autoChoice, getProviderRegistry } from '../providers.js';
import { ChatController, chatConfigSchema, type OpenArgs } from './controller.js';
import { HistoryStore } from './history.js';
import { ApprovalStore } from '../../tools/approval.js';
import { ArgsApprovalPolicy, ArgsApprovalStore } from '../../tools/approval-args.js';
import type { ToolRegistry } from '../../tools/registry.js';
import { getToolRegistry } from '../tools.js';
import { getHub } from '../hub.js';
import { RegistryChatTools } from '../../chat/tools.js';
import { NvimChatApprovalUi } from './approval-ui.js';
import { nvimChatUi } from './ui.js';
import { expandPrompt, findPrompt, promptFacts, promptLibrary } from '../prompts.js';
import { contextWordItems } from './context.js';
import { projectInstructions } from '../instructions.js';

/** The approval rules of `mcp.approval.rules`, which apply to chat tool calls too. */
const rulesSchema = z
  .array(
    z.object({
      tool: z.string().min(1),
      args: z.record(z.string(), z.string()).optional(),
      action: z.enum(['allow', 'deny', 'ask']),
    }),
  )
  .default([]);

const nil = <T extends z.ZodType>(t: T) =>
  z.preprocess((v) => (v === null ? undefined : v), t.optional());

const selectionSchema = z.object({
  buf: z.number(),
  name: z.string(),
  filetype: z.string(),
  line1: z.number(),
  line2: z.number(),
  lines: z.array(z.string()),
});

const openSchema = z.object({
  new: nil(z.boolean()),
  id: nil(z.string()),
  root: z.string().min(1),
  source: nil(z.number()),
  selection: nil(selectionSchema),
  prompt: nil(z.string()),
});

const buf = z.number().int();
const optBuf = nil(z.number().int());

export function chatModule(): HostModule {
  return {
    name: 'chat',
    async activate(host: ReadyHost): Promise<Disposable> {
      // Lua sends unset options (vim.NIL) as null.
      const raw = Object.entries((host.config.chat ?? {}) as Record<string, unknown>).filter(
        ([, v]) => v !== null,
      );
      const parsed = chatConfigSchema.safeParse(Object.fromEntries(raw));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ConfigError(`chat.${issue?.path.join('.') ?? ''}`, issue?.message ?? 'invalid');
      }
      const state = (await host.nvim.call('stdpath', ['state'])) as string;
      const logger = host.logger.child({ module: 'chat' });
      const warn = (message: string) => {
        void host.nvim
          .lua('require("rune.util").notify(..., vim.log.levels.WARN)', [message])
          .catch(() => undefined);
      };
      const history = new HistoryStore(path.join(state, 'rune', 'chats'), logger, warn);
      const mcp = (host.config.mcp ?? {}) as { approval?: { rules?: unknown } };
      const rules = rulesSchema.safeParse(mcp.approval?.rules ?? undefined);
      if (!rules.success) {
        const issue = rules.error.issues[0];
        throw new ConfigError(
          `mcp.approval.rules.${issue?.path.join('.') ?? ''}`,
          issue?.message ?? 'invalid',
        );
      }
      const cwd = (await host.nvim.call('getcwd', [])) as string;
      const library = promptLibrary(host.config.prompts);
      const ui = new NvimChatApprovalUi(host.nvim, logger);
      const answers = new ApprovalStore(path.join(state, 'rune', 'chat-approvals.json'), warn);
      const argsStore = new ArgsApprovalStore(
        path.join(state, 'rune', 'chat-approvals-args.json'),
        warn,
      );
      answers.open();
      argsStore.open();
      const policy = new ArgsApprovalPolicy({
        rules: rules.data,
        store: answers,
        argsStore,
        project: () => cwd,
        ui,
        logger,
      });
      const registries = (): ToolRegistry[] => {
        return [getToolRegistry(host)];
      };
      const chat = new ChatController({
        ui: nvimChatUi(host.nvim),
        logger,
        registry: () => getProviderRegistry(host),
        why: (id) => (id ? autoChoice(host)?.why[id] : undefined),
        history,
        config: parsed.data,
        tools: new RegistryChatTools(registries, policy.gate),
        instructions: (root) => projectInstructions(host.nvim, root),
        expand: async (text, where) => {
          const found = findPrompt(library, text);
          if (!found) return text;
          const sel = where.selection;
          const buf = sel?.buf ?? where.sourceBuf;
          if (buf === undefined) {
            throw new NotFoundError(
              `/${found.prompt.name} needs code: run :RuneChat from the buffer you mean (with a selection for part of it).`,
            );
          }
          const facts = await promptFacts(
            host.nvim,
            buf,
            where.root,
            sel ? { line1: sel.line1, line2: sel.line2 } : undefined,
          );
          return expandPrompt(found, facts);
        },
        readResource: async (server, uri) => {
          const hub = getHub(host);
          if (!hub) throw new StateError('The MCP hub is off (mcp.hub.enabled).');
          const res = await hub.readResource(server, uri);
          const texts = res.contents.map((c) =>
            'text' in c
              ? c.text
              : `[binary ${c.mimeType ?? 'data'}, ${c.blob.length} base64 chars]`,
          );
          return { text: texts.join('\n\n'), mimeType: res.contents[0]?.mimeType };
        },
      });
      const store = new DisposableStore();
      store.add(
        host.onNotification('rune.chat.tool_answer', ([id, decision, accepted]) =>
          ui.answer(String(id), decision, accepted),
        ),
      );
      store.add(
        host.onRequest('rune.chat.open', ([a]) => chat.open(openSchema.parse(a) as OpenArgs)),
      );
      store.add(
        host.onRequest('rune.chat.submit', ([b, source]) =>
          chat.submit(buf.parse(b), optBuf.parse(source)),
        ),
      );
      store.add(host.onRequest('rune.chat.stop', ([b]) => chat.stop(optBuf.parse(b))));
      store.add(host.onNotification('rune.chat.stop', ([b]) => chat.stop(optBuf.parse(b))));
      store.add(host.onRequest('rune.chat.models', ([b]) => chat.models(buf.parse(b))));
      store.add(
        host.onRequest('rune.chat.set_model', ([b, provider, model]) =>
          chat.setModel(buf.parse(b), z.string().parse(provider), nil(z.string()).parse(model)),
        ),
      );
      store.add(
        host.onRequest('rune.chat.history', ([root]) => chat.history(z.string().parse(root))),
      );
      store.add(
        host.onRequest('rune.chat.words', () => ({
          words: contextWordItems(),
          prompts: library.map((p) => ({ word: `/${p.name}`, menu: p.description })),
        })),
      );
      store.add(
        host.addHealth('chat', () => [{ level: 'ok', message: `chat history in ${history.dir}` }]),
      );
      store.add(toAsyncDisposable(() => chat.disposeAsync()));
      return store;
    },
  };
}
