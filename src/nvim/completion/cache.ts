/**
 * Answers inline completion already has, so the fastest ghost text is one that
 * needs no request: keyed by the exact context the provider saw (the prefix and
 * suffix of the fill-in-the-middle request), so an answer is only ever served
 * for the text it was computed for.
 *
 * A lookup also finds an answer for a context that differs only by text typed
 * at the cursor since (same suffix, the prefix grown by what was typed), when
 * the answer starts with that text: the rest of it is served. Bounded: the
 * least recently used entry goes when `max` is reached.
 */
import type { Completion, Provider } from '../../providers/types.js';

/** Suggestions from one provider: the texts to insert, parallel to the provider's completions. */
export interface Suggestions {
  provider: Provider;
  items: string[];
  completions: Completion[];
}

/** Where an answer applies: the buffer and the cursor's row (to decide whether to look at once). */
export interface Place {
  buf: number;
  row: number;
}

interface Entry extends Place {
  prefix: string;
  suffix: string;
  answer: Suggestions;
}

/** Text typed through an answer that a lookup still matches, in characters. */
const MAX_TYPED = 256;

const keyOf = (prefix: string, suffix: string) => `${suffix}\u0000${prefix}`;

export class AnswerCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Remembers `answer` for the context (`prefix`, `suffix`); an empty answer is remembered too. */
  put(place: Place, prefix: string, suffix: string, answer: Suggestions): void {
    if (this.max <= 0) return;
    const key = keyOf(prefix, suffix);
    this.entries.delete(key);
    this.entries.set(key, { ...place, prefix, suffix, answer });
    while (this.entries.size > this.max) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  /** True when an answer for exactly this context is remembered. */
  has(prefix: string, suffix: string): boolean {
    return this.entries.has(keyOf(prefix, suffix));
  }

  /** The rows of `buf` that answers were computed for (each once). */
  rows(buf: number): number[] {
    const out = new Set<number>();
    for (const e of this.entries.values()) if (e.buf === buf) out.add(e.row);
    return [...out];
  }

  /**
   * The answer for this context: the one computed for it, or the rest of one
   * computed before the text typed since (undefined when there is none).
   */
  get(prefix: string, suffix: string): Suggestions | undefined {
    const key = keyOf(prefix, suffix);
    const exact = this.entries.get(key);
    if (exact) {
      this.entries.delete(key);
      this.entries.set(key, exact);
      return exact.answer;
    }
    for (const e of this.entries.values()) {
      if (e.suffix !== suffix || e.prefix.length >= prefix.length) continue;
      if (prefix.length - e.prefix.length > MAX_TYPED || !prefix.startsWith(e.prefix)) continue;
      const typed = prefix.slice(e.prefix.length);
      const items: string[] = [];
      const completions: Completion[] = [];
      e.answer.items.forEach((text, i) => {
        if (text.length > typed.length && text.startsWith(typed)) {
          items.push(text.slice(typed.length));
          completions.push(e.answer.completions[i]!);
        }
      });
      if (items.length) return { provider: e.answer.provider, items, completions };
    }
    return undefined;
  }

  clear(): void {
    this.entries.clear();
  }
}
