/**
 * The chat feature as a host module: serves the `rune.chat.*` requests made
 * by lua/rune/chat.lua.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { NotFoundError, StateError } from '../../core/errors.js';
import { parseSection } from '../../core/config.js';
import { nil } from '../../core/nil.js';
import { mcpConfigSchema } from '../mcp.js';
import { DisposableStore, toAsyncDisposable, type Disposable } from '../../core/disposable.js';
import { defineModule } from '../module.js';
import { providersModule } from '../providers.js';
import { ChatController, chatConfigSchema, type OpenArgs } from './controller.js';
import { HistoryStore } from './history.js';
import { ApprovalStore } from '../../tools/approval.js';
import { ArgsApprovalPolicy, ArgsApprovalStore } from '../../tools/approval-args.js';
import type { ToolRegistry } from '../../tools/registry.js';
import { toolsModule } from '../tools.js';
import { hubModule } from '../hub/index.js';
import { RegistryChatTools } from '../../chat/tools.js';
import { NvimChatApprovalUi } from './approval-ui.js';
import { nvimChatUi } from './ui.js';
import { expandPrompt, findPrompt, promptFacts, promptLibrary } from '../prompts.js';
import { contextWordItems } from './context.js';
import { projectInstructions } from '../instructions.js';

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

/** The `chat` section of setup(), parsed (also read by :RuneEdit). */
export function parseChatSection(all: Readonly<Record<string, unknown>>) {
  return parseSection('chat', chatConfigSchema, all.chat);
}

export function chatModule() {
  return defineModule({
    name: 'chat',
    needs: [providersModule, toolsModule],
    config: parseChatSection,
    async activate(ctx): Promise<Disposable> {
      const { host, logger, facts } = ctx;
      const { state } = facts;
      const warn = (message: string) => {
        void host.nvim
          .lua('require("rune.util").notify(..., vim.log.levels.WARN)', [message])
          .catch(() => undefined);
      };
      const history = new HistoryStore(path.join(state, 'rune', 'chats'), logger, warn);
      // mcp.approval.rules apply to chat tool calls too; the rest of `mcp` is the MCP server's.
      const approvalSchema = mcpConfigSchema.pick({ approval: true });
      const { rules } = parseSection('mcp', approvalSchema, host.config.mcp).approval;
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
        rules,
        store: answers,
        argsStore,
        project: () => facts.cwd,
        ui,
        logger,
      });
      const registries = (): ToolRegistry[] => {
        return [ctx.needs.tools];
      };
      const chat = new ChatController({
        ui: nvimChatUi(host.nvim),
        logger,
        registry: () => ctx.needs.providers.registry(),
        why: (id) => (id ? ctx.needs.providers.auto()?.why[id] : undefined),
        onError: (err) => ctx.needs.providers.offerPull(err),
        history,
        config: ctx.config,
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
          const hub = host.service(hubModule);
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
  });
}
