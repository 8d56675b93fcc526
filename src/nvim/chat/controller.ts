/**
 * The chat controller: one session per chat buffer. It reads the question
 * from the buffer, resolves its #context words, runs the answer's tool loop
 * (src/chat/runner.ts), streams it into the buffer through a StreamWriter, and
 * saves the chat after every step. It reaches the editor only through the
 * `ChatUi` port (src/nvim/chat/ui.ts draws with lua/rune/chat.lua); the
 * decisions are here.
 */
import { z } from 'zod';
import { ConfigError, StateError, isAbort, toRuneError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { metrics, METRICS } from '../../core/metrics.js';
import type { ChatMessage, ModelInfo, Provider, ProviderRegistry } from '../../providers/types.js';
import {
  parseContextRefs,
  promptWithContext,
  type CollectOptions,
  type ContextItem,
  type ContextRef,
  type Selection,
} from './context.js';
import {
  HistoryStore,
  titleFrom,
  type ChatSummary,
  type StoredChat,
  type StoredMessage,
  type StoredTurn,
} from './history.js';
import {
  answerHeader,
  answerTrailer,
  contextBlock,
  errorLine,
  nextPrompt,
  pendingPrompt,
  renderChat,
  stepLimitNote,
  stripToolBlocks,
  toolCallBlock,
  toolResultBlock,
  toolStoppedBlock,
  USER_HEADER,
} from './render.js';
import { ChatRunner } from '../../chat/runner.js';
import type { ChatTools } from '../../chat/tools.js';
import { StreamWriter } from './stream-writer.js';

/** A key of a buffer-local mapping (lua/rune/chat.lua, edit.lua, completion.lua): false turns it off. */
export const keySchema = (lhs: string, does: string) =>
  z
    .union([z.string().min(1), z.literal(false)])
    .default(lhs)
    .describe(`${does} (false: no key)`);

/** The `chat` section of setup(): the window (drawn by lua/rune/chat.lua) and the requests. */
export const chatConfigSchema = z.object({
  layout: z
    .enum(['vsplit', 'split', 'float', 'tab'])
    .default('vsplit')
    .describe('Where the chat window opens'),
  width: z
    .number()
    .positive()
    .default(0.4)
    .describe('Width of a vsplit or float: a fraction of the editor (≤ 1) or columns'),
  height: z
    .number()
    .positive()
    .default(0.4)
    .describe('Height of a split or float: a fraction of the editor (≤ 1) or lines'),
  border: z
    .union([z.string(), z.array(z.unknown())])
    .default('rounded')
    .describe('Border of the float layout, as in nvim_open_win()'),
  start_insert: z.boolean().default(true).describe('Start in Insert mode in the prompt'),
  provider: z
    .string()
    .min(1)
    .optional()
    .describe('Provider for chats (default: default_provider, or the first configured)'),
  model: z.string().min(1).optional().describe("Model for chats (default: the provider's model)"),
  system: z.string().optional().describe('System prompt that replaces the built-in one'),
  max_context_chars: z
    .number()
    .int()
    .positive()
    .default(200_000)
    .describe('Each #context item is cut to this many characters'),
  save_interval_ms: z
    .number()
    .int()
    .positive()
    .default(1000)
    .describe('How often a streaming answer is saved to the chat history, ms'),
  frame_ms: z
    .number()
    .int()
    .positive()
    .default(16)
    .describe('Least time between two buffer writes while an answer streams, ms'),
  tools: z
    .boolean()
    .default(true)
    .describe("Offer tools (Rune's editor tools, the MCP hub's) to the model"),
  max_tool_steps: z
    .number()
    .int()
    .min(0)
    .default(10)
    .describe('Rounds of tool calls one answer may make before the loop stops'),
  instructions: z
    .boolean()
    .default(true)
    .describe(
      "Add the trusted project's AGENTS.md / CLAUDE.md / .rune/instructions.md to the system prompt",
    ),
  keys: z
    .object({
      submit: keySchema('<CR>', 'Send the prompt (Normal mode)'),
      submit_insert: keySchema('<C-s>', 'Send the prompt (Insert mode)'),
      stop: keySchema('<C-c>', 'Stop the answer'),
      close: keySchema('q', 'Close the chat window'),
      apply: keySchema('ga', 'Apply the code block under the cursor to its file'),
    })
    .prefault({})
    .describe('Keys of the chat buffer'),
});
export type ChatConfig = z.output<typeof chatConfigSchema>;

export const DEFAULT_SYSTEM =
  'You are Rune, a coding assistant inside the Neovim editor. Answer concisely in Markdown; ' +
  'put code in fenced blocks with a language. Context the user attached follows their ' +
  'question inside <context> tags.';

/** Arguments of `rune.chat.open`. */
export interface OpenArgs {
  /** Start a new chat even if the project has one open (`:RuneChat!`). */
  new?: boolean;
  /** Reopen a saved chat (from `:RuneChatHistory`). */
  id?: string;
  /** The project root (history is kept per project). */
  root: string;
  /** The buffer the user came from (`#buffer`, `#diagnostics`). */
  source?: number;
  selection?: Selection;
  /** A question to submit at once (`:RuneChat explain this`). */
  prompt?: string;
}

/** Closes a saved tool loop that was stopped before the model answered its results. */
const STOPPED_AFTER_TOOLS = '(The answer was stopped after the tool results.)';

interface Active {
  abort: AbortController;
  writer: StreamWriter;
  done: Promise<void>;
}

interface Session {
  chat: StoredChat;
  buf: number | undefined;
  sourceBuf: number | undefined;
  selection: Selection | undefined;
  active: Active | undefined;
}

/** Facts about the last answer, for statuslines. */
export interface ChatStatus {
  state: 'idle' | 'streaming';
  provider?: string | undefined;
  model?: string | undefined;
  input_tokens?: number | undefined;
  output_tokens?: number | undefined;
  ttft_ms?: number | undefined;
}

/**
 * What the chat needs from the editor (the Neovim side is src/nvim/chat/ui.ts). Buffers
 * are the editor's ids; rows are 0-based.
 */
export interface ChatUi {
  /** Opens a chat buffer showing `lines`; returns its id. */
  create(id: string, project: string, lines: string[]): Promise<number>;
  /** Whether the buffer still exists. */
  exists(buf: number): Promise<boolean>;
  /** The buffer's lines. */
  lines(buf: number): Promise<string[]>;
  /** Adds text to the prompt under the last question header. */
  addToPrompt(buf: number, text: string): Promise<void>;
  /** Shows the answer's `header` after the question (from `row` on) until `begin`; false when the buffer is gone. */
  pending(buf: number, row: number, header: string): Promise<boolean>;
  /** Replaces the question (from `row`, or the lines `pending` marked) with `text` (question, answer header, first text); false when the buffer is gone. */
  begin(buf: number, row: number, text: string): Promise<boolean>;
  /** Appends to the answer; `last` ends it (the buffer becomes editable again). False when gone. */
  append(buf: number, text: string, last?: boolean): Promise<boolean>;
  /** Shows the chat's state (statuslines). */
  status(buf: number, status: ChatStatus): Promise<void>;
  /** The chat id and project root of a chat buffer, or null when it is not one. */
  chatIds(buf: number): Promise<[string, string] | null>;
  /** Reads what the question's `#context` words name. */
  context(refs: ContextRef[], where: Omit<CollectOptions, 'nvim'>): Promise<ContextItem[]>;
  warn(message: string): Promise<void>;
  error(message: string): Promise<void>;
}

export interface ChatControllerOptions {
  ui: ChatUi;
  logger: Logger;
  registry: () => ProviderRegistry;
  /** Why a provider was picked when the user configured none (shown in the answer header). */
  why?: (providerId: string | undefined) => string | undefined;
  history: HistoryStore;
  config: ChatConfig;
  /** The tools offered to models; none when absent. */
  tools?: ChatTools;
  /** The project's instructions (AGENTS.md…) for the system prompt, when the user trusts them. */
  instructions?: (root: string) => Promise<{ name: string; system: string } | undefined>;
  /** Turns a `/prompt` question into the prompt's text (the prompt library); other text is kept. */
  expand?: (
    text: string,
    where: { root: string; sourceBuf: number | undefined; selection: Selection | undefined },
  ) => Promise<string>;
  /** Reads an MCP hub resource for `#mcp:server:uri`. */
  readResource?: (server: string, uri: string) => Promise<{ text: string; mimeType?: string }>;
  /** Told each failed answer's error (after it is shown): offers such as pulling a model. */
  onError?: (err: unknown) => void;
}

export class ChatController {
  private readonly byBuf = new Map<number, Session>();
  private readonly byId = new Map<string, Session>();
  /** The chat `:RuneChat` returns to, per project. */
  private readonly current = new Map<string, Session>();
  private readonly ui: ChatUi;
  private readonly logger: Logger;

  constructor(private readonly opts: ChatControllerOptions) {
    this.ui = opts.ui;
    this.logger = opts.logger;
  }

  /** Opens (or finds) the chat and its buffer; returns the buffer for Lua to show. */
  async open(args: OpenArgs): Promise<{ buf: number; id: string }> {
    let s: Session | undefined;
    if (args.id) s = this.byId.get(args.id) ?? (await this.loadSession(args.root, args.id));
    else if (!args.new) s = this.current.get(args.root);
    if (s && s.buf !== undefined && !(await this.bufValid(s.buf))) {
      this.byBuf.delete(s.buf);
      s.buf = undefined;
    }
    if (!s) s = this.newSession(args.root);
    this.current.set(args.root, s);
    if (args.source !== undefined) s.sourceBuf = args.source;
    if (s.buf === undefined) {
      s.buf = await this.ui.create(s.chat.id, s.chat.project, renderChat(s.chat));
      this.byBuf.set(s.buf, s);
    }
    if (args.selection) {
      s.selection = args.selection;
      await this.addToPrompt(s.buf, '#selection');
    }
    if (args.prompt) {
      await this.addToPrompt(s.buf, args.prompt);
      await this.submit(s.buf, args.source);
    }
    return { buf: s.buf, id: s.chat.id };
  }

  /** Reads the question under the last `## You` and starts streaming the answer. */
  async submit(buf: number, sourceBuf?: number): Promise<void> {
    const s = await this.sessionFor(buf);
    if (s.active) {
      throw new StateError('An answer is still streaming; stop it with <C-c> or :RuneStop first.');
    }
    if (sourceBuf !== undefined && sourceBuf > 0) s.sourceBuf = sourceBuf;
    const lines = await this.ui.lines(buf);
    const pending = pendingPrompt(lines);
    const headerRow = pending.headerRow;
    if (!pending.text) {
      throw new StateError(`Type a question under "${USER_HEADER}" first, then submit.`);
    }
    const text = this.opts.expand
      ? await this.opts.expand(pending.text, {
          root: s.chat.project,
          sourceBuf: s.sourceBuf,
          selection: s.selection,
        })
      : pending.text;
    const budget = this.opts.config.max_context_chars;
    const context = await this.ui.context(parseContextRefs(text), {
      root: s.chat.project,
      sourceBuf: s.sourceBuf,
      selection: s.selection,
      maxChars: budget,
      ...(this.opts.readResource ? { readResource: this.opts.readResource } : {}),
    });
    const cut = context.filter((c) => c.cut);
    if (cut.length) {
      void this.ui
        .warn(
          `context over chat.max_context_chars (${budget}): ${cut.map((c) => `${c.label}: ${c.cut}`).join('; ')}`,
        )
        .catch(() => undefined);
    }
    const question: StoredMessage = { role: 'user', content: text };
    if (context.length) question.context = context;
    if (!s.chat.messages.some((m) => m.role === 'user')) s.chat.title = titleFrom(text);

    let providerId = s.chat.provider ?? this.opts.config.provider;
    let model = s.chat.model ?? this.opts.config.model;
    let provider: Provider | undefined;
    let setupError: unknown;
    try {
      provider = this.opts.registry().get('chat', providerId);
      providerId = provider.id;
      model ??= this.opts
        .registry()
        .list()
        .find((p) => p.id === provider?.id)?.model;
    } catch (err) {
      setupError = err;
    }
    const answer: StoredMessage = {
      role: 'assistant',
      content: '',
      status: 'streaming',
      provider: providerId ?? 'none',
    };
    if (model) answer.model = model;
    const history = this.requestMessages(s.chat.messages);
    s.chat.messages.push(question, answer);

    const project =
      this.opts.config.instructions === false
        ? undefined
        : await this.opts.instructions?.(s.chat.project);
    const header = answerHeader(
      answer.provider ?? 'none',
      model,
      project?.name,
      (s.chat.provider ?? this.opts.config.provider) ? undefined : this.opts.why?.(providerId),
    );
    if (!(await this.ui.pending(buf, headerRow + 1, header.trim()))) {
      throw new StateError('The chat buffer is gone.');
    }
    // The buffer changes first with the answer's first write, which also rewrites the
    // question (expanded, with its context) and the header: one change, so one treesitter
    // parse in Neovim, and none in flight that an answer starting at once must wait for.
    const opening = text + contextBlock(context) + header;
    let begun = false;
    const write = (delta: string, last?: boolean): Promise<boolean> => {
      if (begun) return this.ui.append(buf, delta, last);
      begun = true;
      return this.ui.begin(buf, headerRow + 1, opening + delta);
    };

    const abort = new AbortController();
    const writer = new StreamWriter((delta) => write(delta), {
      frameMs: this.opts.config.frame_ms,
      onGone: (err) => {
        if (err) this.logger.warn('chat buffer write failed', { err });
        abort.abort(new StateError('The chat buffer was closed.'));
      },
    });
    const active: Active = { abort, writer, done: Promise.resolve() };
    s.active = active;
    void this.pushStatus(buf, { state: 'streaming', provider: providerId, model });
    void this.save(s);

    active.done = (async () => {
      const started = performance.now();
      let lastSave = started;
      let firstAt: number | undefined;
      let servedBy: string | undefined;
      // A tool call being shown or run; a stop in the middle closes its fold.
      let toolOpen = false;
      // The error of a failed answer, told to `onError` once the chat is idle again.
      let failure: { err: unknown } | undefined;
      try {
        if (setupError !== undefined || !provider) throw setupError;
        const info = await this.modelInfo(provider, model, abort.signal);
        if (info?.tools === false && this.opts.config.tools !== false) {
          this.logger.info('chat tools not offered: the model cannot call tools', {
            chat: s.chat.id,
            model: info.id,
          });
        }
        const emit = (piece: string) => {
          answer.content += piece;
          writer.push(piece);
        };
        const runner = new ChatRunner({
          provider,
          model,
          system: [this.opts.config.system ?? DEFAULT_SYSTEM, project?.system]
            .filter(Boolean)
            .join('\n\n'),
          messages: [...history, { role: 'user', content: promptWithContext(text, context) }],
          tools:
            this.opts.config.tools === false || info?.tools === false ? undefined : this.opts.tools,
          contextTokens: info?.contextLength,
          maxSteps: this.opts.config.max_tool_steps,
          signal: abort.signal,
        });
        for await (const ev of runner) {
          switch (ev.type) {
            case 'text':
              firstAt ??= performance.now();
              emit(ev.delta);
              if (performance.now() - lastSave > this.opts.config.save_interval_ms) {
                lastSave = performance.now();
                void this.save(s);
              }
              break;
            case 'thinking':
            case 'tool_call':
              firstAt ??= performance.now();
              break;
            case 'notice':
              this.logger.warn('chat provider notice', { chat: s.chat.id, message: ev.message });
              void this.ui.warn(ev.message).catch(() => undefined);
              break;
            case 'fitted':
              this.logger.info('chat request fitted to the context window', {
                chat: s.chat.id,
                contextTokens: ev.contextTokens,
                droppedMessages: ev.droppedMessages,
                droppedTools: ev.droppedTools,
              });
              break;
            case 'tool_run':
              toolOpen = true;
              emit(toolCallBlock(ev.name, ev.input));
              await writer.flush();
              break;
            case 'tool_result':
              toolOpen = false;
              this.logger.info('chat tool call', {
                chat: s.chat.id,
                tool: ev.name,
                isError: ev.run.isError,
                denied: ev.run.denied,
              });
              emit(toolResultBlock(ev.run));
              break;
            case 'step':
              // What the loop adds after the question is kept with the answer (StoredMessage.turns).
              answer.turns = ev.turns as StoredTurn[];
              void this.save(s);
              break;
            case 'step_limit':
              emit(stepLimitNote(ev.maxSteps));
              this.logger.info('chat tool loop stopped at the step limit', {
                chat: s.chat.id,
                maxSteps: ev.maxSteps,
              });
              break;
            case 'end':
              if (ev.turns) answer.turns = ev.turns as StoredTurn[];
              answer.status = 'done';
              if (ev.usage) answer.usage = ev.usage;
              servedBy = ev.model;
              answer.ttftMs = ev.ttftMs ?? (firstAt !== undefined ? firstAt - started : undefined);
              answer.elapsedMs = performance.now() - started;
              if (ev.thinkingChars) answer.thinkingChars = ev.thinkingChars;
              break;
          }
        }
      } catch (err) {
        // Close the fold, so the rest of the chat does not fall into it.
        if (toolOpen) {
          answer.content += toolStoppedBlock();
          writer.push(toolStoppedBlock());
        }
        if (isAbort(err) || abort.signal.aborted) {
          answer.status = 'cancelled';
          this.logger.info('chat answer cancelled', {
            chat: s.chat.id,
            chars: answer.content.length,
          });
        } else {
          answer.status = 'error';
          answer.error = errorLine(err, providerId);
          metrics.counter(METRICS.errors).inc({ type: toRuneError(err).code, area: 'chat' });
          this.logger.error('chat answer failed', { chat: s.chat.id, provider: providerId, err });
          failure = { err };
        }
      }
      // Saved before anything else touches Neovim: it may be gone (host shutting down).
      const saved = this.save(s);
      await writer.flush();
      writer.close();
      s.active = undefined;
      await write(answerTrailer(answer) + nextPrompt(), true).catch((err: unknown) =>
        this.logger.warn('chat buffer write failed', { err }),
      );
      this.logger.info('chat answer written', {
        chat: s.chat.id,
        status: answer.status,
        writes: writer.writes,
        chars: writer.chars,
      });
      await saved;
      await this.pushStatus(buf, {
        state: 'idle',
        provider: providerId,
        model: servedBy ?? answer.model,
        input_tokens: answer.usage?.inputTokens,
        output_tokens: answer.usage?.outputTokens,
        ttft_ms: answer.ttftMs !== undefined ? Math.round(answer.ttftMs) : undefined,
      });
      // Once the chat is ready for the next question: an offer may ask the user something.
      if (failure) this.opts.onError?.(failure.err);
    })();
  }

  /** Stops the streaming answer in `buf` (or every streaming answer); true when one was stopped. */
  async stop(buf?: number): Promise<boolean> {
    const targets = [...this.byBuf.entries()]
      .filter(([b, s]) => s.active && (buf === undefined || buf <= 0 || b === buf))
      .map(([, s]) => s);
    for (const s of targets) s.active?.abort.abort(new StateError('stopped'));
    await Promise.all(targets.map((s) => s.active?.done));
    return targets.length > 0;
  }

  /** Waits until the answer streaming in `buf` (if any) has ended. */
  async idle(buf: number): Promise<void> {
    await this.byBuf.get(buf)?.active?.done;
  }

  /** The models to pick from for `:RuneChatModel`. */
  async models(buf: number): Promise<{ provider: string; model: string; current: boolean }[]> {
    const s = await this.sessionFor(buf);
    const registry = this.opts.registry();
    const out: { provider: string; model: string; current: boolean }[] = [];
    const list = registry.list();
    let currentProvider = s.chat.provider ?? this.opts.config.provider;
    try {
      currentProvider = registry.get('chat', currentProvider).id;
    } catch {
      // none configured: nothing is current
    }
    const currentModel =
      s.chat.model ?? this.opts.config.model ?? list.find((p) => p.id === currentProvider)?.model;
    if (list.length === 0) {
      throw new ConfigError(
        'providers',
        'no provider is configured; add one under providers in setup()',
      );
    }
    await Promise.all(
      list.map(async (p) => {
        let models: string[] = [];
        try {
          const signal = AbortSignal.timeout(5000);
          models = (await registry.get('chat', p.id).models({ signal })).map((m) => m.id);
        } catch (err) {
          this.logger.warn('listing models failed', { provider: p.id, err });
        }
        if (p.model && !models.includes(p.model)) models.unshift(p.model);
        if (models.length === 0) models = [''];
        for (const model of models) {
          out.push({
            provider: p.id,
            model,
            current: currentProvider === p.id && (currentModel ?? '') === model,
          });
        }
      }),
    );
    return out.sort((a, b) => a.provider.localeCompare(b.provider));
  }

  /** Switches the provider and model used for the chat's next answers. */
  async setModel(buf: number, provider: string, model: string | undefined): Promise<void> {
    const s = await this.sessionFor(buf);
    this.opts.registry().get('chat', provider);
    s.chat.provider = provider;
    if (model) s.chat.model = model;
    else delete s.chat.model;
    await this.pushStatus(buf, { state: s.active ? 'streaming' : 'idle', provider, model });
    await this.save(s);
  }

  history(root: string): Promise<ChatSummary[]> {
    return this.opts.history.list(root);
  }

  /** Stops every answer (the host is shutting down); partial answers stay saved. */
  dispose(): void {
    for (const s of this.byBuf.values()) s.active?.abort.abort(new StateError('host stopping'));
  }

  /** Stops every answer and waits until each is saved and finished. */
  async disposeAsync(): Promise<void> {
    const running = [...this.byBuf.values()].map((s) => s.active?.done);
    this.dispose();
    await Promise.all(running);
    // An answer that just ended is shown before its save is done (`s.active` is gone by
    // then): a restart in that moment must not cut the save short.
    await Promise.all([...this.byId.values()].map((s) => this.saving.get(s)));
  }

  private newSession(root: string, id?: string): Session {
    const chat = this.opts.history.create(root);
    if (id) chat.id = id;
    const s: Session = {
      chat,
      buf: undefined,
      sourceBuf: undefined,
      selection: undefined,
      active: undefined,
    };
    this.byId.set(s.chat.id, s);
    return s;
  }

  private async loadSession(root: string, id: string): Promise<Session> {
    const chat = await this.opts.history.load(root, id);
    for (const m of chat.messages) {
      // On disk, `streaming` means the process died during that answer.
      if (m.status === 'streaming') m.status = 'interrupted';
    }
    const s: Session = {
      chat,
      buf: undefined,
      sourceBuf: undefined,
      selection: undefined,
      active: undefined,
    };
    this.byId.set(id, s);
    return s;
  }

  /** What the provider says about the model (context length, tools), when it says. */
  private async modelInfo(
    provider: Provider,
    model: string | undefined,
    signal: AbortSignal,
  ): Promise<ModelInfo | undefined> {
    try {
      const models = await provider.models({ signal });
      return models.find((x) => x.id === model) ?? (models.length === 1 ? models[0] : undefined);
    } catch (err) {
      // A provider that cannot answer now (e.g. the start of its server was cancelled)
      // fails the turn with its reason rather than being asked again for the answer.
      if (signal.aborted || err instanceof StateError) throw err;
      this.logger.debug('no context length from the provider', { provider: provider.id, err });
      return undefined;
    }
  }

  /** The session of a chat buffer; after a host restart it is reloaded from history. */
  private async sessionFor(buf: number): Promise<Session> {
    const known = this.byBuf.get(buf);
    if (known) return known;
    const ids = await this.ui.chatIds(buf);
    if (!ids || typeof ids[0] !== 'string') {
      throw new StateError('This is not a chat buffer; open one with :RuneChat.');
    }
    const s =
      this.byId.get(ids[0]) ?? (await this.loadSession(ids[1], ids[0]).catch(() => undefined));
    // A chat that was never saved (the host stopped before its first answer) starts afresh.
    const session = s ?? this.newSession(ids[1], ids[0]);
    session.buf = buf;
    this.byBuf.set(buf, session);
    this.current.set(session.chat.project, session);
    return session;
  }

  private requestMessages(messages: readonly StoredMessage[]): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (m.role !== 'user') continue;
      const reply = messages[i + 1];
      // A question whose answer failed is left out, with its answer.
      if (!reply || reply.role !== 'assistant' || reply.status === 'error' || !reply.content)
        continue;
      out.push({ role: 'user', content: promptWithContext(m.content, m.context ?? []) });
      const turns = reply.turns ?? [];
      if (turns.length === 0) {
        out.push({ role: 'assistant', content: stripToolBlocks(reply.content) });
        continue;
      }
      // The tool loop as the model saw it; one that stopped after a tool result
      // still ends with the assistant, as the next question needs.
      out.push(...turns);
      if (turns.at(-1)!.role === 'tool') {
        out.push({ role: 'assistant', content: STOPPED_AFTER_TOOLS });
      }
    }
    return out;
  }

  private async addToPrompt(buf: number, text: string): Promise<void> {
    await this.ui.addToPrompt(buf, text);
  }

  private async bufValid(buf: number): Promise<boolean> {
    return this.ui.exists(buf);
  }

  private async pushStatus(buf: number, status: ChatStatus): Promise<void> {
    const clean = Object.fromEntries(Object.entries(status).filter(([, v]) => v !== undefined));
    await this.ui
      .status(buf, clean as ChatStatus)
      .catch((err: unknown) => this.logger.debug('chat status push failed', { err }));
  }

  private readonly saving = new WeakMap<Session, Promise<void>>();
  private readonly saveWarned = new WeakSet<Session>();

  /** Saves the chat; saves of one chat never overlap, and a failure is logged, and told once per chat. */
  private async save(s: Session): Promise<void> {
    if (s.chat.messages.length === 0) return;
    const prev = this.saving.get(s) ?? Promise.resolve();
    const next = prev.then(async () => {
      try {
        await this.opts.history.save(s.chat);
      } catch (err) {
        this.logger.error('saving chat failed', { chat: s.chat.id, err });
        metrics.counter(METRICS.errors).inc({ type: toRuneError(err).code, area: 'chat' });
        if (this.saveWarned.has(s)) return;
        this.saveWarned.add(s);
        await this.ui
          .error(
            `could not save the chat (${toRuneError(err).message}); it stays open in its buffer. See :RuneLog.`,
          )
          .catch(() => undefined);
      }
    });
    this.saving.set(s, next);
    await next;
  }
}
