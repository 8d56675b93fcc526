/**
 * Every error Rune raises on purpose is a `RuneError`. Each subclass carries a
 * stable `code` (for logs, tests and the Lua side) and a message a user can
 * act on: it says what happened and what to do next.
 *
 * These are *local* errors. Errors that travel over a wire protocol (MCP,
 * JSON-RPC) are mapped to that protocol's own error shapes at the edge.
 */
export class RuneError extends Error {
  /** Stable machine-readable identifier, e.g. `auth`, `rate_limited`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** A plain object safe to send to Lua or log (no stack, no secrets). */
  toJSON(): { code: string; message: string; name: string } {
    return { code: this.code, message: this.message, name: this.name };
  }
}

/** The configuration is invalid. `path` names the offending key, e.g. `providers.ollama.url`. */
export class ConfigError extends RuneError {
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('config', path ? `config: ${path}: ${message}` : `config: ${message}`, options);
  }
}

/** Credentials are missing or were refused. */
export class AuthError extends RuneError {
  constructor(message: string, options?: { cause?: unknown; provider?: string }) {
    super('auth', message, options);
    this.provider = options?.provider;
  }
  readonly provider: string | undefined;
}

/** The remote side asked us to slow down. `retryAfterMs` is its hint, when it gave one. */
export class RateLimitError extends RuneError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    options?: { cause?: unknown },
  ) {
    super('rate_limited', message, options);
  }
}

/** The service could not be reached or answered with a server error. */
export class ProviderUnavailableError extends RuneError {
  constructor(
    message: string,
    readonly url: string | undefined,
    options?: { cause?: unknown; status?: number },
  ) {
    super('unavailable', message, options);
    this.status = options?.status;
  }
  readonly status: number | undefined;
}

/** A deadline passed. `phase` says which: connect, first token, idle, or the whole call. */
export class TimeoutError extends RuneError {
  constructor(
    message: string,
    readonly phase: 'connect' | 'first_token' | 'idle' | 'total' | 'start',
    options?: { cause?: unknown },
  ) {
    super('timeout', message, options);
  }
}

/** The request was malformed or refused as invalid by the remote side. */
export class BadRequestError extends RuneError {
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super('bad_request', message, options);
    this.status = options?.status;
  }
  readonly status: number | undefined;
}

/** The operation was cancelled by the caller (an AbortSignal fired). */
export class AbortError extends RuneError {
  constructor(message = 'The request was cancelled.', options?: { cause?: unknown }) {
    super('aborted', message, options);
  }
}

/** An operation was called in a lifecycle state that does not allow it. */
export class StateError extends RuneError {
  constructor(message: string) {
    super('state', message);
  }
}

/** A thing that was asked for does not exist (a buffer, a tool, a model, a chat). */
export class NotFoundError extends RuneError {
  constructor(message: string) {
    super('not_found', message);
  }
}

/** The user (or a policy) refused an action. */
export class DeniedError extends RuneError {
  constructor(message: string) {
    super('denied', message);
  }
}

/** True when `err` means "cancelled", whatever library raised it. */
export function isAbort(err: unknown): boolean {
  if (err instanceof AbortError) return true;
  if (err instanceof Error) {
    return err.name === 'AbortError' || err.name === 'APIUserAbortError';
  }
  return false;
}

/** Wraps anything thrown into a RuneError, keeping RuneErrors as they are. */
export function toRuneError(err: unknown): RuneError {
  if (err instanceof RuneError) return err;
  if (isAbort(err)) return new AbortError(undefined, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new RuneError('internal', message, { cause: err });
}

/** Throws an AbortError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
}
