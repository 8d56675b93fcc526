/**
 * What one vendor's API file implements: the plain calls, without reliability. The
 * ManagedProvider (managed.ts) wraps an Adapter with limits, retries, timeouts, the
 * circuit breaker, the cache and usage accounting, and exposes the Provider contract.
 */
import type { RuneError } from '../core/errors.js';
import type { ChatEvent, ChatRequest, Completion, FimRequest, ModelInfo, Usage } from './types.js';

export interface AdapterHooks {
  /** Call once the response headers arrived: the connect phase is over. */
  headers(): void;
  /**
   * Call once the request reached the server, for APIs that hold the response headers
   * until the first token (Ollama, while a model loads): the wait from here on belongs to
   * the first-token phase, not to connect.
   */
  sent?(): void;
  /** Something the adapter changed to get an answer (logged; chat also yields a notice). */
  notice?(message: string): void;
}

/** What a server says about one model, for :checkhealth. */
export interface ModelReport {
  /** Whether the server knows the model (installed, or listed and not retired). */
  exists: boolean;
  /** What the server says the model supports: `tools`, `fim`, `vision`, `thinking`. */
  supports?: string[];
  /** A short remark (a lifecycle stage, a replacement to pick). */
  note?: string;
}

export interface CompleteResult {
  completions: Completion[];
  usage: Usage;
  model: string;
}

export interface Adapter {
  readonly kind: string;
  /** The base URL, for messages ("could not reach … at URL"). */
  readonly url: string;
  /**
   * Streams one chat answer; the last event is `done`. Must stop the HTTP request when
   * `signal` fires or when the iterator's `return()` is called.
   */
  chat(
    req: ChatRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): AsyncIterable<ChatEvent>;
  complete(
    req: FimRequest,
    model: string,
    signal: AbortSignal,
    hooks: AdapterHooks,
  ): Promise<CompleteResult>;
  models(signal: AbortSignal): Promise<ModelInfo[]>;
  embed?(input: string[], model: string, signal: AbortSignal): Promise<number[][]>;
  /** What the server says about `model` (for :checkhealth), when the API can tell. */
  describe?(model: string, signal: AbortSignal): Promise<ModelReport>;
  /** A cheap reachability check for :checkhealth; resolves with a short description. */
  probe(signal: AbortSignal): Promise<string>;
  /** Maps anything the SDK throws to a RuneError with an actionable message. */
  mapError(err: unknown): RuneError;
  /** See Provider.didShow (for services that want to hear it, e.g. Copilot). */
  didShow?(c: Completion): void;
  /** See Provider.didAccept. */
  didAccept?(c: Completion, acceptedChars?: number): void;
  /** Releases what the adapter holds (processes, timers). */
  dispose?(): void;
}
