/**
 * A token-bucket rate limiter: `rate` tokens per second refill a bucket holding at most
 * `burst`; each request takes one, waiting (abortably, first come first served) when the
 * bucket is empty.
 *
 * Written by hand because cockatiel (the policy library used for retries and the circuit
 * breaker) has no rate limiter, and this is a few lines with an abortable queue.
 */
import { AbortError } from './errors.js';

export interface TokenBucketOptions {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: how many requests may go at once after a quiet spell. */
  burst: number;
  /** Clock in ms (tests may pass their own). */
  now?: () => number;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly queue: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: TokenBucketOptions) {
    if (!(opts.rate > 0) || !(opts.burst >= 1)) {
      throw new RangeError('TokenBucket needs rate > 0 and burst >= 1');
    }
    this.now = opts.now ?? (() => performance.now());
    this.tokens = opts.burst;
    this.last = this.now();
  }

  /** Takes a token, waiting until one is available. Rejects with AbortError when `signal` fires. */
  take(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new AbortError(undefined, { cause: signal?.reason }));
          this.schedule();
        },
      };
      signal?.addEventListener('abort', w.onAbort, { once: true });
      this.queue.push(w);
      this.schedule();
    });
  }

  /** Milliseconds until the next token (0 when one is ready). */
  waitTime(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.opts.rate) * 1000;
  }

  /** Rejects every waiter and stops the timer. */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(new AbortError('The provider was shut down.'));
    }
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(
      this.opts.burst,
      this.tokens + ((t - this.last) / 1000) * this.opts.rate,
    );
    this.last = t;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.refill();
        while (this.queue.length && this.tokens >= 1) {
          this.tokens -= 1;
          const w = this.queue.shift()!;
          w.signal?.removeEventListener('abort', w.onAbort);
          w.resolve();
        }
        this.schedule();
      },
      Math.max(1, Math.ceil(this.waitTime())),
    );
  }
}
