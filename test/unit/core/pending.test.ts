import { describe, expect, it } from 'vitest';
import { PendingAnswers } from '../../../src/core/pending.js';

describe('PendingAnswers', () => {
  it('resolves with the answer, once, and forgets the question', async () => {
    const p = new PendingAnswers<string>();
    const shown: string[] = [];
    const q = p.ask('a1', new AbortController().signal, {
      show: async () => shown.push('a1'),
      withdraw: async () => undefined,
    });
    await Promise.resolve();
    expect(p.ids()).toEqual(['a1']);
    expect(p.answer('a1', 'once')).toBe(true);
    await expect(q).resolves.toBe('once');
    expect(p.answer('a1', 'again')).toBe(false);
    expect(p.ids()).toEqual([]);
    expect(shown).toEqual(['a1']);
  });

  it('withdraws the prompt and rejects when the caller is gone; a late answer runs nothing', async () => {
    const p = new PendingAnswers<string>();
    const ac = new AbortController();
    const withdrawn: string[] = [];
    const q = p.ask('a2', ac.signal, {
      show: async () => undefined,
      withdraw: async () => withdrawn.push('a2'),
      cancelled: 'gone',
    });
    ac.abort();
    await expect(q).rejects.toThrow('gone');
    expect(withdrawn).toEqual(['a2']);
    expect(p.answer('a2', 'once')).toBe(false);
    // Asked with a signal already fired: never shown.
    let shown = false;
    await expect(
      p.ask('a3', ac.signal, { show: async () => (shown = true), withdraw: async () => 0 }),
    ).rejects.toThrow(/cancelled/);
    expect(shown).toBe(false);
  });

  it('fails the question when the prompt cannot be shown', async () => {
    const p = new PendingAnswers<string>();
    await expect(
      p.ask('a4', new AbortController().signal, {
        show: () => Promise.reject(new Error('no editor')),
        withdraw: async () => 0,
      }),
    ).rejects.toThrow('no editor');
    expect(p.ids()).toEqual([]);
  });
});
