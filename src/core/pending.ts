/**
 * Questions waiting for the user's answer, by id: the one mechanism behind
 * every prompt Rune shows (approvals of agents' and chat models' tool calls,
 * MCP servers' sampling and elicitation requests). The editor is never
 * blocked: `show` draws the prompt and returns, the answer arrives later
 * through `answer(id, …)`. A question is withdrawn the moment its caller is
 * gone — its signal fires because the call was cancelled, its connection
 * closed or its session ended — so no prompt outlives its asker and no
 * answer runs anything for nobody.
 */
import { AbortError } from './errors.js';

export interface AskOptions {
  /** Draws the prompt; a rejection fails the question. */
  show(): Promise<unknown>;
  /** Takes the prompt down after the caller is gone (best effort). */
  withdraw(): Promise<unknown>;
  /** The error the question rejects with when its signal fires. */
  cancelled?: string;
}

export class PendingAnswers<A> {
  private readonly waiting = new Map<string, (answer: A) => void>();

  /** Shows a prompt and waits for its answer, or for `signal`. */
  ask(id: string, signal: AbortSignal, opts: AskOptions): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      const done = () => {
        this.waiting.delete(id);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        done();
        void opts.withdraw().catch(() => undefined);
        reject(
          new AbortError(opts.cancelled ?? 'The call was cancelled while waiting for an answer.'),
        );
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(id, (a) => {
        done();
        resolve(a);
      });
      opts.show().catch((err: unknown) => {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /** Delivers the user's answer; false when nobody waits for `id` (withdrawn or answered). */
  answer(id: string, value: A): boolean {
    const fn = this.waiting.get(id);
    if (!fn) return false;
    fn(value);
    return true;
  }

  /** The ids still waiting. */
  ids(): string[] {
    return [...this.waiting.keys()];
  }
}
