import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { anySignal } from '../../../src/core/signals.js';

describe('anySignal', () => {
  it('aborts with the reason of the first source that does', () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = anySignal([a.signal, b.signal]);
    expect(linked.signal.aborted).toBe(false);
    b.abort(new Error('b went'));
    expect(linked.signal.aborted).toBe(true);
    expect((linked.signal.reason as Error).message).toBe('b went');
    a.abort(new Error('a went'));
    expect((linked.signal.reason as Error).message).toBe('b went');
    // Fired: it let go of its sources.
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0);
  });

  it('is aborted at once when a source already is', () => {
    const a = new AbortController();
    a.abort('done');
    const linked = anySignal([new AbortController().signal, a.signal]);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe('done');
  });

  it('leaves no listener on a long-lived source once disposed', () => {
    const server = new AbortController();
    for (let i = 0; i < 1000; i++) {
      const linked = anySignal([new AbortController().signal, server.signal]);
      linked.dispose();
    }
    expect(getEventListeners(server.signal, 'abort')).toHaveLength(0);
    const live = anySignal([server.signal]);
    expect(getEventListeners(server.signal, 'abort')).toHaveLength(1);
    server.abort(new Error('stopping'));
    expect(live.signal.aborted).toBe(true);
    expect(getEventListeners(server.signal, 'abort')).toHaveLength(0);
  });
});
