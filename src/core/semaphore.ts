/**
 * A concurrency limit (bulkhead) whose slot is held until the caller releases it.
 *
 * Written by hand rather than with cockatiel's BulkheadPolicy because that policy frees
 * its slot when the executed promise settles, while a streamed answer holds its slot until
 * the consumer stops iterating; and a queued caller whose signal fires must leave the
 * queue at once.
 */
import { AbortError, RateLimitError } from './errors.js';

export interface SemaphoreOptions {
  /** Calls running at once. */
  limit: number;
  /** Calls allowed to wait for a slot; one more is refused at once. Default: unbounded. */
  queue?: number;
}

export class Semaphore {
  private running = 0;
  private readonly waiting: { go: () => void; signal?: AbortSignal; onAbort: () => void }[] = [];

  constructor(private readonly opts: SemaphoreOptions) {
    if (!(opts.limit >= 1)) throw new RangeError('Semaphore needs limit >= 1');
  }

  /** Calls holding a slot now. */
  get active(): number {
    return this.running;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Waits for a slot and resolves with its release function (idempotent). Rejects with
   * AbortError when `signal` fires while waiting, and with RateLimitError when the queue
   * is full.
   */
  acquire(signal?: AbortSignal, what = 'this provider'): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
    if (this.running < this.opts.limit) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    if (this.opts.queue !== undefined && this.waiting.length >= this.opts.queue) {
      return Promise.reject(
        new RateLimitError(
          `Too many requests to ${what} are already waiting (${this.opts.limit} running, ${this.waiting.length} queued); try again when one finishes.`,
          undefined,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const entry = {
        signal,
        go: () => {
          signal?.removeEventListener('abort', entry.onAbort);
          this.running++;
          resolve(this.releaser());
        },
        onAbort: () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new AbortError(undefined, { cause: signal?.reason }));
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.running--;
      this.waiting.shift()?.go();
    };
  }
}
