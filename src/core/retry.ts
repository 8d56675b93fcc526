/**
 * Retries with exponential backoff and jitter that honour the server's Retry-After.
 *
 * The delays come from cockatiel's ExponentialBackoff with its decorrelated-jitter
 * generator. The loop itself is written here because cockatiel's RetryPolicy sleeps
 * without watching the AbortSignal: a cancelled call must stop waiting at once, even
 * during a long Retry-After.
 */
import { ExponentialBackoff, decorrelatedJitterGenerator, type IBackoff } from 'cockatiel';
import { AbortError, RateLimitError, throwIfAborted } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included (1 = no retry). */
  maxAttempts: number;
  /** First backoff delay, ms. */
  baseDelayMs: number;
  /** Longest backoff delay, ms. */
  maxDelayMs: number;
  /** The longest Retry-After Rune waits for; a longer one fails the call at once. */
  maxRetryAfterMs?: number;
  /** Whether this error may be retried (it is never retried after the caller aborted). */
  retryable(err: unknown): boolean;
  /** The server's hint, ms, when the error carries one. */
  retryAfterMs?(err: unknown): number | undefined;
  /** Called before each wait. */
  onRetry?(info: { attempt: number; delayMs: number; error: unknown }): void;
}

/** Resolves after `ms`, or rejects with AbortError as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError(undefined, { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortError(undefined, { cause: signal?.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `fn` until it succeeds, the error is not retryable, or the attempts run out. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: RetryOptions,
  signal?: AbortSignal,
): Promise<T> {
  let backoff: IBackoff<unknown> | undefined;
  const factory = new ExponentialBackoff({
    initialDelay: opts.baseDelayMs,
    maxDelay: opts.maxDelayMs,
    generator: decorrelatedJitterGenerator,
  });
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (signal?.aborted || attempt >= opts.maxAttempts || !opts.retryable(err)) throw err;
      backoff = backoff ? backoff.next(undefined) : factory.next();
      const hint = opts.retryAfterMs?.(err);
      if (hint !== undefined && opts.maxRetryAfterMs !== undefined && hint > opts.maxRetryAfterMs) {
        throw err;
      }
      const delayMs = Math.max(backoff.duration, hint ?? 0);
      opts.onRetry?.({ attempt, delayMs, error: err });
      await sleep(delayMs, signal);
    }
  }
}

/**
 * Parses Retry-After (seconds or an HTTP date) and the `retry-after-ms` header some APIs
 * add. Returns ms, or undefined when absent or unreadable.
 */
export function parseRetryAfter(
  get: (name: string) => string | null | undefined,
  now = Date.now(),
): number | undefined {
  const ms = get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const v = get('retry-after');
  if (!v) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const date = Date.parse(v);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** The Retry-After hint of a RateLimitError (or of a cause chain ending in one). */
export function retryAfterOf(err: unknown): number | undefined {
  if (err instanceof RateLimitError) return err.retryAfterMs;
  if (err && typeof err === 'object' && 'retryAfterMs' in err) {
    const v = (err as { retryAfterMs?: unknown }).retryAfterMs;
    return typeof v === 'number' ? v : undefined;
  }
  return undefined;
}
