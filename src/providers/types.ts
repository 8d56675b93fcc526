/**
 * The contract every AI provider implements. Features (chat, completion, the
 * MCP server's AI tools) speak only this interface; each provider file maps it
 * to one vendor's API through that vendor's official SDK.
 *
 * Cancellation: every call takes an AbortSignal. Aborting it — or breaking out
 * of the `for await` loop over `chat()` — cancels the HTTP request at once, so
 * the server sees the connection close. Errors are `RuneError` subclasses
 * (core/errors.ts) with messages a user can act on.
 */

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface TextPart {
  type: 'text';
  text: string;
}
/** An image sent with a request (vision). `data` is base64, without a data: prefix. */
export interface ImagePart {
  type: 'image';
  mediaType: string;
  data: string;
}
/** A tool call the assistant made (kept in history so the loop can continue). */
export interface ToolCallPart {
  type: 'tool_call';
  id: string;
  name: string;
  input: unknown;
}
/** The result of a tool call, sent back to the model. */
export interface ToolResultPart {
  type: 'tool_result';
  id: string;
  content: string;
  isError?: boolean;
}
export type ContentPart = TextPart | ImagePart | ToolCallPart | ToolResultPart;

export interface ChatMessage {
  role: Role;
  content: string | ContentPart[];
}

/** A tool offered to the model; `inputSchema` is a JSON Schema object. */
export interface ToolSpec {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

export interface ChatRequest {
  /** Model id; the provider's configured default when omitted. */
  model?: string;
  messages: ChatMessage[];
  system?: string;
  tools?: ToolSpec[];
  temperature?: number;
  maxTokens?: number;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export type ChatEvent =
  | { type: 'text'; delta: string }
  /**
   * Reasoning the model streamed before (or between) its visible answer (Ollama's
   * `message.thinking`). Not part of the answer: never send it back as history.
   */
  | { type: 'thinking'; delta: string }
  /**
   * Something the provider changed to get an answer, for the user to know (e.g. the model
   * rejected tools, so the request went again without them). Said once per cause.
   */
  | { type: 'notice'; message: string }
  | { type: 'tool_call'; id: string; name: string; input: unknown }
  | {
      type: 'done';
      usage: Usage;
      /** Normalised: 'end' | 'max_tokens' | 'tool_use' | 'stop_sequence' | the vendor's own word. */
      stopReason: string;
      model: string;
      /** Milliseconds from sending the request to the first streamed token. */
      ttftMs?: number;
    };

/** A fill-in-the-middle request: complete the text between `prefix` and `suffix`. */
export interface FimRequest {
  prefix: string;
  suffix: string;
  model?: string;
  maxTokens?: number;
  temperature?: number;
  stop?: string[];
  /** How many alternatives to ask for (providers that cannot return several return one). */
  n?: number;
  /** Filetype / language id and file name, for prompts that use them. */
  language?: string;
  filename?: string;
  /**
   * Code from other files the user has open, within the context budget. `prefix` already
   * carries it (framed as comments) in its first `extraInPrefix` characters; a server
   * with a field of its own for it (llama.cpp's `input_extra`) sends these chunks there
   * and the prefix without them.
   */
  extra?: { filename: string; text: string }[];
  extraInPrefix?: number;
}

export interface Completion {
  text: string;
  /** The provider's id for this suggestion, when it wants to hear it was shown or accepted. */
  id?: string;
}

export interface ModelInfo {
  id: string;
  provider: string;
  contextLength?: number;
  /** Whether the model can call tools, when the server says (llama.cpp: its chat template). */
  tools?: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface Provider {
  /** The name the user gave this provider in the config, e.g. `ollama`, `work-claude`. */
  readonly id: string;
  /** The kind of API: `ollama`, `anthropic`, `openai`, `zeke`, `copilot`. */
  readonly kind: string;
  /** Streams a chat answer as typed events; the last event is `done`. */
  chat(req: ChatRequest, opts?: CallOptions): AsyncIterable<ChatEvent>;
  /** Fill-in-the-middle completion; one or more alternatives. */
  complete(req: FimRequest, opts?: CallOptions): Promise<Completion[]>;
  /** The models this provider offers. */
  models(opts?: CallOptions): Promise<ModelInfo[]>;
  /** Embeddings, where the API has them. */
  embed?(input: string[], opts?: CallOptions & { model?: string }): Promise<number[][]>;
  /**
   * The ghost-text engine showed `c` (a completion with an `id`). Providers whose service
   * wants it (Copilot) report it; never throws.
   */
  didShow?(c: Completion): void;
  /**
   * The user accepted `c`: all of it, or its first `acceptedChars` characters (UTF-16
   * units, as JavaScript counts them) when accepting a word or a line. Never throws.
   */
  didAccept?(c: Completion, acceptedChars?: number): void;
}

/** The features that pick a provider. */
export type Feature = 'chat' | 'completion';

/** Per provider and model, what was used. */
export interface UsageRecord {
  provider: string;
  model: string;
  requests: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  /** Median time to first token over the recorded requests, ms. */
  ttftMsP50?: number;
}

/** All configured providers, with a default per feature. */
export interface ProviderRegistry {
  /** The provider named `id`, or the default for `feature`. Throws ConfigError when none fits. */
  get(feature: Feature, id?: string): Provider;
  /** The configured providers, with the features each is the default for. */
  list(): { id: string; kind: string; defaultFor: Feature[]; model?: string }[];
  /** Usage per provider and model since the host started. */
  usage(): UsageRecord[];
  /** Closes connections and timers. */
  dispose(): void;
}
