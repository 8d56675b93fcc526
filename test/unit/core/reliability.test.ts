/** The reliability pieces: token bucket, semaphore, retry with Retry-After, watchdog. */
import { describe, expect, it } from 'vitest';
import { AbortError, RateLimitError, TimeoutError } from '../../../src/core/errors.js';
import { TokenBucket } from '../../../src/core/token-bucket.js';
import { Semaphore } from '../../../src/core/semaphore.js';
import { parseRetryAfter, retryAfterOf, sleep, withRetry } from '../../../src/core/retry.js';
import { Watchdog } from '../../../src/core/watchdog.js';

describe('TokenBucket', () => {
  it('lets a burst through, then spaces takes by the rate, in order', async () => {
    const b = new TokenBucket({ rate: 20, burst: 2 });
    const t0 = performance.now();
    const done: number[] = [];
    await Promise.all([0, 1, 2, 3].map((i) => b.take().then(() => done.push(i))));
    const elapsed = performance.now() - t0;
    expect(done).toEqual([0, 1, 2, 3]);
    // Two tokens wait for refill at 20/s: at least ~100 ms in all.
    expect(elapsed).toBeGreaterThanOrEqual(90);
  });

  it('uses an injected clock to report the wait', () => {
    let now = 0;
    const b = new TokenBucket({ rate: 2, burst: 1, now: () => now });
    void b.take();
    expect(b.waitTime()).toBe(500);
    now = 250;
    expect(b.waitTime()).toBe(250);
    b.dispose();
  });

  it('removes an aborted waiter from the queue and rejects on dispose', async () => {
    const b = new TokenBucket({ rate: 1, burst: 1 });
    await b.take();
    const ac = new AbortController();
    const a = b.take(ac.signal);
    const c = b.take();
    ac.abort();
    await expect(a).rejects.toBeInstanceOf(AbortError);
    b.dispose();
    await expect(c).rejects.toBeInstanceOf(AbortError);
    expect(() => new TokenBucket({ rate: 0, burst: 1 })).toThrow(RangeError);
  });
});

describe('Semaphore', () => {
  it('holds a slot until released and hands it to the next waiter', async () => {
    const s = new Semaphore({ limit: 1 });
    const r1 = await s.acquire();
    let got = false;
    const p = s.acquire().then((r) => {
      got = true;
      return r;
    });
    await sleep(5);
    expect(got).toBe(false);
    expect(s.queued).toBe(1);
    r1();
    r1();
    const r2 = await p;
    expect(s.active).toBe(1);
    r2();
    expect(s.active).toBe(0);
  });

  it('refuses when the queue is full and leaves the queue on abort', async () => {
    const s = new Semaphore({ limit: 1, queue: 1 });
    await s.acquire();
    const ac = new AbortController();
    const waiting = s.acquire(ac.signal);
    await expect(s.acquire()).rejects.toBeInstanceOf(RateLimitError);
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
    expect(s.queued).toBe(0);
  });
});

describe('withRetry', () => {
  const opts = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 };

  it('retries retryable errors and stops at max attempts', async () => {
    let n = 0;
    const retries: number[] = [];
    await expect(
      withRetry(
        async () => {
          n++;
          throw new Error('boom');
        },
        { ...opts, retryable: () => true, onRetry: (i) => retries.push(i.attempt) },
      ),
    ).rejects.toThrow('boom');
    expect(n).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it('does not retry a non-retryable error', async () => {
    let n = 0;
    await expect(
      withRetry(
        async () => {
          n++;
          throw new Error('no');
        },
        { ...opts, retryable: () => false },
      ),
    ).rejects.toThrow('no');
    expect(n).toBe(1);
  });

  it('waits at least the Retry-After hint, and gives up on a hint above the cap', async () => {
    const delays: number[] = [];
    let n = 0;
    const v = await withRetry(
      async () => {
        if (n++ === 0) throw new RateLimitError('slow down', 40);
        return 'ok';
      },
      {
        ...opts,
        retryable: () => true,
        retryAfterMs: retryAfterOf,
        onRetry: (i) => delays.push(i.delayMs),
      },
    );
    expect(v).toBe('ok');
    expect(delays[0]).toBeGreaterThanOrEqual(40);
    n = 0;
    await expect(
      withRetry(
        async () => {
          n++;
          throw new RateLimitError('later', 10_000);
        },
        { ...opts, maxRetryAfterMs: 1000, retryable: () => true, retryAfterMs: retryAfterOf },
      ),
    ).rejects.toBeInstanceOf(RateLimitError);
    expect(n).toBe(1);
  });

  it('stops waiting at once when the signal aborts', async () => {
    const ac = new AbortController();
    const p = withRetry(
      async () => {
        throw new RateLimitError('x', 60_000);
      },
      { ...opts, retryable: () => true, retryAfterMs: retryAfterOf },
      ac.signal,
    );
    await sleep(10);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
  });

  it('parses Retry-After seconds, dates and retry-after-ms', () => {
    const h = (m: Record<string, string>) => (n: string) => m[n];
    expect(parseRetryAfter(h({ 'retry-after': '3' }))).toBe(3000);
    expect(parseRetryAfter(h({ 'retry-after-ms': '250', 'retry-after': '3' }))).toBe(250);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter(h({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now)).toBe(5000);
    expect(parseRetryAfter(h({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfter(h({}))).toBeUndefined();
  });
});

describe('Watchdog', () => {
  it('aborts with a TimeoutError naming the phase, and re-arms per phase', async () => {
    const ac = new AbortController();
    const wd = new Watchdog(ac, { connectMs: 1000, firstTokenMs: 1000, idleMs: 20 }, 'svc');
    wd.phase('connect');
    wd.phase('idle');
    await sleep(60);
    expect(ac.signal.aborted).toBe(true);
    expect(ac.signal.reason).toBeInstanceOf(TimeoutError);
    expect(wd.error?.phase).toBe('idle');
    expect(wd.error?.message).toMatch(/svc stopped sending output.*idle_ms/);
  });

  it('does nothing once stopped', async () => {
    const ac = new AbortController();
    const wd = new Watchdog(ac, { connectMs: 10, firstTokenMs: 10, idleMs: 10 }, 'svc');
    wd.phase('connect');
    wd.stop();
    await sleep(30);
    expect(ac.signal.aborted).toBe(false);
  });
});
