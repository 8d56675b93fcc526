/**
 * The plugin API: what a Rune plugin file default-exports.
 *
 * ```js
 * // ~/.config/rune/plugins/word-count.mjs
 * export default {            // or definePlugin({...}) from 'rune.nvim/plugins'
 *   id: 'word-count',
 *   version: '1.0.0',
 *   tools: [{
 *     name: 'word_count',
 *     description: 'Counts the words in a text',
 *     inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
 *     annotations: { readOnlyHint: true },
 *     handler: ({ text }) => String(text.split(/\s+/).filter(Boolean).length),
 *   }],
 * };
 * ```
 *
 * Each plugin runs in its own child process inside bubblewrap (without it,
 * only if the user allows plugins to run with their rights, in a worker
 * thread) with a memory limit; tool,
 * command and provider calls cross to it as messages and are stopped when
 * they run over their time limit. A plugin that fails (at load, in
 * `initialize`, by running out of memory or time) is disabled and reported;
 * the rest of Rune keeps running. Editing the file reloads the plugin.
 */

/**
 * What a plugin may do beyond answering calls. Where bubblewrap works the
 * plugin's own code runs in a sandboxed process that enforces them.
 */
export type Capability =
  /**
   * Run commands through `ctx.exec` (in bubblewrap where installed; they may write the
   * workspace), or start processes from the plugin's own code.
   */
  | 'exec'
  /** Network access for the plugin's code (`fetch`, sockets) and its `ctx.exec` commands. */
  | 'network'
  /** Write files in the workspace from the plugin's code (elsewhere stays read-only). */
  | 'fs-write';

/** A JSON Schema object describing a tool's arguments (`type: 'object'`). */
export interface JsonSchemaObject {
  type: 'object';
  properties?: Record<string, Record<string, unknown>>;
  required?: string[];
  [key: string]: unknown;
}

/** A tool result in MCP's shape (`content` blocks), or a string sent as one text block. */
export type PluginToolOutput =
  | string
  | {
      content: ({ type: 'text'; text: string } | Record<string, unknown>)[];
      isError?: boolean;
      structuredContent?: Record<string, unknown>;
    };

export interface PluginTool {
  /** The tool's name as clients see it: letters, digits, `_`, `-`, `.`; unique across Rune. */
  name: string;
  description: string;
  inputSchema?: JsonSchemaObject;
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean; title?: string };
  /** Per-tool time limit, ms (default `plugins.limits.tool_timeout_ms`). */
  timeoutMs?: number;
  handler(
    args: Record<string, unknown>,
    ctx: { signal: AbortSignal },
  ): PluginToolOutput | Promise<PluginToolOutput>;
}

export interface PluginCommand {
  /** `:RunePlugins <plugin-id> <name> [args…]`. */
  name: string;
  description?: string;
  /** What it returns (a string or lines) is shown to the user. */
  run(
    args: string[],
    ctx: { signal: AbortSignal },
  ): string | string[] | void | Promise<string | string[] | void>;
}

/** Events a plugin provider's `chat` yields (the same as Rune's providers). */
export type PluginChatEvent =
  | { type: 'text'; delta: string }
  | { type: 'tool_call'; id: string; name: string; input: unknown }
  | {
      type: 'done';
      usage?: { inputTokens: number; outputTokens: number };
      stopReason?: string;
      model?: string;
    };

export interface PluginProvider {
  /** The provider id users select, e.g. `chat.provider = 'my-llm'`. */
  id: string;
  chat?(
    req: { model?: string; messages: unknown[]; system?: string; maxTokens?: number },
    ctx: { signal: AbortSignal },
  ): AsyncIterable<PluginChatEvent>;
  complete?(
    req: { prefix: string; suffix: string; model?: string; maxTokens?: number },
    ctx: { signal: AbortSignal },
  ): Promise<{ text: string }[]> | { text: string }[];
  models?(ctx: {
    signal: AbortSignal;
  }): Promise<{ id: string }[] | string[]> | { id: string }[] | string[];
}

/** What `initialize` gets. Every `register*` returns a disposable; all are undone on reload. */
export interface PluginContext {
  readonly id: string;
  readonly version: string;
  /** `setup({ plugins = { config = { [id] = {...} } } })`. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The project root Rune runs in. */
  readonly workspace: string;
  /** Structured log lines in Rune's log, tagged with the plugin id. */
  readonly logger: {
    debug(msg: string, fields?: Record<string, unknown>): void;
    info(msg: string, fields?: Record<string, unknown>): void;
    warn(msg: string, fields?: Record<string, unknown>): void;
    error(msg: string, fields?: Record<string, unknown>): void;
  };
  /** Fires when the plugin is shut down or reloaded. */
  readonly signal: AbortSignal;
  registerTool(tool: PluginTool): { dispose(): void };
  registerProvider(provider: PluginProvider): { dispose(): void };
  registerCommand(command: PluginCommand): { dispose(): void };
  /**
   * Runs a command (capability `exec`), without a shell, in bubblewrap where
   * installed: read-only root, the workspace writable, no network unless the
   * plugin has `network`. Time-limited; memory-limited where prlimit exists.
   */
  exec(
    command: string,
    args?: string[],
    opts?: { input?: string; timeoutMs?: number },
  ): Promise<{ code: number | null; stdout: string; stderr: string; sandboxed: boolean }>;
}

export interface PluginDefinition {
  /** Unique id: lowercase letters, digits, `-`, `_`, `.` (used in `dependsOn` and config). */
  id: string;
  /** Semver-like version, shown by :RunePlugins. */
  version: string;
  capabilities?: Capability[];
  /** Environment variables the plugin may read; its process sees no others of Rune's. */
  env?: string[];
  /** Ids of plugins that must be initialized first. */
  dependsOn?: string[];
  initialize?(ctx: PluginContext): void | Promise<void>;
  shutdown?(): void | Promise<void>;
  tools?: PluginTool[];
  providers?: PluginProvider[];
  commands?: PluginCommand[];
}

/** Types a plugin definition; returns it unchanged. */
export function definePlugin<T extends PluginDefinition>(def: T): T {
  return def;
}
