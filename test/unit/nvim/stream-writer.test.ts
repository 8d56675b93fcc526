import { afterEach, describe, expect, it, vi } from 'vitest';
import { StreamWriter } from '../../../src/nvim/chat/stream-writer.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A sink that records each write and answers when `release()` is called. */
function recordingSink() {
  const writes: string[] = [];
  const waiting: (() => void)[] = [];
  return {
    writes,
    sink: (text: string) => {
      writes.push(text);
      return new Promise<boolean>((resolve) => waiting.push(() => resolve(true)));
    },
    release: () => waiting.splice(0).forEach((r) => r()),
  };
}

describe('StreamWriter', () => {
  it("writes an answer's first delta in the same turn, before any timer runs", () => {
    vi.useFakeTimers();
    const s = recordingSink();
    const w = new StreamWriter(s.sink, { frameMs: 16 });
    w.push('Hello');
    // No timer has run (fake timers never advanced): the write was not deferred.
    expect(s.writes).toEqual(['Hello']);
  });

  it('coalesces the deltas that follow within a frame into one later write', async () => {
    vi.useFakeTimers();
    const s = recordingSink();
    const w = new StreamWriter(s.sink, { frameMs: 16 });
    w.push('a');
    w.push('b');
    w.push('c');
    expect(s.writes).toEqual(['a']);
    s.release();
    await vi.advanceTimersByTimeAsync(0);
    w.push('d');
    expect(s.writes).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(16);
    expect(s.writes).toEqual(['a', 'bcd']);
    s.release();
    await w.flush();
    expect(w.writes).toBe(2);
    expect(w.chars).toBe(4);
  });

  it('writes at once again after a quiet frame', async () => {
    vi.useFakeTimers();
    const s = recordingSink();
    const w = new StreamWriter(s.sink, { frameMs: 16 });
    w.push('first');
    s.release();
    await vi.advanceTimersByTimeAsync(50);
    w.push('later');
    expect(s.writes).toEqual(['first', 'later']);
    s.release();
    await w.flush();
  });

  it('drops what is queued after close()', async () => {
    vi.useFakeTimers();
    const s = recordingSink();
    const w = new StreamWriter(s.sink, { frameMs: 16 });
    w.push('x');
    w.push('y');
    w.close();
    s.release();
    await vi.advanceTimersByTimeAsync(100);
    expect(s.writes).toEqual(['x']);
  });
});
